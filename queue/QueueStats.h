// Counters a queue reports about its files: how long its syncs took and what recovery skipped.
// Shared by the file queue and every backend built on it (queue/QueueBackend.h).
#pragma once

#include <array>
#include <cstdint>

namespace mega {

// How long the flusher's syncs took (one sample per flush: the fdatasyncs that acknowledgements
// under fsync = always wait on). Counts per bucket, not cumulative; the last is +Inf.
struct SyncTimes {
    static constexpr std::array<double, 11> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,   0.25,   0.5,   1};
    std::array<uint64_t, kBounds.size() + 1> counts{};
    double sum_seconds = 0;
    void Add(const SyncTimes& other);
};

// What recovery skipped (at Open and in the background scan so far).
struct RecoveryCounts {
    uint64_t corrupt_records = 0, damaged_segments = 0;
    void Add(const RecoveryCounts& o) {
        corrupt_records += o.corrupt_records;
        damaged_segments += o.damaged_segments;
    }
};

}  // namespace mega
