// Clock: the two clocks the server reads, in milliseconds. NowMs is the wall clock (since the
// Unix epoch: message times, ids, schedules); SteadyMs never jumps (intervals, backoffs).
// One definition for every module; policies that must be tested take a time argument.
#pragma once

#include <chrono>
#include <cstdint>

namespace mega {

inline int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline int64_t SteadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace mega
