// LatencyHistogram: the durations of the dispatcher's template/send calls, counted per bucket
// (not cumulative) with their sum. GET /metrics renders it as a Prometheus histogram
// (admin/Metrics.h, RenderHistogram). Loop thread only. In base/ because delivery/ fills it
// and admin/ reads it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace mega {

class LatencyHistogram {
  public:
    static constexpr std::array<double, 12> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                       0.5,   1,    2.5,   5,    10,  30};
    void Observe(double seconds) {
        size_t i = 0;
        while (i < kBounds.size() && seconds > kBounds[i]) i++;
        counts_[i]++;
        sum_ += seconds;
    }
    // One count per bucket of kBounds, then the +Inf bucket.
    const std::array<uint64_t, kBounds.size() + 1>& counts() const { return counts_; }
    double sum() const { return sum_; }

  private:
    std::array<uint64_t, kBounds.size() + 1> counts_{};
    double sum_ = 0;
};

}  // namespace mega
