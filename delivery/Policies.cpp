// The dispatcher's policies (see Policies.h): pure arithmetic on the given time.
#include "delivery/Policies.h"

#include <algorithm>

namespace mega {

int PriorityPicker::Pick(const std::array<bool, 3>& ready) {
    turn_ = (turn_ + 1) % 20;
    const int first = turn_ == 9 ? 1 : turn_ == 19 ? 2 : 0;
    if (ready[size_t(first)]) return first;
    for (int l = 0; l < 3; l++)
        if (ready[size_t(l)]) return l;
    return -1;
}

RateBucket::RateBucket(double rate_per_second, int burst, int64_t now_ms)
    : rate_(rate_per_second),
      cap_(burst > 0 ? burst : std::max(1.0, rate_per_second / 10)),
      at_ms_(now_ms) {}

bool RateBucket::Take(int64_t now_ms) {
    if (rate_ <= 0) return true;
    if (now_ms > at_ms_) {
        tokens_ = std::min(cap_, tokens_ + double(now_ms - at_ms_) * Rate(now_ms) / 1000.0);
        at_ms_ = now_ms;
    }
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
}

bool WindowLimit::Ready(int64_t now_ms) {
    if (max_ == 0) return true;
    while (!starts_.empty() && starts_.front() <= now_ms - window_ms_) starts_.pop_front();
    return starts_.size() < max_;
}

void WindowLimit::Record(int64_t now_ms) {
    if (max_ > 0) starts_.push_back(now_ms);
}

int64_t WindowLimit::WaitMs(int64_t now_ms) const {
    if (max_ == 0 || starts_.size() < max_) return 0;
    return std::max<int64_t>(1, starts_.front() + window_ms_ - now_ms + 1);
}

bool RateBucket::Ready(int64_t now_ms) {
    if (rate_ <= 0) return true;
    if (now_ms > at_ms_) {
        tokens_ = std::min(cap_, tokens_ + double(now_ms - at_ms_) * Rate(now_ms) / 1000.0);
        at_ms_ = now_ms;
    }
    return tokens_ >= 1.0;
}

int64_t RateBucket::WaitMs(int64_t now_ms) const {
    if (rate_ <= 0 || tokens_ >= 1.0) return 0;
    return std::max<int64_t>(1, int64_t((1.0 - tokens_) * 1000.0 / Rate(now_ms)));
}

RetrySchedule::RetrySchedule(std::vector<int> backoff_s, uint64_t seed)
    : backoff_s_(std::move(backoff_s)), rng_(seed ? seed : 1) {
    if (backoff_s_.empty()) backoff_s_.push_back(10);
}

int64_t RetrySchedule::DueMs(uint16_t attempts, int min_delay_s, int64_t now_ms) {
    const size_t step = std::min<size_t>(attempts > 0 ? attempts - 1 : 0, backoff_s_.size() - 1);
    const int delay = std::max(backoff_s_[step], min_delay_s);
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const int64_t due =
        now_ms + int64_t(delay) * 1000 + int64_t(rng_ % (uint64_t(delay) * 200 + 1));
    return (due + 999) / 1000 * 1000;
}

int64_t NextQuotaResetMs(int64_t now_ms) {
    constexpr int64_t kDay = 86400000, kOffset = 8 * 3600000;
    return ((now_ms + kOffset) / kDay + 1) * kDay - kOffset;
}

}  // namespace mega
