// Unit tests for the dashboard's history and timeline code of the message log: which event
// counts in which 5-minute bucket (wait, latency), the writer's upsert, the bound on buckets,
// the windows of a read and their gap filling (store/MessageHistory.h); the attempt-log
// entries and the timeline built from them and the row (store/MessageTimeline.h).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/MessageHistory.h"
#include "store/MessageTimeline.h"

using namespace mega;

namespace {

constexpr int64_t kT0 = 1700000100000;  // a bucket start (a multiple of 5 minutes)

LogEvent Event(LogStatus status, int64_t at_ms, int64_t created_ms = 0, uint32_t latency_us = 0,
               uint16_t attempts = 0, int errcode = 0, std::string errmsg = "") {
    LogEvent e;
    e.id = 1;
    e.status = status;
    e.at_ms = at_ms;
    e.created_ms = created_ms;
    e.latency_us = latency_us;
    e.attempts = attempts;
    e.errcode = errcode;
    e.errmsg = std::move(errmsg);
    return e;
}

}  // namespace

TEST_CASE("history: events count in the 5-minute bucket of their time") {
    REQUIRE(kT0 % kHistoryBucketMs == 0);
    HistoryBuckets b;
    b.Add(Event(LogStatus::kQueued, kT0));
    b.Add(Event(LogStatus::kSending, kT0 + 1));  // not an outcome: nothing
    b.Add(Event(LogStatus::kRetrying, kT0 + 2, kT0, 4000, 1, -1));
    b.Add(Event(LogStatus::kSent, kT0 + kHistoryBucketMs - 1, kT0 - 1000, 2000, 2));
    b.Add(Event(LogStatus::kSent, kT0 + kHistoryBucketMs, kT0, 1000, 1));  // the next bucket
    b.Add(Event(LogStatus::kFailed, kT0 + 5, kT0, 0, 3, -1, "expired"));   // no WeChat call
    b.Add(Event(LogStatus::kCancelled, kT0 + 6, kT0));
    REQUIRE(b.size() == 2);
    const HistoryPoint& p = b.buckets().at(kT0);
    CHECK(p.t_ms == kT0);
    CHECK(p.queued == 1);
    CHECK(p.retried == 1);
    CHECK(p.sent == 1);
    CHECK(p.failed == 1);
    CHECK(p.cancelled == 1);
    CHECK(p.wait_count == 1);  // only sent messages have a wait
    CHECK(p.wait_sum_ms == uint64_t(kHistoryBucketMs - 1 + 1000));
    CHECK(p.wait_max_ms == p.wait_sum_ms);
    CHECK(p.latency_count == 2);  // the retry and the send; the failure made no call
    CHECK(p.latency_sum_us == 6000);
    CHECK(p.latency_max_us == 4000);
    const HistoryPoint& next = b.buckets().at(kT0 + kHistoryBucketMs);
    CHECK(next.sent == 1);
    CHECK(next.wait_sum_ms == uint64_t(kHistoryBucketMs));
}

TEST_CASE("history: a clock set back gives a wait of 0, and a message without a time none") {
    HistoryBuckets b;
    b.Add(Event(LogStatus::kSent, kT0, kT0 + 5000, 10));
    b.Add(Event(LogStatus::kSent, kT0, 0, 10));
    const HistoryPoint& p = b.buckets().at(kT0);
    CHECK(p.sent == 2);
    CHECK(p.wait_count == 1);
    CHECK(p.wait_sum_ms == 0);
    CHECK(p.wait_max_ms == 0);
}

TEST_CASE("history: the upsert adds every bucket, and the maximum stays the larger") {
    HistoryBuckets b;
    b.Add(Event(LogStatus::kSent, kT0, kT0 - 7, 5));
    b.Add(Event(LogStatus::kQueued, kT0 + kHistoryBucketMs));
    const std::string sql = b.UpsertSql("`mega_message_stats`");
    CHECK(sql.find("INSERT INTO `mega_message_stats` (bucket_ms,queued,sent,") == 0);
    CHECK(sql.find("(" + std::to_string(kT0) + ",0,1,0,0,0,7,1,7,5,1,5)") != std::string::npos);
    CHECK(sql.find("(" + std::to_string(kT0 + kHistoryBucketMs) + ",1,0,0,0,0,0,0,0,0,0,0)") !=
          std::string::npos);
    CHECK(sql.find("sent=sent+VALUES(sent)") != std::string::npos);
    CHECK(sql.find("wait_max_ms=GREATEST(wait_max_ms,VALUES(wait_max_ms))") != std::string::npos);
    CHECK(sql.find("latency_max_us=GREATEST(latency_max_us,VALUES(latency_max_us))") !=
          std::string::npos);
    b.Clear();
    CHECK(b.empty());
}

TEST_CASE("history: beyond its bound the oldest buckets go") {
    HistoryBuckets b(3);
    for (int i = 0; i < 5; i++) b.Add(Event(LogStatus::kQueued, kT0 + i * kHistoryBucketMs));
    CHECK(b.size() == 3);
    CHECK(b.dropped() == 2);
    CHECK(b.buckets().begin()->first == kT0 + 2 * kHistoryBucketMs);
}

TEST_CASE("history: the windows of 24 h and 7 d end with the step that holds now") {
    const int64_t now = kT0 + 123456;
    HistoryWindow w;
    REQUIRE(HistoryWindowOf("24h", now, &w));
    CHECK(w.step_ms == kHistoryBucketMs);
    CHECK(w.count == 288);
    CHECK(w.to_ms() - w.from_ms == 24 * 3600 * 1000);
    CHECK(w.from_ms % w.step_ms == 0);
    CHECK(now >= w.to_ms() - w.step_ms);
    CHECK(now < w.to_ms());
    REQUIRE(HistoryWindowOf("7d", now, &w));
    CHECK(w.step_ms == 3600 * 1000);
    CHECK(w.count == 168);
    CHECK(w.from_ms % w.step_ms == 0);
    CHECK(now >= w.to_ms() - w.step_ms);
    CHECK(now < w.to_ms());
    CHECK_FALSE(HistoryWindowOf("1h", now, &w));
    CHECK_FALSE(HistoryWindowOf("", now, &w));
    CHECK_FALSE(HistoryWindowOf("7d ", now, &w));
}

TEST_CASE("history: a read has one point per step, rows added into theirs, gaps zero") {
    HistoryWindow w;
    REQUIRE(HistoryWindowOf("7d", kT0, &w));
    HistoryPoint a, b, outside;
    a.t_ms = w.from_ms + 5 * kHistoryBucketMs;  // two buckets of the first hour
    a.sent = 2;
    a.wait_max_ms = 10;
    b.t_ms = w.from_ms + 7 * kHistoryBucketMs;
    b.sent = 3;
    b.wait_max_ms = 4;
    outside.t_ms = w.to_ms();
    outside.sent = 100;
    const std::vector<HistoryPoint> points = FillHistory(w, {b, outside, a});
    REQUIRE(points.size() == 168);
    CHECK(points[0].t_ms == w.from_ms);
    CHECK(points[0].sent == 5);
    CHECK(points[0].wait_max_ms == 10);
    for (size_t i = 1; i < points.size(); i++) {
        CHECK(points[i].t_ms == w.from_ms + int64_t(i) * w.step_ms);
        CHECK(points[i].sent == 0);
    }
}

TEST_CASE("timeline: attempt-log entries round-trip, a queued event adds none") {
    std::string log;
    CHECK_FALSE(AppendAttemptEntry(Event(LogStatus::kQueued, kT0), &log));
    CHECK(log.empty());
    CHECK(AppendAttemptEntry(
        Event(LogStatus::kRetrying, kT0 + 10, kT0, 812, 1, -1, "{\"errcode\":-1,\"x\":\"\xff\"}"),
        &log));
    CHECK(AppendAttemptEntry(Event(LogStatus::kSent, kT0 + 2000, kT0, 900, 2), &log));
    std::vector<AttemptEntry> entries;
    REQUIRE(ParseAttemptLog(log, &entries));
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].status == LogStatus::kRetrying);
    CHECK(entries[0].at_ms == kT0 + 10);
    CHECK(entries[0].attempt == 1);
    CHECK(entries[0].errcode == -1);
    CHECK(entries[0].latency_us == 812);
    CHECK(entries[0].errmsg == "{\"errcode\":-1,\"x\":\"\xEF\xBF\xBD\"}");  // made UTF-8
    CHECK(entries[1].status == LogStatus::kSent);
    CHECK(entries[1].attempt == 2);
    CHECK(entries[1].errmsg.empty());
    std::vector<AttemptEntry> none;
    CHECK(ParseAttemptLog("", &none));
    CHECK(none.empty());
    CHECK_FALSE(ParseAttemptLog("{\"at\":1,", &none));
}

TEST_CASE("timeline: the log stops taking entries at its size limit, whole entries only") {
    std::string log;
    const std::string errmsg(500, 'e');  // cut to 200 characters in the entry
    while (AppendAttemptEntry(Event(LogStatus::kRetrying, kT0, kT0, 1, 1, -1, errmsg), &log)) {
    }
    CHECK(log.size() <= kAttemptLogChars);
    CHECK(log.size() > kAttemptLogChars - 300);
    std::vector<AttemptEntry> entries;
    REQUIRE(ParseAttemptLog(log, &entries));
    CHECK(entries.back().errmsg.size() == 200);
}

TEST_CASE("timeline: a message retried once and sent, step by step") {
    MessageRow row;
    row.status = "sent";
    row.created_ms = kT0;
    row.updated_ms = row.sent_ms = kT0 + 2000;
    row.attempts = 2;
    row.has_attempt_log = true;
    AppendAttemptEntry(Event(LogStatus::kRetrying, kT0 + 10, kT0, 812, 1, -1, "busy"),
                       &row.attempt_log);
    AppendAttemptEntry(Event(LogStatus::kSent, kT0 + 2000, kT0, 900, 2), &row.attempt_log);
    const Timeline t = BuildTimeline(row);
    REQUIRE(t.steps.size() == 3);
    CHECK(t.itemized);
    CHECK(t.steps[0].event == "queued");
    CHECK(t.steps[0].at_ms == kT0);
    CHECK(t.steps[0].latency_us == -1);
    CHECK(t.steps[1].event == "retry");
    CHECK(t.steps[1].attempt == 1);
    CHECK(t.steps[1].errcode == -1);
    CHECK(t.steps[1].errmsg == "busy");
    CHECK(t.steps[1].latency_us == 812);
    CHECK(t.steps[2].event == "sent");
    CHECK(t.steps[2].attempt == 2);
    CHECK(t.steps[2].at_ms == kT0 + 2000);
    CHECK_FALSE(t.steps[2].from_row);
}

TEST_CASE("timeline: a failure without a WeChat call has no latency") {
    MessageRow row;
    row.status = "failed";
    row.created_ms = kT0;
    row.attempts = 1;
    row.has_attempt_log = true;
    AppendAttemptEntry(Event(LogStatus::kRetrying, kT0 + 10, kT0, 812, 1, 45047), &row.attempt_log);
    AppendAttemptEntry(Event(LogStatus::kFailed, kT0 + 50, kT0, 0, 1, -1, "expired"),
                       &row.attempt_log);
    const Timeline t = BuildTimeline(row);
    REQUIRE(t.steps.size() == 3);
    CHECK(t.itemized);
    CHECK(t.steps[2].event == "failed");
    CHECK(t.steps[2].errmsg == "expired");
    CHECK(t.steps[2].latency_us == -1);
}

TEST_CASE("timeline: a row from before schema 006 gets its final step from its columns") {
    MessageRow row;
    row.status = "failed";
    row.created_ms = kT0;
    row.updated_ms = kT0 + 9000;
    row.attempts = 3;
    row.errcode = 43004;
    row.errmsg = "require subscribe";
    row.has_attempt_log = false;
    const Timeline t = BuildTimeline(row);
    REQUIRE(t.steps.size() == 2);
    CHECK_FALSE(t.itemized);
    CHECK(t.steps[1].event == "failed");
    CHECK(t.steps[1].from_row);
    CHECK(t.steps[1].at_ms == kT0 + 9000);
    CHECK(t.steps[1].attempt == 3);
    CHECK(t.steps[1].errcode == 43004);
}

TEST_CASE("timeline: a message queued before the upgrade has only its later attempts") {
    MessageRow row;
    row.status = "sent";
    row.created_ms = kT0;
    row.sent_ms = row.updated_ms = kT0 + 5000;
    row.attempts = 2;
    row.has_attempt_log = true;  // the sent entry came after the upgrade
    AppendAttemptEntry(Event(LogStatus::kSent, kT0 + 5000, kT0, 700, 2), &row.attempt_log);
    const Timeline t = BuildTimeline(row);
    REQUIRE(t.steps.size() == 2);
    CHECK_FALSE(t.itemized);  // attempt 1 is not known
    CHECK(t.steps[1].event == "sent");
    CHECK_FALSE(t.steps[1].from_row);
}

TEST_CASE("timeline: a message still waiting has only its queued step") {
    MessageRow row;
    row.status = "queued";
    row.created_ms = kT0;
    row.has_attempt_log = true;
    const Timeline t = BuildTimeline(row);
    REQUIRE(t.steps.size() == 1);
    CHECK(t.itemized);
}
