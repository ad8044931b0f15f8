// TokenLease: this node's share of an account's rate bucket kept by a backend for every node
// together (Redis: queue/REDIS.md "Rate buckets"). Tokens are leased in small batches ahead
// of need, so that spending one never waits on the network; the backend asks for more when
// the lease runs low and hands the grants in. Plain arithmetic on the given time, loop
// thread only; the backend owns it.
#pragma once

#include <cstdint>
#include <functional>

namespace mega {

class TokenLease {
  public:
    // `ask` is called when the lease wants more tokens now (Take found it low); the backend
    // then sends an ask if Want() says so.
    explicit TokenLease(std::function<void()> ask = {}) : ask_(std::move(ask)) {}

    // --- The dispatcher's side.
    // The account's rate now (half while slowed after 45011) and its burst (the shared
    // bucket's capacity); sent with each ask.
    void SetRate(double rate_per_second, double burst);
    // Spends one granted token; false when none is left (more are asked for).
    bool Take();
    // A granted token is there (takes none); if not, more are wanted.
    bool Ready();

    // --- The backend's side.
    // How many tokens to ask for now; 0: no ask (one is on its way, enough are held, nothing
    // was wanted since the last ask, or a short grant said to wait until `next_ask_ms`).
    int Want(int64_t now_ms) const;
    void Asked(int64_t now_ms);  // an ask for Want() tokens went out
    // Its answer: `got` of `asked` tokens. Fewer than asked: the bucket is empty, so the next
    // ask waits until about the missing ones have accrued (5 to 100 ms).
    void Granted(int asked, int got, int64_t now_ms);
    // The shared bucket cannot be reached: the held tokens are dropped (a node sends nothing
    // it has no fresh token for) and the ask on its way is forgotten.
    void Lost();

    // Tokens asked at once: a tenth of a second's worth of the account's rate, at least 1.
    int batch() const;
    double rate() const { return rate_; }
    double burst() const { return burst_; }
    int held() const { return held_; }
    int64_t next_ask_ms() const { return next_ask_ms_; }

  private:
    std::function<void()> ask_;
    double rate_ = 0, burst_ = 1;
    int held_ = 0;
    bool asking_ = false, wanted_ = false;
    int64_t next_ask_ms_ = 0;
};

}  // namespace mega
