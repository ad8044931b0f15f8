// The dispatcher's policies as plain classes: each decides from its inputs and the time it
// is given (never the clock itself), so each is unit-tested in microseconds with no loop,
// queue or process. The Dispatcher owns one of each and calls them on the loop thread.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace mega {

// Which priority level goes next: strictly high > normal > low, except that in every cycle
// of 20 picks the 10th offers normal the first turn and the 20th offers low the first turn.
// Under sustained high load normal and low so still get at least 5% of the picks each.
class PriorityPicker {
  public:
    // `ready[l]`: level l has a record to send. Returns the level, or -1 if none is ready.
    int Pick(const std::array<bool, 3>& ready);

  private:
    unsigned turn_ = 0;
};

// Token bucket of [wechat] rate_limit_per_second and rate_burst: refills at the rate (half
// of it while slowed after 45011) and holds at most the burst (default: a tenth of a
// second's worth, at least 1). It starts empty: no burst on top of the first second.
class RateBucket {
  public:
    RateBucket(double rate_per_second, int burst, int64_t now_ms);
    bool Take(int64_t now_ms);             // true, and one token fewer, if one is there
    int64_t WaitMs(int64_t now_ms) const;  // until the next token, after a failed Take
    bool Ready(int64_t now_ms);            // a token is there (refills; takes none)
    void SlowUntil(int64_t until_ms) { slow_until_ms_ = until_ms; }
    bool limited() const { return rate_ > 0; }
    double rate_at(int64_t now_ms) const { return Rate(now_ms); }
    double cap() const { return cap_; }

  private:
    double Rate(int64_t now_ms) const { return now_ms < slow_until_ms_ ? rate_ / 2 : rate_; }

    double rate_, cap_, tokens_ = 0;
    int64_t at_ms_, slow_until_ms_ = 0;
};

// At most `max` sends in any window of `window_ms` (a WeCom group robot: 20 a minute). It
// remembers the start of each send of the last window; `max` 0 means no limit.
class WindowLimit {
  public:
    WindowLimit(int max = 0, int64_t window_ms = 60000)
        : max_(size_t(max)), window_ms_(window_ms) {}
    bool Ready(int64_t now_ms);            // one more send now stays inside the limit
    void Record(int64_t now_ms);           // a send starts now
    int64_t WaitMs(int64_t now_ms) const;  // until Ready, after it was false
    bool limited() const { return max_ > 0; }

  private:
    size_t max_;
    int64_t window_ms_;
    std::deque<int64_t> starts_;
};

// When a failed attempt is tried again: [retry] backoff in seconds by attempt (the last
// step repeats), at least the errcode's minimum, plus up to 20% jitter so that a burst of
// failures does not come back as a burst. Due times are whole seconds (the record keeps
// its retry time in seconds).
class RetrySchedule {
  public:
    RetrySchedule(std::vector<int> backoff_s, uint64_t seed = 0x9E3779B97F4A7C15ull);
    // The due time in ms (a multiple of 1000) of attempt `attempts` + 1, after `attempts`
    // attempts failed; `min_delay_s` is the errcode's own floor.
    int64_t DueMs(uint16_t attempts, int min_delay_s, int64_t now_ms);

  private:
    std::vector<int> backoff_s_;
    uint64_t rng_;  // xorshift
};

// The quota day: WeChat resets the daily quota (45009) at midnight Beijing time (UTC+8).
int64_t NextQuotaResetMs(int64_t now_ms);

}  // namespace mega
