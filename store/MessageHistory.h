// The dashboard's history of the message log: counts and times per 5-minute bucket in
// `{prefix}mega_message_stats` (schema 006). The log writer adds up each batch of events
// (HistoryBuckets) and adds them to the table with one upsert, so that a read of 24 h or 7 d
// is a few hundred rows, never a scan of the log. HistoryWindowOf and FillHistory shape what a
// read returns. Pure code: the SQL is run by the writer (MessageLog.cpp) and ReadHistory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/MessageLog.h"

namespace mega {

constexpr int64_t kHistoryBucketMs = 5 * 60 * 1000;
// Buckets older than this are deleted by the writer (7 d shown, a day to spare).
constexpr int64_t kHistoryKeepMs = 8LL * 24 * 3600 * 1000;

// One bucket (or one step of a read: the buckets it spans added up). Wait: from the message's
// acceptance to its "sent" (delays and retries included); latency: one WeChat call.
struct HistoryPoint {
    int64_t t_ms = 0;  // start of the bucket or step, ms since the epoch
    uint64_t queued = 0, sent = 0, failed = 0, retried = 0, cancelled = 0;
    uint64_t wait_sum_ms = 0, wait_count = 0, wait_max_ms = 0;
    uint64_t latency_sum_us = 0, latency_count = 0, latency_max_us = 0;

    void Add(const HistoryPoint& other);  // sums, and the larger maximum
};

// The events of the writer's batches added up per bucket, until they are written. Bounded:
// beyond `max_buckets` (a long MySQL outage) the oldest bucket's counts are dropped.
class HistoryBuckets {
  public:
    static constexpr size_t kDefaultMaxBuckets = 4096;  // 14 days of buckets
    explicit HistoryBuckets(size_t max_buckets = kDefaultMaxBuckets) : max_(max_buckets) {}

    void Add(const LogEvent& e);
    bool empty() const { return buckets_.empty(); }
    size_t size() const { return buckets_.size(); }
    uint64_t dropped() const { return dropped_; }  // buckets dropped by the bound
    const std::map<int64_t, HistoryPoint>& buckets() const { return buckets_; }
    // One INSERT … ON DUPLICATE KEY UPDATE that adds every bucket to `table` (quoted name).
    std::string UpsertSql(const std::string& table) const;
    void Clear() { buckets_.clear(); }

  private:
    HistoryPoint& BucketOf(int64_t at_ms);

    std::map<int64_t, HistoryPoint> buckets_;  // by start: the oldest goes first
    size_t max_;
    uint64_t dropped_ = 0;
};

// What a read of the history covers: `count` steps of `step_ms` from `from_ms`, the last one
// holding `now_ms`.
struct HistoryWindow {
    int64_t from_ms = 0, step_ms = 0;
    int count = 0;
    int64_t to_ms() const { return from_ms + step_ms * count; }
};

// "24h": 288 steps of 5 minutes; "7d": 168 steps of an hour. False for any other name.
bool HistoryWindowOf(std::string_view range, int64_t now_ms, HistoryWindow* window);

// One point per step of the window, in order: the rows (buckets or steps, in any order) added
// into the step that holds them, steps without rows zero, rows outside the window ignored.
std::vector<HistoryPoint> FillHistory(const HistoryWindow& window,
                                      const std::vector<HistoryPoint>& rows);

}  // namespace mega
