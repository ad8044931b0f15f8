// The history buckets: which event counts where, the writer's upsert, and the shape of a read.
#include "store/MessageHistory.h"

#include <algorithm>

namespace mega {
namespace {

int64_t FloorTo(int64_t t, int64_t step) {
    const int64_t q = t / step;
    return (t % step < 0 ? q - 1 : q) * step;
}

void AppendPoint(const HistoryPoint& p, std::string* out) {
    *out += '(' + std::to_string(p.t_ms);
    for (uint64_t v :
         {p.queued, p.sent, p.failed, p.retried, p.cancelled, p.wait_sum_ms, p.wait_count,
          p.wait_max_ms, p.latency_sum_us, p.latency_count, p.latency_max_us})
        *out += ',' + std::to_string(v);
    *out += ')';
}

}  // namespace

void HistoryPoint::Add(const HistoryPoint& o) {
    queued += o.queued;
    sent += o.sent;
    failed += o.failed;
    retried += o.retried;
    cancelled += o.cancelled;
    wait_sum_ms += o.wait_sum_ms;
    wait_count += o.wait_count;
    wait_max_ms = std::max(wait_max_ms, o.wait_max_ms);
    latency_sum_us += o.latency_sum_us;
    latency_count += o.latency_count;
    latency_max_us = std::max(latency_max_us, o.latency_max_us);
}

HistoryPoint& HistoryBuckets::BucketOf(int64_t at_ms) {
    const int64_t start = FloorTo(at_ms, kHistoryBucketMs);
    auto [it, fresh] = buckets_.try_emplace(start);
    if (fresh) it->second.t_ms = start;
    while (buckets_.size() > max_ && buckets_.begin() != it) {
        buckets_.erase(buckets_.begin());
        dropped_++;
    }
    return it->second;
}

void HistoryBuckets::Add(const LogEvent& e) {
    if (e.status == LogStatus::kSending) return;  // not an outcome
    HistoryPoint& p = BucketOf(e.at_ms);
    switch (e.status) {
        case LogStatus::kQueued:
            p.queued++;
            return;
        case LogStatus::kCancelled:
            p.cancelled++;
            return;
        case LogStatus::kRetrying:
            p.retried++;
            break;
        case LogStatus::kFailed:
            p.failed++;
            break;
        case LogStatus::kSent:
            p.sent++;
            if (e.created_ms > 0) {  // a clock set back gives no negative wait
                const uint64_t wait = uint64_t(std::max<int64_t>(0, e.at_ms - e.created_ms));
                p.wait_sum_ms += wait;
                p.wait_count++;
                p.wait_max_ms = std::max(p.wait_max_ms, wait);
            }
            break;
        case LogStatus::kSending:
            return;
    }
    if (e.latency_us > 0) {  // a WeChat call was made
        p.latency_sum_us += e.latency_us;
        p.latency_count++;
        p.latency_max_us = std::max<uint64_t>(p.latency_max_us, e.latency_us);
    }
}

std::string HistoryBuckets::UpsertSql(const std::string& table) const {
    std::string sql = "INSERT INTO " + table +
                      " (bucket_ms,queued,sent,failed,retried,cancelled,wait_sum_ms,wait_count,"
                      "wait_max_ms,latency_sum_us,latency_count,latency_max_us) VALUES ";
    bool first = true;
    for (const auto& [start, p] : buckets_) {
        if (!first) sql += ',';
        first = false;
        AppendPoint(p, &sql);
    }
    sql +=
        " ON DUPLICATE KEY UPDATE queued=queued+VALUES(queued),sent=sent+VALUES(sent),"
        "failed=failed+VALUES(failed),retried=retried+VALUES(retried),"
        "cancelled=cancelled+VALUES(cancelled),wait_sum_ms=wait_sum_ms+VALUES(wait_sum_ms),"
        "wait_count=wait_count+VALUES(wait_count),"
        "wait_max_ms=GREATEST(wait_max_ms,VALUES(wait_max_ms)),"
        "latency_sum_us=latency_sum_us+VALUES(latency_sum_us),"
        "latency_count=latency_count+VALUES(latency_count),"
        "latency_max_us=GREATEST(latency_max_us,VALUES(latency_max_us))";
    return sql;
}

bool HistoryWindowOf(std::string_view range, int64_t now_ms, HistoryWindow* w) {
    if (range == "24h") {
        w->step_ms = kHistoryBucketMs;
        w->count = 288;
    } else if (range == "7d") {
        w->step_ms = 3600 * 1000;
        w->count = 168;
    } else {
        return false;
    }
    w->from_ms = FloorTo(now_ms, w->step_ms) + w->step_ms - w->step_ms * w->count;
    return true;
}

std::vector<HistoryPoint> FillHistory(const HistoryWindow& w,
                                      const std::vector<HistoryPoint>& rows) {
    std::vector<HistoryPoint> out(size_t(std::max(w.count, 0)));
    for (size_t i = 0; i < out.size(); i++) out[i].t_ms = w.from_ms + int64_t(i) * w.step_ms;
    for (const HistoryPoint& r : rows) {
        if (r.t_ms < w.from_ms || r.t_ms >= w.to_ms()) continue;
        HistoryPoint& p = out[size_t((r.t_ms - w.from_ms) / w.step_ms)];
        const int64_t t = p.t_ms;
        p.Add(r);
        p.t_ms = t;
    }
    return out;
}

}  // namespace mega
