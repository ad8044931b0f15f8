// Moves messages from the priority queues to the sender threads and settles each outcome.
// Runs on the loop thread, so none of its state is locked. Pump() fills the senders up to
// their capacity, taking records by a weighted rule across priorities (PriorityPicker) and
// through a token bucket ([wechat] rate_limit_per_second, RateBucket); a record
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

#include "base/Clock.h"
#include "base/LatencyHistogram.h"
#include "config/Config.h"
#include "delivery/MessageOptions.h"
#include "delivery/Policies.h"
#include "delivery/SenderPool.h"
#include "queue/QueueBackend.h"
#include "store/MessageLog.h"
#include "templates/TemplateCache.h"

namespace mega {

// How a message's delivery ended, for whoever waits on it (a `send` client).
struct FinalOutcome {
    uint64_t id = 0;
    bool sent = false;
    bool cancelled = false;  // by an operator: neither sent nor failed
    std::string_view openid, key;
    int64_t created_ms = 0;
    const MessageOptions* options = nullptr;  // decoded once, when it was handed out
    const DeliveryResult* result = nullptr;   // null when it failed before any HTTP call
    std::string_view local_error;             // set when result is null
};

struct DispatchCounters {
    uint64_t sent = 0, failed = 0, retried = 0, attempts = 0, quota_hits = 0, cancelled = 0;
    uint64_t by_outcome[5] = {};  // attempts by Outcome (sent, transient, token, quota, permanent)
    LatencyHistogram latency;     // of each template/send call
};

class Dispatcher {
  public:
    using FinalCallback = std::function<void(const FinalOutcome&)>;

    // `backend` holds the records, their dead letters and the pause (queue/QueueBackend.h).
    Dispatcher(uv_loop_t* loop, const Config& config, QueueBackend* backend,
               TemplateCache* templates, SenderPool* senders, MessageLog* log,
               FinalCallback on_final);
    ~Dispatcher();
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    void Pump();  // hand due records to the senders, up to their capacity
    void OnResults(std::vector<DeliveryResult>& results);
    // Stops handing out records (shutdown); results are still settled.
    void Stop();
    void CloseHandles();

    // A new [wechat] rate_limit_per_second and rate_burst (SIGHUP); the bucket starts empty.
    void SetRate(double rate_per_second, int burst) {
        bucket_ = RateBucket(rate_per_second, burst, NowMs());
    }
    void Pause(const std::string& reason, bool by_operator, int64_t until_ms);
    void Resume(const std::string& why);
    // Every pause and resume is saved in the backend, to be kept across restarts. Restores
    // the pause saved before a restart: an operator's always, the quota's if not over.
    void RestorePause();
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
        RecordTag tag;
        bool operator>(const Due& o) const { return at_ms > o.at_ms; }
    };

    // One message between the queue and its end: its record decoded once, read by the
    // result, the dead letter, the log and the task count. Views point into the queue's
    // record, valid until it is done. Kept in a slab (flight_) reused without allocation.
    struct Decoded {
        RecordTag tag = 0;
        Message message;
        MessageOptions options;
    };
    bool Decode(uint64_t tag, Decoded* out) const;
    uint32_t TakeFlightSlot();
    void FreeFlightSlot(uint32_t slot) { free_flight_.push_back(slot); }

    int PickLevel();
    bool Prepare(uint64_t tag, int64_t now_ms, std::vector<DeliveryJob>* jobs);
    // How a message ends: sent, failed (kept as a dead letter) or cancelled by an operator.
    enum class Ending { kSent, kFailed, kCancelled };
    void Settle(const Decoded& d, Ending ending, const DeliveryResult* r,
                std::string_view local_error);
    void PushDue(int64_t at_ms, uint64_t tag);
    uint64_t PopDue();
    void ArmTimer();
    void LogStatusChange(const Decoded& d, LogStatus status, uint16_t attempts,
                         const DeliveryResult* r, std::string_view error, int64_t now_ms);
    void SavePause();  // in the backend; a failure is logged
    static void OnTimer(uv_timer_t* t);
    static void OnPauseTimer(uv_timer_t* t);

    const Config& config_;
    QueueBackend* backend_;
    TemplateCache* templates_;
    SenderPool* senders_;
    MessageLog* log_;
    FinalCallback on_final_;
    uv_timer_t timer_, pause_timer_;
    PauseState pause_;
    bool probe_allowed_ = false, probe_inflight_ = false;
    PriorityPicker picker_;
    RateBucket bucket_;
    RetrySchedule retries_;
    int64_t timer_at_ms_ = 0;
    std::vector<Due> heap_;  // a min-heap (std::push_heap with greater), iterable for listing
    std::vector<DeliveryJob> batch_;     // reused
    std::vector<Decoded> flight_;        // in flight, by DeliveryJob::flight
    std::vector<uint32_t> free_flight_;  // free slots of flight_
    size_t inflight_ = 0;
    bool stopped_ = false;
    DispatchCounters counters_;
};

}  // namespace mega
