// Sent and failed counts per second for the last hour, in a ring of 3600 slots: the source
// of the throughput figures (1, 5, 60 minutes) and the dashboard's chart. Loop thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mega {

class Throughput {
  public:
    struct Point {
        int64_t t;  // unix seconds (start of the slot)
        uint64_t sent, failed;
    };

    void Record(int64_t now_s, bool sent);
    // Messages finished (sent) per second over the last `seconds`.
    double SentRate(int64_t now_s, int seconds) const;
    // The last `count` slots of `width` seconds each, oldest first.
    std::vector<Point> Series(int64_t now_s, int width, int count) const;

  private:
    static constexpr int kSlots = 3600;
    struct Slot {
        int64_t t = -1;
        uint64_t sent = 0, failed = 0;
    };
    std::array<Slot, kSlots> slots_{};
};

}  // namespace mega
