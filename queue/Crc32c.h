// CRC-32C (Castagnoli), the checksum of queue records. Uses the SSE4.2 crc32 instruction
// when the CPU has it (checked once), else a table-driven software loop.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mega {

uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

}  // namespace mega
