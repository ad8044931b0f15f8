// The log writer. Events of one message that arrive together are merged into one row
// (its latest state), so at full speed a message costs about one row write, not three.
// Rows go out as INSERT … ON DUPLICATE KEY UPDATE of up to 500 rows, values escaped by the
// connection. A failed write keeps the rows and reconnects after a second.
#include "server/MessageLog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "server/MysqlSession.h"

namespace mega {
namespace {

constexpr size_t kRowsPerStatement = 500;
// Status events arrive at delivery rate, and each one finishes a row: they are dropped only
// beyond twice the backlog and never below this many waiting (memory: ~0.5 KiB each).
constexpr size_t kMinHeld = 100000;

struct Row {
    LogEvent latest;
    std::string body;  // rendered, when a queued event was seen
    bool has_body = false;
};

}  // namespace

const char* LogStatusName(LogStatus s) {
    switch (s) {
        case LogStatus::kQueued:
            return "queued";
        case LogStatus::kSending:
            return "sending";
        case LogStatus::kRetrying:
            return "retrying";
        case LogStatus::kSent:
            return "sent";
        case LogStatus::kFailed:
            return "failed";
        case LogStatus::kCancelled:
            return "cancelled";
    }
    return "queued";
}

MessageLog::MessageLog(const Config& config)
    : config_(config),
      max_pending_(size_t(config.message_log_backlog)),
      max_held_(std::max(2 * max_pending_, kMinHeld)) {
    writer_ = std::thread([this] { WriterMain(); });
}

MessageLog::~MessageLog() {
    Flush();
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        cv_.notify_one();
    }
    writer_.join();
}

void MessageLog::Flush() {
    if (batch_.empty() && dropped_here_ == 0 && !behind_) return;
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t dropped = dropped_here_;
    dropped_here_ = 0;
    // "queued" events fit while fewer than max_pending_ wait; status events up to max_held_.
    for (auto& e : batch_) {
        const bool queued = e.status == LogStatus::kQueued;
        if (handed_.size() < (queued ? max_pending_ : max_held_)) {
            if (queued) missed_.Skip();
            handed_.push_back(std::move(e));
        } else {
            dropped++;
            if (queued) missed_.Mark(e.id);
        }
    }
    batch_.clear();
    behind_ = handed_.size() >= max_pending_;
    if (dropped > 0) {
        const uint64_t total = dropped_.fetch_add(dropped, std::memory_order_relaxed) + dropped;
        // One line per 10 s at most: a writer that stays behind must not flood the log.
        const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count();
        if (warned_at_ms_ == 0 || now - warned_at_ms_ >= 10000) {
            spdlog::warn("message log: writer behind by {} events, {} events dropped{}",
                         handed_.size(), total - dropped_warned_,
                         warned_at_ms_ == 0 ? "" : " in the last 10 s");
            warned_at_ms_ = now;
            dropped_warned_ = total;
        }
    }
    pending_count_.store(handed_.size(), std::memory_order_relaxed);
    cv_.notify_one();
}

void MessageLog::WriterMain() {
    MysqlSession db;
    std::vector<LogEvent> events;
    std::unordered_map<uint64_t, Row> rows;
    std::vector<uint64_t> order;
    std::string sql, body;
    Template::Scratch render_scratch;
    int64_t retry_at = 0;
    const std::string table = "`" + config_.table_prefix + "mega_message_log`";
    auto now_ms = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    while (true) {
        bool stopping;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(200),
                         [&] { return stop_ || !handed_.empty(); });
            stopping = stop_;
            for (auto& e : handed_) events.push_back(std::move(e));
            handed_.clear();
        }
        // Merge into the pending rows (rows survive a failed write).
        for (auto& e : events) {
            auto [it, fresh] = rows.try_emplace(e.id);
            Row& r = it->second;
            if (fresh) order.push_back(e.id);
            if (e.tmpl) {
                body.clear();
                if (e.tmpl->Render(e.openid, e.data, e.msgkey, &body, &render_scratch).ok()) {
                    r.body = body;
                    r.has_body = true;
                }
                e.tmpl.reset();
                e.data.clear();
            }
            if (fresh || e.at_ms >= r.latest.at_ms) {
                if (!fresh && e.openid.empty()) {  // status-only events keep the row's fields
                    e.openid = std::move(r.latest.openid);
                    e.key = std::move(r.latest.key);
                    e.source = std::move(r.latest.source);
                    e.created_ms = r.latest.created_ms;
                    e.priority = r.latest.priority;
                }
                r.latest = std::move(e);
            }
        }
        events.clear();
        pending_count_.store(rows.size(), std::memory_order_relaxed);
        if (rows.empty()) {
            if (stopping) break;
            continue;
        }
        if (!db.connected()) {
            if (now_ms() < retry_at && !stopping) continue;
            Status s = db.Connect(config_);
            if (!s.ok()) {
                if (healthy_.exchange(false)) spdlog::error("message log: {}", s.message());
                retry_at = now_ms() + 1000;
                if (stopping) break;
                continue;
            }
        }
        // Write in chunks; on failure keep the rest for the next round.
        size_t done = 0;
        bool failed = false;
        while (done < order.size()) {
            const size_t end = std::min(order.size(), done + kRowsPerStatement);
            sql = "INSERT INTO " + table +
                  " (id,openid,tmpl_key,source,priority,status,attempts,msgid,errcode,errmsg,body,"
                  "created_at,updated_at,sent_at) VALUES ";
            for (size_t i = done; i < end; i++) {
                const Row& r = rows[order[i]];
                const LogEvent& e = r.latest;
                if (i > done) sql += ',';
                sql += '(' + std::to_string(e.id) + ",'" + db.Escape(e.openid) + "','" +
                       db.Escape(e.key) + "','" + db.Escape(e.source) + "'," +
                       std::to_string(e.priority) + ",'" + LogStatusName(e.status) + "'," +
                       std::to_string(e.attempts) + ',' + std::to_string(e.msgid) + ',' +
                       std::to_string(e.errcode) + ",'" + db.Escape(e.errmsg.substr(0, 500)) +
                       "'," + (r.has_body ? "'" + db.Escape(r.body) + "'" : "NULL") + ',' +
                       std::to_string(e.created_ms) + ',' + std::to_string(e.at_ms) + ',' +
                       (e.status == LogStatus::kSent ? std::to_string(e.at_ms) : "0") + ')';
            }
            sql +=
                " ON DUPLICATE KEY UPDATE status=VALUES(status),attempts=VALUES(attempts),"
                "msgid=IF(VALUES(msgid)=0,msgid,VALUES(msgid)),errcode=VALUES(errcode),"
                "errmsg=VALUES(errmsg),body=IFNULL(VALUES(body),body),"
                "updated_at=VALUES(updated_at),sent_at=IF(VALUES(sent_at)=0,sent_at,"
                "VALUES(sent_at))";
            Status s = db.Execute(sql);
            if (!s.ok()) {
                if (healthy_.exchange(false)) spdlog::error("message log: {}", s.message());
                db.Reset();
                retry_at = now_ms() + 1000;
                failed = true;
                break;
            }
            for (size_t i = done; i < end; i++) rows.erase(order[i]);
            written_.fetch_add(end - done, std::memory_order_relaxed);
            done = end;
        }
        order.erase(order.begin(), order.begin() + long(done));
        if (!failed && !healthy_.exchange(true)) spdlog::info("message log: writing again");
        pending_count_.store(rows.size(), std::memory_order_relaxed);
        if (stopping && (rows.empty() || failed)) {
            if (!rows.empty())
                spdlog::warn("message log: {} rows not written at stop", rows.size());
            break;
        }
        // Bound what a long outage can hold: beyond max_held_ rows, the oldest go.
        while (rows.size() > max_held_) {
            rows.erase(order.front());
            order.erase(order.begin());
            dropped_.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

}  // namespace mega
