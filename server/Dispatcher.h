// Moves messages from the priority queues to the sender threads and settles each outcome.
// Runs on the loop thread, so none of its state is locked. Pump() fills the senders up to
// their capacity, taking records by a weighted rule across priorities (PickLevel in
// Dispatcher.cpp) and through a token bucket ([wechat] rate_limit_per_second); a record
// that is not due yet (delay, retry backoff) waits in a min-heap behind one uv timer,
// costing no CPU. Results: sent → record done; transient → attempts+1 and a backoff in the
// record's own mutable words (so it survives a restart); quota (45009) → the account is
// paused and the message waits; final failure → dead letter + done.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "config/Config.h"
#include "queue/FileQueue.h"
#include "server/DeadLetters.h"
#include "server/LatencyHistogram.h"
#include "server/Message.h"
#include "server/MessageLog.h"
#include "server/SenderPool.h"
#include "server/TemplateCache.h"

namespace mega {

// How a message's delivery ended, for whoever waits on it (a `send` client).
struct FinalOutcome {
    uint64_t id = 0;
    bool sent = false;
    bool cancelled = false;  // by an operator: neither sent nor failed
    std::string_view openid;
    std::string_view options;                 // the message's extension words
    const DeliveryResult* result = nullptr;  // null when it failed before any HTTP call
    std::string_view local_error;           // set when result is null
};

struct DispatchCounters {
    uint64_t sent = 0, failed = 0, retried = 0, attempts = 0, quota_hits = 0, cancelled = 0;
    uint64_t by_outcome[5] = {};  // attempts by Outcome (sent, transient, token, quota, permanent)
    LatencyHistogram latency;     // of each template/send call
};

// Whether the account is paused (45009 daily quota, or an operator), and why.
struct PauseState {
    bool paused = false;
    bool by_operator = false;
    std::string reason;
    int64_t since_ms = 0;
    int64_t until_ms = 0;  // 0 = until resumed
};

class Dispatcher {
public:
    using FinalCallback = std::function<void(const FinalOutcome&)>;

    Dispatcher(uv_loop_t* loop, const Config& config,
               std::array<FileQueue*, kPriorityLevels> queues, TemplateCache* templates,
               SenderPool* senders, DeadLetters* dead_letters, MessageLog* log,
               FinalCallback on_final);
    ~Dispatcher();
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    void Pump();  // hand due records to the senders, up to their capacity
    void OnResults(std::vector<DeliveryResult>& results);
    // Stops handing out records (shutdown); results are still settled.
    void Stop();
    void CloseHandles();

    void Pause(const std::string& reason, bool by_operator, int64_t until_ms);
    void Resume(const std::string& why);
    const PauseState& pause_state() const { return pause_; }

    size_t inflight() const { return inflight_; }
    size_t waiting() const { return heap_.size(); }  // delayed or retrying

    // Delayed and retrying messages, soonest first, at most `limit`.
    struct WaitingMessage {
        uint64_t id;
        std::string openid, key;
        uint16_t attempts;
        int64_t due_ms;
    };
    std::vector<WaitingMessage> Waiting(size_t limit) const;
    // Drops a waiting message (done, logged as failed "cancelled"); false if not waiting.
    bool Cancel(uint64_t id);
    const DispatchCounters& counters() const { return counters_; }

private:
    struct Due {
        int64_t at_ms;
        uint64_t tag;
        bool operator>(const Due& o) const { return at_ms > o.at_ms; }
    };

    int PickLevel();
    bool TakeRateToken(int64_t now_ms);
    bool Prepare(uint64_t tag, int64_t now_ms, std::vector<DeliveryJob>* jobs);
    // How a message ends: sent, failed (kept as a dead letter) or cancelled by an operator.
    enum class Ending { kSent, kFailed, kCancelled };
    void Settle(uint64_t tag, Ending ending, const DeliveryResult* r, std::string_view local_error);
    void PushDue(int64_t at_ms, uint64_t tag);
    uint64_t PopDue();
    void ArmTimer();
    void LogStatusChange(const Message& m, LogStatus status, uint16_t attempts,
                         const DeliveryResult* r, std::string_view error, int64_t now_ms);
    static void OnTimer(uv_timer_t* t);
    static void OnPauseTimer(uv_timer_t* t);

    const Config& config_;
    std::array<FileQueue*, kPriorityLevels> queues_;
    TemplateCache* templates_;
    SenderPool* senders_;
    DeadLetters* dead_letters_;
    MessageLog* log_;
    FinalCallback on_final_;
    uv_timer_t timer_, pause_timer_;
    PauseState pause_;
    bool probe_allowed_ = false, probe_inflight_ = false;
    double bucket_tokens_ = 0;
    int64_t bucket_at_ms_ = 0;
    int64_t slow_until_ms_ = 0;  // after 45011 the bucket runs at half rate until then
    int64_t timer_at_ms_ = 0;
    std::vector<Due> heap_;  // a min-heap (std::push_heap with greater), iterable for listing
    std::vector<DeliveryJob> batch_;  // reused
    size_t inflight_ = 0;
    unsigned turn_ = 0;  // for the weighted pick
    bool stopped_ = false;
    uint64_t rng_ = 0x9E3779B97F4A7C15ull;  // xorshift state for retry jitter
    DispatchCounters counters_;
};

}  // namespace mega
