// GET /api/health (no token: 200, or 503 when messages cannot be taken or sent) and
// GET /api/stats: the server's counters, queue depths, throughput and its series, and a
// summary of the message log (MySQL, queried off the loop).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "admin/AdminRoutes.h"
#include "base/Clock.h"
#include "base/OffLoop.h"
#include "http/HttpReply.h"
#include "server/Server.h"
#include "store/MessageQueries.h"

namespace mega {
namespace {

// A minute with at least this many WeChat calls, half or more of them failed, is degraded.
constexpr uint64_t kHealthMinAttempts = 10;

// The health rules (README, "Health"): down (503) when messages cannot be taken or none can
// be sent; degraded (200) when sending is held back or failing, or the log is behind.
HttpResponse HealthReply(const Server::Snapshot& s) {
    std::vector<std::string> down, degraded;
    if (!s.listening) down.push_back("not listening: stopping");
    if (!s.queue_writable) down.push_back("queue not writable");
    if (!s.token_error.empty()) down.push_back("no access_token: " + s.token_error);
    if (s.pause.paused) degraded.push_back("account paused: " + s.pause.reason);
    if (s.attempts_1m >= kHealthMinAttempts && s.failed_attempts_1m * 2 >= s.attempts_1m)
        degraded.push_back(std::to_string(s.failed_attempts_1m) + " of " +
                           std::to_string(s.attempts_1m) +
                           " WeChat calls failed in the last minute");
    if (!s.log_healthy) degraded.push_back("message log cannot reach MySQL");
    if (s.log_healthy && s.log_pending > s.log_backlog_limit / 2)
        degraded.push_back("message log behind: " + std::to_string(s.log_pending) +
                           " events waiting");
    const char* state = !down.empty() ? "down" : !degraded.empty() ? "degraded" : "ok";
    std::vector<std::string> problems = down;
    problems.insert(problems.end(), degraded.begin(), degraded.end());
    const int status = down.empty() ? 200 : 503;
    return JsonReply(
        [&](JsonWriter& w) {
            w.StartObject();
            Field(w, "status", state);
            w.Key("problems");
            w.StartArray();
            for (const std::string& p : problems) WriteString(w, p);
            w.EndArray();
            w.EndObject();
        },
        status);
}

void WriteQueue(JsonWriter& w, const Server::Snapshot& s) {
    w.Key("queue");
    w.StartObject();
    uint64_t total = 0;
    for (int l = 0; l < kPriorityLevels; l++) {
        Field(w, PriorityName(l), s.depth[l]);
        total += s.depth[l];
    }
    Field(w, "total", total);
    Field(w, "disk_bytes", s.disk_bytes);
    // After a restart the older segments are checked in the background: until this is 0,
    // their messages are not counted above yet.
    Field(w, "scanning_segments", s.scanning_segments);
    // What recovery skipped since the start (every queue file: FORMAT.md, Recovery).
    Field(w, "corrupt_records", s.recovery.corrupt_records);
    Field(w, "damaged_segments", s.recovery.damaged_segments);
    w.EndObject();
}

void WriteCounters(JsonWriter& w, const Server::Snapshot& s) {
    Field(w, "inflight", s.inflight);
    Field(w, "waiting", s.waiting);
    Field(w, "sent", s.counters.sent);
    Field(w, "failed", s.counters.failed);
    Field(w, "retried", s.counters.retried);
    Field(w, "attempts", s.counters.attempts);
    Field(w, "quota_hits", s.counters.quota_hits);
    Field(w, "dead_letters", s.dead_letters);
    Field(w, "connections", s.connections);
    Field(w, "connections_refused", s.connections_refused);
    Field(w, "connections_timed_out", s.connections_timed_out);
    Field(w, "templates", s.templates);
    Field(w, "msgkeys", s.dedup_keys);
    Field(w, "token_refreshes", s.token_refreshes);
    Field(w, "paused", s.pause.paused);
    w.Key("accounts");  // each account's own counters and pause
    w.StartArray();
    for (const auto& a : s.accounts) {
        w.StartObject();
        Field(w, "account", a.name);
        Field(w, "type", a.type);
        Field(w, "paused", a.paused);
        Field(w, "sent", a.counters.sent);
        Field(w, "failed", a.counters.failed);
        Field(w, "attempts", a.counters.attempts);
        Field(w, "quota_hits", a.counters.quota_hits);
        Field(w, "held", a.held);
        Field(w, "token_refreshes", a.token_refreshes);
        w.EndObject();
    }
    w.EndArray();
    w.Key("message_log");
    w.StartObject();
    Field(w, "written", s.log_written);
    Field(w, "dropped", s.log_dropped);
    Field(w, "rejected", s.log_rejected);
    Field(w, "pending", s.log_pending);
    Field(w, "healthy", s.log_healthy);
    w.EndObject();
    w.Key("receipts");  // WeChat's pushes ([events] listen)
    w.StartObject();
    Field(w, "delivered", s.receipts.delivered);
    Field(w, "blocked", s.receipts.blocked);
    Field(w, "undelivered", s.receipts.undelivered);
    Field(w, "repeats", s.receipts.repeats);
    Field(w, "unknown", s.receipts.unknown);
    Field(w, "pending", s.receipts.pending);
    Field(w, "choices", s.receipts.choices);
    Field(w, "pushes", s.receipts.pushes);
    Field(w, "refused_signature", s.receipts.bad_signature);
    Field(w, "refused_stale", s.receipts.stale);
    Field(w, "refused_appid", s.receipts.bad_appid);
    Field(w, "refused_malformed", s.receipts.malformed);
    w.EndObject();
    w.Key("callbacks");  // [callback.NAME]: counts and the latest failures
    w.StartArray();
    for (const CallbackCounts& c : s.callbacks) {
        w.StartObject();
        Field(w, "name", c.name);
        Field(w, "delivered", c.delivered);
        Field(w, "attempts", c.attempts);
        Field(w, "failed_attempts", c.failed_attempts);
        Field(w, "expired", c.expired);
        Field(w, "pending", c.pending);
        w.Key("recent_failures");
        w.StartArray();
        for (const std::string& f : c.recent_failures) WriteString(w, f);
        w.EndArray();
        w.EndObject();
    }
    w.EndArray();
    w.Key("throughput");
    w.StartObject();
    Field(w, "1m", s.rate_1m);
    Field(w, "5m", s.rate_5m);
    Field(w, "60m", s.rate_60m);
    w.EndObject();
}

// Sent / (sent + failed), or null when unknown.
void WriteRate(JsonWriter& w, const char* key, const LogSummary::Count& c, bool known) {
    w.Key(key);
    if (!known || c.sent + c.failed == 0) {
        w.Null();
    } else {
        w.Double(double(c.sent) / double(c.sent + c.failed));
    }
}

void WriteGroups(JsonWriter& w, const char* key, const char* field,
                 const std::vector<LogSummary::Count>& groups) {
    w.Key(key);
    w.StartArray();
    for (const LogSummary::Count& c : groups) {
        w.StartObject();
        Field(w, field, c.name);
        Field(w, "sent", c.sent);
        Field(w, "failed", c.failed);
        w.EndObject();
    }
    w.EndArray();
}

// From the message log (MySQL): counts and rates over everything it holds.
void WriteLogSummary(JsonWriter& w, const LogSummary& summary, const Status& db) {
    w.Key("rates");
    w.StartObject();
    WriteRate(w, "overall", summary.overall, db.ok());
    WriteRate(w, "today", summary.today, db.ok());
    WriteRate(w, "last_hour", summary.last_hour, db.ok());
    w.EndObject();
    w.Key("by_status");
    w.StartObject();
    for (const auto& [name, n] : summary.by_status) Field(w, name.c_str(), n);
    w.EndObject();
    WriteGroups(w, "by_template", "key", summary.by_template);
    WriteGroups(w, "by_source", "source", summary.by_source);
    if (!db.ok()) Field(w, "db_error", db.message());
}

void WriteSeries(JsonWriter& w, const char* key, const Throughput& throughput, int width,
                 int count) {
    w.Key(key);
    w.StartArray();
    for (const Throughput::Point& p : throughput.Series(NowMs() / 1000, width, count)) {
        w.StartObject();
        Field(w, "t", p.t);
        Field(w, "sent", p.sent);
        Field(w, "failed", p.failed);
        w.EndObject();
    }
    w.EndArray();
}

HttpResponse StatsReply(const Server& server, const LogSummary& summary, const Status& db) {
    const Server::Snapshot s = server.Stats();
    return JsonReply([&](JsonWriter& w) {
        w.StartObject();
        WriteQueue(w, s);
        WriteCounters(w, s);
        WriteLogSummary(w, summary, db);
        w.Key("series");
        w.StartObject();
        WriteSeries(w, "minutes", server.throughput(), 60, 60);
        WriteSeries(w, "seconds", server.throughput(), 1, 300);
        w.EndObject();
        w.EndObject();
    });
}

void GetStats(Server& server, HttpCall& call) {
    struct Result {
        LogSummary summary;
        Status status;
    };
    auto result = std::make_shared<Result>();
    const Config& config = server.config();
    OffLoop(
        server.loop(),
        [&config, result] { result->status = SummarizeLog(config, NowMs(), &result->summary); },
        [&server, result, responder = call.responder] {
            const Status db = MessageStoreStatus(result->status, "GET /api/stats");
            responder.Send(StatsReply(server, result->summary, db));
        });
}

}  // namespace

void AddStatsRoutes(RouteTable& routes, Server& server) {
    routes.Get("/api/health",
               [&server](HttpCall& call) { call.responder.Send(HealthReply(server.Stats())); });
    routes.Get("/api/stats", [&server](HttpCall& call) { GetStats(server, call); });
}

}  // namespace mega
