// Moves messages from the priority queues to the sender threads and settles each outcome.
// Runs on the loop thread. Pump() fills the senders up to their capacity, taking records
// by a weighted rule across priorities (see PickLevel in Dispatcher.cpp); a record that is
// not due yet (delay, retry backoff) waits in a min-heap behind one uv timer, costing no
// CPU. Results: sent → record done; transient → attempts+1 and a backoff in the record's
// own mutable words (so it survives a restart); final failure → dead letter + done.
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
#include "server/Message.h"
#include "server/SenderPool.h"
#include "server/TemplateCache.h"

namespace mega {

// How a message's delivery ended, for whoever waits on it (a `send` client).
struct FinalOutcome {
    uint64_t id = 0;
    bool sent = false;
    std::string_view openid;
    const DeliveryResult* result = nullptr;  // null when it failed before any HTTP call
    std::string_view local_error;           // set when result is null
};

struct DispatchCounters {
    uint64_t sent = 0, failed = 0, retried = 0, attempts = 0;
};

class Dispatcher {
public:
    using FinalCallback = std::function<void(const FinalOutcome&)>;

    Dispatcher(uv_loop_t* loop, const Config& config,
               std::array<FileQueue*, kPriorityLevels> queues, TemplateCache* templates,
               SenderPool* senders, FinalCallback on_final);
    ~Dispatcher();
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    void Pump();  // hand due records to the senders, up to their capacity
    void OnResults(std::vector<DeliveryResult>& results);
    // Stops handing out records (shutdown); results are still settled.
    void Stop();
    void CloseHandles();

    size_t inflight() const { return inflight_; }
    size_t waiting() const { return heap_.size(); }  // delayed or retrying
    const DispatchCounters& counters() const { return counters_; }

private:
    struct Due {
        int64_t at_ms;
        uint64_t tag;
        bool operator>(const Due& o) const { return at_ms > o.at_ms; }
    };

    int PickLevel();
    bool Prepare(uint64_t tag, int64_t now_ms, std::vector<DeliveryJob>* jobs);
    void Settle(uint64_t tag, bool sent, const DeliveryResult* r, std::string_view local_error);
    void ArmTimer();
    static void OnTimer(uv_timer_t* t);

    const Config& config_;
    std::array<FileQueue*, kPriorityLevels> queues_;
    TemplateCache* templates_;
    SenderPool* senders_;
    FinalCallback on_final_;
    uv_timer_t timer_;
    int64_t timer_at_ms_ = 0;
    std::priority_queue<Due, std::vector<Due>, std::greater<>> heap_;
    std::vector<DeliveryJob> batch_;  // reused
    size_t inflight_ = 0;
    unsigned turn_ = 0;  // for the weighted pick
    bool stopped_ = false;
    uint64_t rng_ = 0x9E3779B97F4A7C15ull;  // xorshift state for retry jitter
    DispatchCounters counters_;
};

}  // namespace mega
