// The dispatcher's policies (delivery/Policies.h) with the time given by the test: the
// priority pick and its starvation rule, the rate bucket's refill, burst and slow-down, the
// retry schedule's steps, floor and jitter bounds, and the quota day's turn at midnight UTC+8.
#include <doctest/doctest.h>

#include <array>

#include "delivery/Policies.h"

using mega::NextQuotaResetMs;
using mega::PriorityPicker;
using mega::RateBucket;
using mega::RetrySchedule;

TEST_CASE("PriorityPicker: high first, but normal and low each get every 20th turn") {
    PriorityPicker p;
    std::array<int, 3> picks{};
    for (int i = 0; i < 2000; i++) picks[size_t(p.Pick({true, true, true}))]++;
    CHECK(picks[0] == 1800);
    CHECK(picks[1] == 100);  // 5%
    CHECK(picks[2] == 100);  // 5%
}

TEST_CASE("PriorityPicker: the turn is offered, never forced; nothing ready is -1") {
    PriorityPicker p;
    for (int i = 0; i < 40; i++) CHECK(p.Pick({true, false, false}) == 0);
    for (int i = 0; i < 40; i++) CHECK(p.Pick({false, false, true}) == 2);
    std::array<int, 3> picks{};
    for (int i = 0; i < 20; i++) picks[size_t(p.Pick({false, true, true}))]++;
    CHECK(picks[1] == 19);
    CHECK(picks[2] == 1);
    CHECK(p.Pick({false, false, false}) == -1);
}

TEST_CASE("RateBucket: starts empty, refills at the rate, holds at most the burst") {
    RateBucket b(10, 0, 1000);  // 10/s, burst a tenth of a second's worth: 1
    CHECK_FALSE(b.Take(1000));
    CHECK(b.WaitMs(1000) == 100);
    CHECK_FALSE(b.Take(1099));
    CHECK(b.Take(1100));
    CHECK_FALSE(b.Take(1100));
    CHECK(b.Take(60'000));        // a long idle spell...
    CHECK_FALSE(b.Take(60'000));  // ...leaves only the burst
    RateBucket burst(100, 5, 0);
    int taken = 0;
    while (burst.Take(10'000)) taken++;
    CHECK(taken == 5);
}

TEST_CASE("RateBucket: half rate while slowed after 45011; no rate means no limit") {
    RateBucket b(10, 0, 0);
    b.SlowUntil(60'000);
    CHECK_FALSE(b.Take(100));
    CHECK(b.WaitMs(100) == 100);  // half of the 0.1 token that accrued is still missing
    CHECK(b.Take(200));
    CHECK(b.Take(60'100));  // full rate again after the minute
    RateBucket open(0, 0, 0);
    CHECK_FALSE(open.limited());
    for (int i = 0; i < 1000; i++) CHECK(open.Take(0));
}

TEST_CASE("RetrySchedule: steps by attempt, the last repeats, jitter within 20%") {
    RetrySchedule r({10, 30, 60}, 42);
    const int64_t now = 1'000'000'500;  // not on a second
    for (int i = 0; i < 1000; i++) {
        for (uint16_t attempts : {1, 2, 3, 7}) {
            const int step = attempts == 1 ? 10 : attempts == 2 ? 30 : 60;
            const int64_t due = r.DueMs(attempts, 0, now);
            CHECK(due % 1000 == 0);
            CHECK(due >= now + step * 1000);
            CHECK(due <= now + step * 1200 + 1000);
        }
    }
}

TEST_CASE("RetrySchedule: an errcode's floor wins over a shorter step") {
    RetrySchedule r({1}, 7);
    const int64_t due = r.DueMs(1, 60, 0);
    CHECK(due >= 60'000);
    CHECK(due <= 72'000 + 1000);
}

TEST_CASE("NextQuotaResetMs: midnight in UTC+8, the next one at the very instant") {
    constexpr int64_t kDec1At16Z = 1'796'140'800'000;  // 2026-12-01 16:00:00 UTC = 00:00 UTC+8
    CHECK(NextQuotaResetMs(kDec1At16Z - 1) == kDec1At16Z);
    CHECK(NextQuotaResetMs(kDec1At16Z) == kDec1At16Z + 86'400'000);
    CHECK(NextQuotaResetMs(kDec1At16Z - 8 * 3'600'000) == kDec1At16Z);  // 08:00 UTC
}

TEST_CASE("WindowLimit: at most max starts in any window; none when max is 0") {
    mega::WindowLimit w(3, 1000);
    for (int t : {0, 10, 20}) {
        REQUIRE(w.Ready(t));
        w.Record(t);
    }
    CHECK_FALSE(w.Ready(999));
    CHECK(w.WaitMs(999) == 2);  // the first start leaves the window at 1000
    CHECK(w.Ready(1000));
    w.Record(1000);
    CHECK_FALSE(w.Ready(1009));
    CHECK(w.Ready(1010));
    mega::WindowLimit none;
    for (int i = 0; i < 100; i++) none.Record(0);
    CHECK(none.Ready(0));
    CHECK_FALSE(none.limited());
}
