// ApiBases: the epoch is a counter; the current base is epoch % count, so moving on is a
// compare-and-swap from the failed epoch to the next one.
#include "delivery/ApiBases.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "base/Clock.h"

namespace mega {

ApiBases::ApiBases(std::vector<std::string> bases, int healthy_s)
    : bases_(std::move(bases)), healthy_ms_(int64_t(healthy_s) * 1000) {
    if (bases_.empty()) bases_.push_back("https://api.weixin.qq.com");
}

uint64_t ApiBases::epoch() {
    uint64_t e = epoch_.load(std::memory_order_acquire);
    if (e % bases_.size() != 0 &&
        SteadyMs() - switched_at_ms_.load(std::memory_order_relaxed) >= healthy_ms_) {
        // Healthy long enough on a fallback: go back to the first (preferred) base.
        const uint64_t back = (e / bases_.size() + 1) * bases_.size();
        const int64_t since = switched_at_ms_.load(std::memory_order_relaxed);
        if (epoch_.compare_exchange_strong(e, back)) {
            switched_at_ms_.store(SteadyMs(), std::memory_order_relaxed);
            switches_.fetch_add(1, std::memory_order_relaxed);
            spdlog::warn("api_base: back to {} after {} s on {}", bases_[0],
                         (SteadyMs() - since) / 1000, Url(e));
            return back;
        }
    }
    return e;
}

void ApiBases::ReportFailure(uint64_t epoch, const char* why) {
    if (bases_.size() < 2) return;
    uint64_t expected = epoch;
    if (epoch_.compare_exchange_strong(expected, epoch + 1)) {
        switched_at_ms_.store(SteadyMs(), std::memory_order_relaxed);
        switches_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("api_base: {} failed ({}), switching to {}", Url(epoch), why, Url(epoch + 1));
    }
}

}  // namespace mega
