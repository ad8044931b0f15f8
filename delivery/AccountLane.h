// One account's side of the dispatcher: its rate bucket, its pause (45009 or an operator)
// with the probe that may end it, its counters, and the records that wait for it (paused,
// or over its rate) in arrival order. The Dispatcher keeps one per account, `default` first,
// so that a pause or a slow rate on one account never holds back another.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "delivery/Policies.h"
#include "queue/QueueBackend.h"

namespace mega {

struct AccountCounters {
    uint64_t sent = 0, failed = 0, retried = 0, attempts = 0, quota_hits = 0;
};

struct AccountLane {
    AccountLane(std::string lane_name, double rate, int burst, int probe_s, int64_t now_ms)
        : name(std::move(lane_name)), bucket(rate, burst, now_ms), quota_probe_s(probe_s) {}

    std::string name;
    RateBucket bucket;
    // The lease on the account's bucket shared by every node (Redis), or null: then `bucket`
    // alone decides; else `bucket` only says the rate, and tokens come from the lease.
    TokenLease* lease = nullptr;
    WindowLimit window;  // wecom_robot: 20 in any window ([account.NAME] robot_window_s)
    int quota_probe_s;
    PauseState pause;
    bool probe_allowed = false, probe_inflight = false;
    std::deque<RecordTag> held;  // due, waiting for this account (pause or rate), oldest first
    AccountCounters counters;
    std::unique_ptr<uv_timer_t> pause_timer = std::make_unique<uv_timer_t>();
};

}  // namespace mega
