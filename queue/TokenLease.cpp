// TokenLease (see TokenLease.h): when to ask the shared bucket for tokens, and how many.
#include "queue/TokenLease.h"

#include <algorithm>
#include <cmath>

namespace mega {

void TokenLease::SetRate(double rate_per_second, double burst) {
    rate_ = rate_per_second;
    burst_ = std::max(1.0, burst);
}

int TokenLease::batch() const {
    return std::max(1, int(std::ceil(rate_ / 10)));
}

bool TokenLease::Take() {
    wanted_ = true;
    const bool took = held_ > 0;
    if (took) held_--;
    if (held_ <= batch() / 2 && !asking_ && ask_) ask_();
    return took;
}

bool TokenLease::Ready() {
    if (held_ > 0) return true;
    wanted_ = true;
    if (!asking_ && ask_) ask_();
    return false;
}

int TokenLease::Want(int64_t now_ms) const {
    if (!wanted_ || asking_ || rate_ <= 0 || now_ms < next_ask_ms_ || held_ > batch() / 2) return 0;
    return batch() - held_;
}

void TokenLease::Asked(int64_t now_ms) {
    (void)now_ms;
    asking_ = true;
    wanted_ = false;
}

void TokenLease::Granted(int asked, int got, int64_t now_ms) {
    asking_ = false;
    held_ += std::max(0, got);
    if (got >= asked || rate_ <= 0) {
        next_ask_ms_ = 0;
        return;
    }
    // Fewer than asked: what is missing accrues in about this long.
    const double missing_ms = double(asked - std::max(0, got)) * 1000.0 / rate_;
    next_ask_ms_ = now_ms + std::clamp<int64_t>(int64_t(missing_ms), 5, 100);
    wanted_ = true;  // the shortfall is still wanted
}

void TokenLease::Lost() {
    held_ = 0;
    asking_ = false;
    next_ask_ms_ = 0;
}

}  // namespace mega
