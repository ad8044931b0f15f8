// The log writer. Events of one message that arrive together are merged into one row
// (its latest state), so at full speed a message costs about one row write, not three.
// Values are made to fit their columns (well-formed UTF-8, cut between characters) and
// escaped by the connection; rows go out as INSERT … ON DUPLICATE KEY UPDATE of up to 500
// rows, each statement below MySQL's max_allowed_packet. A statement that fails because
// MySQL cannot be reached keeps its rows and reconnects after a second; one whose data
// MySQL refuses is written again row by row, and a refused row is tried once more without
// its body, then dropped: the other rows never wait for it.
// Each status event also appends an entry to its row's attempt_log (MessageTimeline.h), and
// every event is counted into the history buckets (MessageHistory.h), written with one upsert
// after the rows; buckets older than kHistoryKeepMs are deleted once an hour.
#include "store/MessageLog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "base/Clock.h"
#include "base/Utf8.h"
#include "protocol/JsonCheck.h"
#include "store/MessageHistory.h"
#include "store/MessageTimeline.h"
#include "store/MysqlSession.h"
#include "templates/ClientMsgId.h"

namespace mega {
namespace {

constexpr size_t kRowsPerStatement = 500;
// Fewer events than this wait up to kLinger for more before the writer writes them.
constexpr size_t kLingerEvents = 256;
constexpr auto kLinger = std::chrono::milliseconds(20);
// Status events arrive at delivery rate, and each one finishes a row: they are dropped only
// beyond twice the backlog and never below this many waiting (memory: ~0.5 KiB each).
constexpr size_t kMinHeld = 100000;
// The columns of {prefix}mega_message_log (config/schema 002 and 005), in characters.
constexpr size_t kOpenidChars = 128, kKeyChars = 64, kSourceChars = 64, kErrmsgChars = 512;
constexpr size_t kMsgkeyChars = 128;      // config/schema 007
constexpr size_t kBodyBytes = 16777215;   // MEDIUMTEXT
constexpr size_t kStatementSlack = 4096;  // a statement's head and tail, besides its rows
constexpr size_t kRefusedKept = 4096;     // dropped rows whose later events are skipped
constexpr int64_t kPurgeEveryMs = 3600 * 1000;

constexpr const char* kInsertHead =
    " (id,openid,tmpl_key,source,priority,status,attempts,msgid,errcode,errmsg,body,"
    "created_at,updated_at,sent_at,attempt_log,msgkey,callback,account,kind,remote_msgid) VALUES ";
constexpr const char* kInsertTail =
    " ON DUPLICATE KEY UPDATE status=VALUES(status),attempts=VALUES(attempts),"
    "msgid=IF(VALUES(msgid)=0,msgid,VALUES(msgid)),errcode=VALUES(errcode),"
    "errmsg=VALUES(errmsg),body=IFNULL(VALUES(body),body),"
    "updated_at=VALUES(updated_at),sent_at=IF(VALUES(sent_at)=0,sent_at,"
    "VALUES(sent_at)),msgkey=IF(VALUES(msgkey)='',msgkey,VALUES(msgkey)),"
    "callback=IF(VALUES(callback)='',callback,VALUES(callback)),"
    "remote_msgid=IF(VALUES(remote_msgid)='',remote_msgid,VALUES(remote_msgid)),"
    // entries are appended whole while the log stays below kAttemptLogChars (MessageTimeline.h)
    "attempt_log=IF(VALUES(attempt_log)='' OR "
    "LENGTH(IFNULL(attempt_log,''))+1+LENGTH(VALUES(attempt_log))>8000,attempt_log,"
    "IF(IFNULL(attempt_log,'')='',VALUES(attempt_log),"
    "CONCAT(attempt_log,',',VALUES(attempt_log))))";
static_assert(kAttemptLogChars == 8000, "the limit in kInsertTail");

struct Row {
    LogEvent latest;
    std::string body;  // rendered, when a queued event was seen
    bool has_body = false;
    std::string attempts;  // attempt_log entries of the events merged here
};

}  // namespace

void FitUtf8Column(std::string* text, size_t max_chars) {
    if (text->size() <= max_chars && protocol::IsValidUtf8(*text)) return;
    const auto* p = reinterpret_cast<const unsigned char*>(text->data());
    const size_t n = text->size();
    std::string out;
    size_t chars = 0;
    for (size_t i = 0; i < n && chars < max_chars; chars++) {
        const size_t len = Utf8SequenceLength(p, i, n);
        if (len == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD for the byte that starts no character
            i++;
        } else {
            out.append(text->data() + i, len);
            i += len;
        }
    }
    *text = std::move(out);
}

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
    if (!lingering_ || handed_.size() >= kLingerEvents) cv_.notify_one();
}

// The writer thread's state: the rows waiting to be written, by message id, in the order
// their first event came, and the connection.
class MessageLog::Writer {
  public:
    explicit Writer(MessageLog& log)
        : log_(log),
          table_("`" + log.config_.table_prefix + "mega_message_log`"),
          stats_table_("`" + log.config_.table_prefix + "mega_message_stats`") {}

    // Counts events into the history buckets, then merges them into the waiting rows (rows
    // and buckets survive a failed write).
    void Merge(std::vector<LogEvent>& events);
    size_t size() const { return rows_.size(); }
    bool idle() const { return rows_.empty() && history_.empty(); }
    // Connects if not connected (at most once a second unless stopping); false if MySQL
    // cannot be reached.
    bool Connect(bool stopping);
    // Writes every waiting row it can. False if MySQL could not be reached: the rows not
    // written wait for the next round.
    bool WriteAll();
    // Adds the history buckets to the table, and deletes old buckets once an hour. False if
    // MySQL could not be reached: the buckets wait for the next round.
    bool WriteHistory();
    // Bounds what a long outage can hold: beyond max_held_ rows, the oldest go.
    void Bound();

  private:
    void MergeOne(LogEvent& e);
    void RenderBody(LogEvent& e, Row& r);
    void AppendValues(const Row& r, bool with_body, std::string* out) const;
    size_t BuildStatement(size_t begin);  // sql_ = rows [begin, returned end)
    Status WriteOneByOne(size_t begin, size_t end);
    Status WriteRow(const Row& r, bool with_body);
    void Reject(uint64_t id, const std::string& key, const std::string& why, const char* outcome);
    void Unreachable(const Status& s);
    Status PurgeHistory();

    MessageLog& log_;
    const std::string table_, stats_table_;
    HistoryBuckets history_;
    int64_t purge_at_ms_ = 0;
    MysqlSession db_;
    std::unordered_map<uint64_t, Row> rows_;
    std::vector<uint64_t> order_;
    std::string sql_, values_, body_;
    Template::Scratch render_scratch_;
    int64_t retry_at_ = 0;
    size_t packet_budget_ = 0;              // bytes a statement may have (max_allowed_packet)
    std::unordered_set<uint64_t> refused_;  // dropped rows: their later events are skipped
    std::deque<uint64_t> refused_order_;
};

void MessageLog::Writer::Merge(std::vector<LogEvent>& events) {
    for (auto& e : events) {
        history_.Add(e);
        if (!refused_.count(e.id)) MergeOne(e);
    }
}

void MessageLog::Writer::MergeOne(LogEvent& e) {
    auto [it, fresh] = rows_.try_emplace(e.id);
    Row& r = it->second;
    if (fresh) order_.push_back(e.id);
    if (e.tmpl) {
        e.account = e.tmpl->account();
        e.kind = e.tmpl->kind();
        RenderBody(e, r);
    }
    AppendAttemptEntry(e, &r.attempts);
    if (!fresh && e.at_ms < r.latest.at_ms) return;
    if (!fresh && e.callback.empty()) e.callback = std::move(r.latest.callback);  // queued's
    if (!fresh && e.openid.empty()) {  // status-only events keep the row's fields
        e.openid = std::move(r.latest.openid);
        e.key = std::move(r.latest.key);
        e.source = std::move(r.latest.source);
        e.created_ms = r.latest.created_ms;
        e.priority = r.latest.priority;
    } else {  // rows may come from old queues, tasks and dead letters: any bytes at all
        FitUtf8Column(&e.openid, kOpenidChars);
        FitUtf8Column(&e.key, kKeyChars);
        FitUtf8Column(&e.source, kSourceChars);
        FitUtf8Column(&e.msgkey, kMsgkeyChars);
        FitUtf8Column(&e.callback, kSourceChars);
    }
    // Only the queued event (or the first one logged) carries the msgkey: later ones keep it.
    if (!fresh && e.msgkey.empty()) e.msgkey = std::move(r.latest.msgkey);
    if (!fresh && e.account.empty()) e.account = std::move(r.latest.account);
    if (!fresh && e.kind.empty()) e.kind = std::move(r.latest.kind);
    FitUtf8Column(&e.errmsg, kErrmsgChars);
    r.latest = std::move(e);
}

void MessageLog::Writer::RenderBody(LogEvent& e, Row& r) {
    body_.clear();
    const ClientMsgId client_msg_id(e.msgkey, e.id);  // as the channel sends it
    if (e.tmpl->Render(e.openid, e.data, client_msg_id.view(), &body_, &render_scratch_).ok()) {
        FitUtf8Column(&body_, std::numeric_limits<size_t>::max());  // the openid may not be
        r.has_body = body_.size() <= kBodyBytes;
        if (r.has_body) {
            r.body = body_;
        } else {
            r.body.clear();
            Reject(e.id, e.key, "a body of " + std::to_string(body_.size()) + " bytes",
                   "written without its body");
        }
    }
    e.tmpl.reset();
    e.data.clear();
}

bool MessageLog::Writer::Connect(bool stopping) {
    if (db_.connected()) return true;
    if (NowMs() < retry_at_ && !stopping) return false;
    Status s = db_.Connect(log_.config_);
    long long packet = 0;
    if (s.ok()) s = db_.QueryInt("SELECT @@max_allowed_packet", 1 << 24, &packet);
    if (!s.ok()) {
        Unreachable(s);
        return false;
    }
    packet_budget_ = size_t(std::max<long long>(packet, 2 * kStatementSlack)) - kStatementSlack;
    return true;
}

void MessageLog::Writer::AppendValues(const Row& r, bool with_body, std::string* out) const {
    const LogEvent& e = r.latest;
    *out += '(' + std::to_string(e.id) + ",'" + db_.Escape(e.openid) + "','" + db_.Escape(e.key) +
            "','" + db_.Escape(e.source) + "'," + std::to_string(e.priority) + ",'" +
            LogStatusName(e.status) + "'," + std::to_string(e.attempts) + ',' +
            std::to_string(e.msgid) + ',' + std::to_string(e.errcode) + ",'" +
            db_.Escape(e.errmsg) + "',";
    *out += with_body ? "'" + db_.Escape(r.body) + "'" : std::string("NULL");
    *out += ',' + std::to_string(e.created_ms) + ',' + std::to_string(e.at_ms) + ',' +
            (e.status == LogStatus::kSent ? std::to_string(e.at_ms) : "0") + ",'" +
            db_.Escape(r.attempts) + "','" + db_.Escape(e.msgkey) + "','" + db_.Escape(e.callback) +
            "','" + db_.Escape(e.account.empty() ? "default" : e.account) + "','" +
            db_.Escape(e.kind.empty() ? "template" : e.kind) + "','" +
            db_.Escape(e.remote_msgid.substr(0, kRemoteMsgidChars)) + "')";
}

size_t MessageLog::Writer::BuildStatement(size_t begin) {
    sql_ = "INSERT INTO " + table_ + kInsertHead;
    size_t i = begin;
    for (; i < order_.size() && i - begin < kRowsPerStatement; i++) {
        Row& r = rows_.at(order_[i]);
        values_.clear();
        AppendValues(r, r.has_body, &values_);
        if (values_.size() > packet_budget_) {  // MySQL would close the connection on it
            Reject(order_[i], r.latest.key,
                   "a row of " + std::to_string(values_.size()) +
                       " bytes (max_allowed_packet is smaller)",
                   "written without its body");
            r.has_body = false;
            r.body.clear();
            values_.clear();
            AppendValues(r, false, &values_);
        }
        if (i > begin && sql_.size() + values_.size() + 1 > packet_budget_) break;
        if (i > begin) sql_ += ',';
        sql_ += values_;
    }
    sql_ += kInsertTail;
    return i;
}

bool MessageLog::Writer::WriteAll() {
    bool reached = true;
    for (size_t done = 0; done < order_.size();) {
        const size_t end = BuildStatement(done);
        Status s = db_.Execute(sql_);
        if (s.ok()) {
            for (size_t i = done; i < end; i++) rows_.erase(order_[i]);
            log_.written_.fetch_add(end - done, std::memory_order_relaxed);
        } else if (s.code() == Status::Code::kInvalid) {  // a row MySQL refuses: find it
            s = WriteOneByOne(done, end);
        }
        if (!s.ok()) {
            Unreachable(s);
            reached = false;
            break;
        }
        done = end;
    }
    order_.erase(std::remove_if(order_.begin(), order_.end(),
                                [this](uint64_t id) { return !rows_.count(id); }),
                 order_.end());
    return reached;
}

Status MessageLog::Writer::WriteOneByOne(size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) {
        const uint64_t id = order_[i];
        const Row& r = rows_.at(id);
        Status s = WriteRow(r, r.has_body);
        if (s.code() == Status::Code::kInvalid && r.has_body) {
            const std::string why = s.message();
            s = WriteRow(r, false);
            if (s.ok()) Reject(id, r.latest.key, why, "written without its body");
        }
        if (s.code() == Status::Code::kInvalid) {
            Reject(id, r.latest.key, s.message(), "dropped");
            refused_.insert(id);
            refused_order_.push_back(id);
            if (refused_order_.size() > kRefusedKept) {
                refused_.erase(refused_order_.front());
                refused_order_.pop_front();
            }
        } else if (!s.ok()) {
            return s;  // unreachable: this row and the rest wait
        } else {
            log_.written_.fetch_add(1, std::memory_order_relaxed);
        }
        rows_.erase(id);
    }
    return Status::Ok();
}

Status MessageLog::Writer::WriteRow(const Row& r, bool with_body) {
    sql_ = "INSERT INTO " + table_ + kInsertHead;
    AppendValues(r, with_body, &sql_);
    sql_ += kInsertTail;
    return db_.Execute(sql_);
}

void MessageLog::Writer::Reject(uint64_t id, const std::string& key, const std::string& why,
                                const char* outcome) {
    log_.rejected_.fetch_add(1, std::memory_order_relaxed);
    // The message's id and template only: the row's values stay out of the log.
    spdlog::warn("message log: the row of message {} (template {}) {}: {}", id, key, outcome, why);
}

bool MessageLog::Writer::WriteHistory() {
    Status s = Status::Ok();
    if (!history_.empty()) s = db_.Execute(history_.UpsertSql(stats_table_));
    if (s.code() == Status::Code::kInvalid) {  // not expected: numbers only
        spdlog::warn("message log: history of {} buckets dropped: {}", history_.size(),
                     s.message());
        s = Status::Ok();
    }
    if (s.ok()) history_.Clear();
    if (s.ok() && NowMs() >= purge_at_ms_) s = PurgeHistory();
    if (!s.ok()) Unreachable(s);
    return s.ok();
}

Status MessageLog::Writer::PurgeHistory() {
    const int64_t now = NowMs();
    Status s = db_.Execute("DELETE FROM " + stats_table_ + " WHERE bucket_ms < " +
                           std::to_string(now - kHistoryKeepMs));
    if (s.code() == Status::Code::kUnavailable) return s;  // tried again next round
    purge_at_ms_ = now + kPurgeEveryMs;
    return Status::Ok();
}

void MessageLog::Writer::Unreachable(const Status& s) {
    if (log_.healthy_.exchange(false)) spdlog::error("message log: {}", s.message());
    db_.Reset();
    retry_at_ = NowMs() + 1000;
}

void MessageLog::Writer::Bound() {
    if (rows_.size() <= log_.max_held_) return;
    const size_t excess = rows_.size() - log_.max_held_;
    for (size_t i = 0; i < excess; i++) rows_.erase(order_[i]);
    order_.erase(order_.begin(), order_.begin() + long(excess));
    log_.dropped_.fetch_add(excess, std::memory_order_relaxed);
}

void MessageLog::WriterMain() {
    Writer writer(*this);
    std::vector<LogEvent> events;
    while (true) {
        bool stopping;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(200),
                         [&] { return stop_ || !handed_.empty(); });
            // A few events: gather for a moment, so that a trickle of pushes costs one
            // statement per linger, not one per push.
            if (!stop_ && !handed_.empty() && handed_.size() < kLingerEvents) {
                lingering_ = true;
                cv_.wait_for(lock, kLinger,
                             [&] { return stop_ || handed_.size() >= kLingerEvents; });
                lingering_ = false;
            }
            stopping = stop_;
            for (auto& e : handed_) events.push_back(std::move(e));
            handed_.clear();
        }
        writer.Merge(events);
        events.clear();
        pending_count_.store(writer.size(), std::memory_order_relaxed);
        if (writer.idle()) {
            if (stopping) break;
            continue;
        }
        const bool reached = writer.Connect(stopping) && writer.WriteAll() && writer.WriteHistory();
        if (reached && !healthy_.exchange(true)) spdlog::info("message log: writing again");
        pending_count_.store(writer.size(), std::memory_order_relaxed);
        if (stopping && (writer.idle() || !reached)) {
            if (writer.size() > 0)
                spdlog::warn("message log: {} rows not written at stop", writer.size());
            break;
        }
        writer.Bound();
    }
}

}  // namespace mega
