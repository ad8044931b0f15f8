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
#include "delivery/AccountLane.h"
#include "delivery/MessageOptions.h"
#include "delivery/Policies.h"
#include "delivery/SenderPool.h"
#include "delivery/SendingAccounts.h"
#include "delivery/SubscribeChoices.h"
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

    // The accounts: one lane each (bucket, pause, counters), a message's by its template's
    // account. Without it every message goes to the one account of [wechat]. Call once,
    // before the first Pump; `accounts` must outlive the dispatcher.
    void SetAccounts(SendingAccounts* accounts);

    void Pump();  // hand due records to the senders, up to their capacity
    void OnResults(std::vector<DeliveryResult>& results);
    // Stops handing out records (shutdown); results are still settled.
    void Stop();
    void CloseHandles();

    // A new [wechat] rate_limit_per_second and rate_burst (SIGHUP); the bucket starts empty.
    void SetRate(double rate_per_second, int burst) {
        lanes_[0]->bucket = RateBucket(rate_per_second, burst, NowMs());
    }
    // Of the account `default` (lane 0), or of lane `lane`.
    void Pause(const std::string& reason, bool by_operator, int64_t until_ms) {
        Pause(0, reason, by_operator, until_ms);
    }
    void Resume(const std::string& why) { Resume(0, why); }
    void Pause(size_t lane, const std::string& reason, bool by_operator, int64_t until_ms);
    void Resume(size_t lane, const std::string& why);
    // The lane of the account `name`, or -1.
    int FindLane(std::string_view name) const;
    size_t lane_count() const { return lanes_.size(); }
    const AccountLane& lane(size_t i) const { return *lanes_[i]; }
    // Every pause and resume is saved in the backend, to be kept across restarts. Restores
    // the pause saved before a restart: an operator's always, the quota's if not over.
    void RestorePause();
    // Who rejected which subscribe template: such a message fails without a call.
    void SetSubscribeChoices(const SubscribeChoices* choices) { choices_ = choices; }
    const PauseState& pause_state() const { return lanes_[0]->pause; }

    size_t inflight() const { return inflight_; }
    size_t waiting() const { return heap_.size() + held_; }  // delayed, retrying or held

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
        uint32_t lane = 0;   // its account's
        bool probe = false;  // sent while its account is paused, to see if the pause is over
    };
    bool Decode(uint64_t tag, Decoded* out) const;
    bool SubscribeRefused(const Template& tmpl, const Message& m, std::string* error) const;
    uint32_t TakeFlightSlot();
    void FreeFlightSlot(uint32_t slot) { free_flight_.push_back(slot); }

    int PickLevel();
    // A due record: handed out (true), or held by its account, delayed or settled (false).
    // `held`: it comes from its lane's held list, whose turn was already taken.
    bool Prepare(uint64_t tag, int64_t now_ms, std::vector<DeliveryJob>* jobs, bool held = false);
    // The lane of `tmpl`'s account and the job's route; false (and *error) if none.
    bool Route(const Template& tmpl, DeliveryJob* job, uint32_t* lane, std::string* error) const;
    // May `lane` send one message now? Takes a token from its bucket, or its probe turn.
    bool TakeTurn(AccountLane& lane, int64_t now_ms, bool* probe);
    // One token of the lane's rate: from its lease on the shared bucket, or its own bucket.
    bool TakeToken(AccountLane& lane, int64_t now_ms);
    bool TokenReady(AccountLane& lane, int64_t now_ms);
    // Another node paused or resumed the account (the backend polls it): applied here.
    void FollowSharedPause();  // every lane's, from the backend
    void FollowSharedPause(size_t lane);
    void RestorePause(size_t lane);
    bool AnyLaneOpen(int64_t now_ms);
    void DrainHeld(AccountLane& lane, int64_t now_ms, size_t* budget);
    int64_t RateWaitMs(int64_t now_ms);  // until a lane's next token, -1: none waits
    // How a message ends: sent, failed (kept as a dead letter) or cancelled by an operator.
    enum class Ending { kSent, kFailed, kCancelled };
    void Settle(const Decoded& d, Ending ending, const DeliveryResult* r,
                std::string_view local_error);
    void PushDue(int64_t at_ms, uint64_t tag);
    uint64_t PopDue();
    void ArmTimer(int64_t rate_wait_ms = -1);
    void LogStatusChange(const Decoded& d, LogStatus status, uint16_t attempts,
                         const DeliveryResult* r, std::string_view error, int64_t now_ms);
    void SavePause(size_t lane);  // in the backend; a failure is logged
    static void OnTimer(uv_timer_t* t);
    static void OnPauseTimer(uv_timer_t* t);

    const Config& config_;
    QueueBackend* backend_;
    TemplateCache* templates_;
    SenderPool* senders_;
    MessageLog* log_;
    const SubscribeChoices* choices_ = nullptr;
    FinalCallback on_final_;
    uv_loop_t* loop_;
    uv_timer_t timer_;
    std::vector<std::unique_ptr<AccountLane>> lanes_;  // `default` first
    SendingAccounts* accounts_ = nullptr;
    size_t held_ = 0;  // records in the lanes' held lists
    PriorityPicker picker_;
    RetrySchedule retries_;
    int64_t timer_at_ms_ = 0;
    std::vector<Due> heap_;  // a min-heap (std::push_heap with greater), iterable for listing
    std::vector<DeliveryJob> batch_;     // reused
    std::vector<Decoded> flight_;        // in flight, by DeliveryJob::flight
    std::vector<uint32_t> free_flight_;  // free slots of flight_
    size_t inflight_ = 0;
    bool stopped_ = false;
    DispatchCounters counters_;
    uint64_t seen_pause_changes_ = 0;  // the backend's pause_changes() applied
    bool following_ = false;           // applying another node's pause: not saved again
};

}  // namespace mega
