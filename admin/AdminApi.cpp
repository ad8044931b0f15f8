// Admin API endpoints:
//   GET  /                             the dashboard (and /assets/NAME), no auth
//   GET  /metrics                      Prometheus text format
//   GET  /api/health                   no auth; 200 or 503 with the reasons
//   GET  /api/stats                    counts, queue depth per priority, rates, series
//   GET  /api/messages?status=&openid=&key=&source=&from=&to=&offset=&limit=
//   GET  /api/messages/ID              one message with its rendered body
//   POST /api/messages/ID/retry        a failed message (a dead letter) queued again
//   GET  /api/waiting?limit=           delayed and retrying messages
//   POST /api/waiting/cancel           {"id":"…"}
//   POST /api/test-message             {"openid","key","data"}: queue one message
//   GET  /api/tasks                    batch tasks with progress
//   POST /api/tasks                    {"key","data","rate","options","openids":[…] or
//                                      "openids_text":"…","start":bool} → {"id"}
//   POST /api/tasks/ID/openids         text/plain, one openid a line: add to a loading task
//   POST /api/tasks/ID/start|pause|resume|cancel
//   GET  /api/failed?offset=&limit=    dead letters, oldest first
//   POST /api/failed/retry             {"id":"…"} or {"all":true}: queue them again
//   POST /api/failed/forget            {"id":"…"}
//   POST /api/failed/flush             forget every dead letter
//   GET  /api/account                  pause state of the WeChat account
//   POST /api/account/pause            {"reason":"…"} (optional)
//   POST /api/account/resume
//   GET  /api/templates                cached templates
//   POST /api/templates/reload         {"key":"…"}: reload one from MySQL
// Message ids are 64-bit and travel as JSON strings (JavaScript numbers stop at 2^53).
#include "admin/AdminApi.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "base/EmbeddedFile.h"
#include "protocol/JsonCheck.h"
#include "server/ErrorClass.h"
#include "server/MessageQueries.h"
#include "server/OffLoop.h"
#include "server/Server.h"
#include "server/TaskRunner.h"

namespace mega {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

HttpResponse JsonResponse(int status, const rapidjson::StringBuffer& sb) {
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.body.assign(sb.GetString(), sb.GetSize());
    return r;
}

HttpResponse Error(int status, std::string_view message) {
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("error");
    w.String(message.data(), rapidjson::SizeType(message.size()));
    w.EndObject();
    return JsonResponse(status, sb);
}

HttpResponse Ok() {
    HttpResponse r;
    r.body = "{\"ok\":true}";
    r.content_type = "application/json; charset=utf-8";
    return r;
}

void Str(JsonWriter& w, std::string_view s) {
    w.String(s.data(), rapidjson::SizeType(s.size()));
}

bool ParseId(const rapidjson::Value& v, uint64_t* id) {
    if (v.IsUint64()) return *id = v.GetUint64(), true;
    if (!v.IsString()) return false;
    const char* b = v.GetString();
    const char* e = b + v.GetStringLength();
    auto [p, ec] = std::from_chars(b, e, *id);
    return ec == std::errc() && p == e;
}

bool IsLoopback(const std::string& host) {
    return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

const char* kLevelNames[kPriorityLevels] = {"high", "normal", "low"};

int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

const char* ContentType(std::string_view name) {
    auto ends = [&](std::string_view ext) {
        return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
    };
    if (ends(".html")) return "text/html; charset=utf-8";
    if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
    if (ends(".css")) return "text/css; charset=utf-8";
    if (ends(".svg")) return "image/svg+xml";
    if (ends(".png")) return "image/png";
    if (ends(".json")) return "application/json";
    return "application/octet-stream";
}

void MessageJson(JsonWriter& w, const MessageRow& r, bool with_body) {
    w.StartObject();
    w.Key("id");
    Str(w, std::to_string(r.id));
    w.Key("openid");
    Str(w, r.openid);
    w.Key("key");
    Str(w, r.key);
    w.Key("source");
    Str(w, r.source);
    w.Key("priority");
    w.String(kLevelNames[std::clamp(r.priority, 0, kPriorityLevels - 1)]);
    w.Key("status");
    Str(w, r.status);
    w.Key("attempts");
    w.Int(r.attempts);
    w.Key("msgid");
    Str(w, std::to_string(r.msgid));
    w.Key("errcode");
    w.Int(r.errcode);
    w.Key("errmsg");
    Str(w, r.errmsg);
    w.Key("created_ms");
    w.Int64(r.created_ms);
    w.Key("updated_ms");
    w.Int64(r.updated_ms);
    w.Key("sent_ms");
    w.Int64(r.sent_ms);
    if (with_body) {
        w.Key("body");
        Str(w, r.body);
    }
    w.EndObject();
}

std::string Labels(const char* name, std::string_view value) {
    std::string v;
    for (char c : value) {
        if (c == '\\' || c == '"') v += '\\';
        if (c == '\n') {
            v += "\\n";
            continue;
        }
        v += c;
    }
    return std::string(name) + "=\"" + v + "\"";
}

// The HTTP limits of [admin]: the connection cap, the timeouts.
HttpServerLimits AdminHttpLimits(const Config& config) {
    HttpServerLimits limits;
    limits.max_connections = static_cast<size_t>(config.admin_max_connections);
    limits.header_timeout_ms = uint64_t(config.admin_header_timeout_s) * 1000;
    limits.request_timeout_ms = uint64_t(config.admin_request_timeout_s) * 1000;
    limits.idle_timeout_ms = uint64_t(config.admin_idle_timeout_s) * 1000;
    return limits;
}

}  // namespace

AdminApi::AdminApi(uv_loop_t* loop, Server* server)
    : server_(server),
      gate_(server->config()),
      http_(
          loop, [this](HttpRequest&& r, HttpResponder resp) { Handle(std::move(r), resp); },
          AdminHttpLimits(server->config()), "admin API") {}

Status AdminApi::Listen(const std::string& address) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos)
        return Status::Invalid("[admin] listen: expected host:port, got " + address);
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    const int port = std::atoi(address.c_str() + colon + 1);
    if (server_->config().admin_token.empty() && !IsLoopback(host))
        return Status::Invalid("[admin] listen is " + address +
                               ", not a loopback address: set [admin] token first");
    Status s = http_.Listen(host == "localhost" ? "127.0.0.1" : host, port);
    if (!s.ok()) return Status::IoError("admin API: " + s.message());
    spdlog::info("admin API on {}:{}", host, http_.port());
    return Status::Ok();
}

HttpResponse AdminApi::StatsResponse(const LogSummary& summary, const Status& db) const {
    const Server::Snapshot s = server_->Stats();
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("queue");
    w.StartObject();
    uint64_t total = 0;
    for (int l = 0; l < kPriorityLevels; l++) {
        w.Key(kLevelNames[l]);
        w.Uint64(s.depth[l]);
        total += s.depth[l];
    }
    w.Key("total");
    w.Uint64(total);
    w.Key("disk_bytes");
    w.Uint64(s.disk_bytes);
    // After a restart the older segments are checked in the background: until this is 0,
    // their messages are not counted above yet.
    w.Key("scanning_segments");
    w.Uint64(s.scanning_segments);
    // What recovery skipped since the start (every queue file: FORMAT.md, Recovery).
    w.Key("corrupt_records");
    w.Uint64(s.recovery.corrupt_records);
    w.Key("damaged_segments");
    w.Uint64(s.recovery.damaged_segments);
    w.EndObject();
    auto number = [&](const char* key, uint64_t v) {
        w.Key(key);
        w.Uint64(v);
    };
    number("inflight", s.inflight);
    number("waiting", s.waiting);
    number("sent", s.counters.sent);
    number("failed", s.counters.failed);
    number("retried", s.counters.retried);
    number("attempts", s.counters.attempts);
    number("quota_hits", s.counters.quota_hits);
    number("dead_letters", s.dead_letters);
    number("connections", s.connections);
    number("connections_refused", s.connections_refused);
    number("connections_timed_out", s.connections_timed_out);
    number("templates", s.templates);
    number("msgkeys", s.dedup_keys);
    number("token_refreshes", s.token_refreshes);
    w.Key("paused");
    w.Bool(s.pause.paused);
    w.Key("message_log");
    w.StartObject();
    number("written", s.log_written);
    number("dropped", s.log_dropped);
    number("rejected", s.log_rejected);
    number("pending", s.log_pending);
    w.Key("healthy");
    w.Bool(s.log_healthy);
    w.EndObject();
    w.Key("throughput");
    w.StartObject();
    w.Key("1m");
    w.Double(s.rate_1m);
    w.Key("5m");
    w.Double(s.rate_5m);
    w.Key("60m");
    w.Double(s.rate_60m);
    w.EndObject();
    // From the message log (MySQL): counts and rates over everything it holds.
    w.Key("rates");
    w.StartObject();
    auto rate = [&](const char* key, const LogSummary::Count& c) {
        w.Key(key);
        if (!db.ok() || c.sent + c.failed == 0) {
            w.Null();
        } else {
            w.Double(double(c.sent) / double(c.sent + c.failed));
        }
    };
    rate("overall", summary.overall);
    rate("today", summary.today);
    rate("last_hour", summary.last_hour);
    w.EndObject();
    w.Key("by_status");
    w.StartObject();
    for (const auto& [name, n] : summary.by_status) number(name.c_str(), n);
    w.EndObject();
    auto groups = [&](const char* key, const char* field,
                      const std::vector<LogSummary::Count>& list) {
        w.Key(key);
        w.StartArray();
        for (const auto& c : list) {
            w.StartObject();
            w.Key(field);
            Str(w, c.name);
            number("sent", c.sent);
            number("failed", c.failed);
            w.EndObject();
        }
        w.EndArray();
    };
    groups("by_template", "key", summary.by_template);
    groups("by_source", "source", summary.by_source);
    if (!db.ok()) {
        w.Key("db_error");
        Str(w, db.message());
    }
    w.Key("series");
    w.StartObject();
    const int64_t now_s = NowMs() / 1000;
    auto series = [&](const char* key, int width, int count) {
        w.Key(key);
        w.StartArray();
        for (const auto& p : server_->throughput().Series(now_s, width, count)) {
            w.StartObject();
            w.Key("t");
            w.Int64(p.t);
            number("sent", p.sent);
            number("failed", p.failed);
            w.EndObject();
        }
        w.EndArray();
    };
    series("minutes", 60, 60);
    series("seconds", 1, 300);
    w.EndObject();
    w.EndObject();
    return JsonResponse(200, sb);
}

HttpResponse AdminApi::Metrics() const {
    const Server::Snapshot s = server_->Stats();
    MetricsText m;
    for (int l = 0; l < kPriorityLevels; l++)
        m.Gauge("mega_queue_depth", "Messages queued and not finished, by priority.",
                double(s.depth[l]), Labels("priority", kLevelNames[l]));
    m.Gauge("mega_queue_disk_bytes", "Bytes of queue segment files.", double(s.disk_bytes));
    m.Gauge("mega_queue_scanning_segments",
            "Segments still being checked after a restart (their messages not yet counted).",
            double(s.scanning_segments));
    m.Counter("mega_queue_corrupt_records_total",
              "Corrupt queue records recovery skipped since the start (logged one by one).",
              double(s.recovery.corrupt_records));
    m.Counter("mega_queue_damaged_segments_total",
              "Queue segments with an unreadable header, moved aside as *.damaged.",
              double(s.recovery.damaged_segments));
    m.Gauge("mega_inflight", "WeChat calls under way.", double(s.inflight));
    m.Gauge("mega_waiting", "Messages waiting for a delay or a retry.", double(s.waiting));
    m.Gauge("mega_dead_letters", "Messages in the failed store.", double(s.dead_letters));
    m.Gauge("mega_connections", "Open client connections.", double(s.connections));
    m.Counter("mega_connections_refused_total", "Clients refused over max_connections.",
              double(s.connections_refused));
    m.Counter("mega_connections_timed_out_total",
              "Clients closed by the frame or the idle timeout.", double(s.connections_timed_out));
    m.Gauge("mega_templates", "Templates cached.", double(s.templates));
    m.Gauge("mega_account_paused", "1 while sending is paused (quota or operator).",
            s.pause.paused ? 1 : 0);
    m.Counter("mega_messages_sent_total", "Messages WeChat accepted.", double(s.counters.sent));
    m.Counter("mega_messages_failed_total", "Messages that failed for good.",
              double(s.counters.failed));
    m.Counter("mega_retries_total", "Attempts that failed and were scheduled again.",
              double(s.counters.retried));
    static const char* kOutcomes[] = {"sent", "transient", "token", "quota", "permanent"};
    for (int i = 0; i < 5; i++)
        m.Counter("mega_send_attempts_total", "template/send calls by outcome.",
                  double(s.counters.by_outcome[i]), Labels("outcome", kOutcomes[i]));
    m.Counter("mega_quota_hits_total", "45009 answers (daily quota reached).",
              double(s.counters.quota_hits));
    m.Counter("mega_token_refreshes_total", "access_token fetches.", double(s.token_refreshes));
    m.Counter("mega_api_base_switches_total", "Failovers between api_base URLs.",
              double(s.base_switches));
    m.Counter("mega_message_log_rows_written_total", "Rows the message-log writer wrote.",
              double(s.log_written));
    m.Counter("mega_message_log_dropped_total", "Message-log events dropped (MySQL slow or down).",
              double(s.log_dropped));
    m.Counter("mega_message_log_rejected_total",
              "Message-log rows MySQL refused, written without their body or dropped.",
              double(s.log_rejected));
    m.Gauge("mega_message_log_pending", "Message-log rows waiting to be written.",
            double(s.log_pending));
    std::string text = std::move(m.text());
    s.counters.latency.Render("mega_send_latency_seconds", "Duration of template/send calls.",
                              &text);
    RenderHistogram("mega_queue_sync_seconds",
                    "Duration of the queue flusher's fdatasync rounds (what fsync = always "
                    "acknowledgements wait on).",
                    SyncTimes::kBounds, s.syncs.counts, s.syncs.sum_seconds, &text);
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = std::move(text);
    return r;
}

void AdminApi::Handle(HttpRequest&& req, HttpResponder responder) {
    // Host, Origin, the token, Content-Type: see AdminRequestGate.h.
    if (std::optional<GateRefusal> refusal = gate_.Check(req)) {
        HttpResponse r = Error(refusal->status, refusal->message);
        if (refusal->status == 401)
            r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"mega\"");
        responder.Send(std::move(r));
        return;
    }
    const std::string& path = req.path;
    const bool get = req.method == "GET", post = req.method == "POST";
    if (get && (path == "/" || path == "/index.html" || path.rfind("/assets/", 0) == 0)) {
        const std::string_view name =
            path.rfind("/assets/", 0) == 0 ? std::string_view(path).substr(8) : "index.html";
        for (const auto& f : DashboardFiles()) {
            if (name != f.name) continue;
            HttpResponse r;
            r.content_type = ContentType(f.name);
            r.body.assign(f.data, f.size);
            responder.Send(std::move(r));
            return;
        }
        responder.Send(Error(404, "no such file"));
        return;
    }
    if (path == "/api/health") {
        const Server::Snapshot s = server_->Stats();
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        std::vector<std::string> problems;
        if (!s.queue_writable) problems.push_back("queue not writable");
        if (!s.token_error.empty()) problems.push_back("no access_token: " + s.token_error);
        if (!s.log_healthy) problems.push_back("message log cannot reach MySQL");
        if (s.pause.paused) problems.push_back("account paused: " + s.pause.reason);
        w.Key("status");
        w.String(problems.empty() ? "ok" : "degraded");
        w.Key("problems");
        w.StartArray();
        for (auto& p : problems) Str(w, p);
        w.EndArray();
        w.EndObject();
        // 503 when messages cannot be taken or cannot be sent; a pause or the log is degraded.
        responder.Send(JsonResponse(s.queue_writable && s.token_error.empty() ? 200 : 503, sb));
        return;
    }
    if (post && path.rfind("/api/tasks/", 0) == 0 && path.size() > 8 &&
        path.substr(path.size() - 8) == "/openids") {
        uint64_t id = std::strtoull(path.c_str() + 11, nullptr, 10);
        server_->tasks().Append(id, std::move(req.body), [responder](Status st, uint64_t) {
            responder.Send(st.ok() ? Ok()
                                   : Error(st.code() == Status::Code::kNotFound  ? 404
                                           : st.code() == Status::Code::kInvalid ? 409
                                                                                 : 503,
                                           st.message()));
        });
        return;
    }
    rapidjson::Document body;
    if (post && !req.body.empty()) {
        if (protocol::JsonDepthWithin(req.body)) body.Parse(req.body.data(), req.body.size());
        if (body.HasParseError() || !body.IsObject()) {
            responder.Send(Error(400, "body must be a JSON object"));
            return;
        }
    } else {
        body.SetObject();
    }

    if (get && path == "/metrics") {
        responder.Send(Metrics());
        return;
    }
    if (get && path == "/api/stats") {
        auto summary = std::make_shared<LogSummary>();
        auto status = std::make_shared<Status>();
        const Config& config = server_->config();
        OffLoop(
            server_->loop(),
            [&config, summary, status] { *status = SummarizeLog(config, NowMs(), summary.get()); },
            [this, summary, status, responder] {
                responder.Send(StatsResponse(*summary, *status));
            });
        return;
    }
    if (get && path == "/api/messages") {
        MessageFilter f;
        std::string v;
        req.QueryParam("status", &f.status);
        req.QueryParam("openid", &f.openid);
        req.QueryParam("key", &f.key);
        req.QueryParam("source", &f.source);
        if (req.QueryParam("from", &v)) f.from_ms = std::strtoll(v.c_str(), nullptr, 10);
        if (req.QueryParam("to", &v)) f.to_ms = std::strtoll(v.c_str(), nullptr, 10);
        if (req.QueryParam("offset", &v)) f.offset = std::strtoull(v.c_str(), nullptr, 10);
        if (req.QueryParam("limit", &v))
            f.limit = std::clamp<uint64_t>(std::strtoull(v.c_str(), nullptr, 10), 1, 1000);
        static const char* kStatuses[] = {"",     "queued", "sending",  "retrying",
                                          "sent", "failed", "cancelled"};
        if (std::find(std::begin(kStatuses), std::end(kStatuses), f.status) ==
            std::end(kStatuses)) {
            responder.Send(
                Error(400, "status must be queued, sending, retrying, sent, failed or cancelled"));
            return;
        }
        struct Result {
            Status status;
            uint64_t total = 0;
            std::vector<MessageRow> rows;
        };
        auto result = std::make_shared<Result>();
        const Config& config = server_->config();
        OffLoop(
            server_->loop(),
            [&config, f, result] {
                result->status = ListMessages(config, f, &result->total, &result->rows);
            },
            [result, responder] {
                if (!result->status.ok())
                    return responder.Send(Error(503, result->status.message()));
                rapidjson::StringBuffer sb;
                JsonWriter w(sb);
                w.StartObject();
                w.Key("total");
                w.Uint64(result->total);
                w.Key("items");
                w.StartArray();
                for (const auto& r : result->rows) MessageJson(w, r, false);
                w.EndArray();
                w.EndObject();
                responder.Send(JsonResponse(200, sb));
            });
        return;
    }
    if (path.rfind("/api/messages/", 0) == 0) {
        std::string rest = path.substr(14);
        const bool retry = post && rest.size() > 6 && rest.substr(rest.size() - 6) == "/retry";
        if (retry) rest.resize(rest.size() - 6);
        uint64_t id = 0;
        auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), id);
        if (ec != std::errc() || p != rest.data() + rest.size() || (!get && !retry)) {
            responder.Send(Error(404, "no such endpoint: " + req.method + " " + path));
            return;
        }
        if (retry) {
            DeadLetter d;
            if (!server_->dead_letters().Find(id, &d)) {
                responder.Send(
                    Error(409, "message " + rest + " is not a failed message waiting for a retry"));
                return;
            }
            Status st = server_->RetryDeadLetter(id);
            responder.Send(st.ok() ? Ok() : Error(503, st.message()));
            return;
        }
        struct Result {
            Status status;
            MessageRow row;
        };
        auto result = std::make_shared<Result>();
        const Config& config = server_->config();
        OffLoop(
            server_->loop(),
            [&config, id, result] { result->status = GetMessage(config, id, &result->row); },
            [result, responder] {
                if (!result->status.ok())
                    return responder.Send(
                        Error(result->status.code() == Status::Code::kNotFound ? 404 : 503,
                              result->status.message()));
                rapidjson::StringBuffer sb;
                JsonWriter w(sb);
                MessageJson(w, result->row, true);
                responder.Send(JsonResponse(200, sb));
            });
        return;
    }
    if (get && path == "/api/tasks") {
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartArray();
        for (const TaskInfo& t : server_->tasks().List()) {
            w.StartObject();
            w.Key("id");
            Str(w, std::to_string(t.id));
            w.Key("key");
            Str(w, t.key);
            w.Key("status");
            Str(w, t.status);
            w.Key("rate");
            w.Double(t.rate);
            w.Key("total");
            w.Uint64(t.total);
            w.Key("queued");
            w.Uint64(t.queued);
            w.Key("sent");
            w.Uint64(t.sent);
            w.Key("failed");
            w.Uint64(t.failed);
            w.Key("created_ms");
            w.Int64(t.created_ms);
            w.Key("updated_ms");
            w.Int64(t.updated_ms);
            w.EndObject();
        }
        w.EndArray();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (post && path == "/api/tasks") {
        if (!body.HasMember("key") || !body["key"].IsString()) {
            responder.Send(Error(400, "expected {\"key\":\"…\",\"openids\":[…],…}"));
            return;
        }
        TaskInfo info;
        info.key = body["key"].GetString();
        if (!server_->templates().Find(info.key)) {
            responder.Send(Error(400, "template key not exists"));
            return;
        }
        info.data = "null";
        if (body.HasMember("data")) {
            rapidjson::StringBuffer sb;
            rapidjson::Writer<rapidjson::StringBuffer> w(sb);
            body["data"].Accept(w);
            info.data.assign(sb.GetString(), sb.GetSize());
        }
        if (body.HasMember("rate") && body["rate"].IsNumber())
            info.rate = std::max(0.0, body["rate"].GetDouble());
        if (body.HasMember("options") && body["options"].IsString())
            info.options = body["options"].GetString();
        std::string text;
        if (body.HasMember("openids") && body["openids"].IsArray()) {
            for (const auto& v : body["openids"].GetArray())
                if (v.IsString()) text.append(v.GetString()).push_back('\n');
        } else if (body.HasMember("openids_text") && body["openids_text"].IsString()) {
            text = body["openids_text"].GetString();
        }
        const bool start =
            !body.HasMember("start") || !body["start"].IsBool() || body["start"].GetBool();
        server_->tasks().Create(std::move(info), std::move(text), start,
                                [responder](Status st, uint64_t id) {
                                    if (!st.ok()) return responder.Send(Error(503, st.message()));
                                    rapidjson::StringBuffer sb;
                                    JsonWriter w(sb);
                                    w.StartObject();
                                    w.Key("id");
                                    Str(w, std::to_string(id));
                                    w.EndObject();
                                    responder.Send(JsonResponse(200, sb));
                                });
        return;
    }
    if (post && path.rfind("/api/tasks/", 0) == 0) {
        const std::string rest = path.substr(11);
        const size_t slash = rest.find('/');
        const uint64_t id = std::strtoull(rest.c_str(), nullptr, 10);
        const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
        Status st = server_->tasks().Control(id, action);
        responder.Send(
            st.ok() ? Ok() : Error(st.code() == Status::Code::kNotFound ? 404 : 409, st.message()));
        return;
    }
    if (get && path == "/api/waiting") {
        std::string v;
        size_t limit = 100;
        if (req.QueryParam("limit", &v))
            limit = std::min<size_t>(1000, std::strtoull(v.c_str(), nullptr, 10));
        const auto items = server_->dispatcher().Waiting(limit);
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        w.Key("total");
        w.Uint64(server_->dispatcher().waiting());
        w.Key("items");
        w.StartArray();
        for (const auto& it : items) {
            w.StartObject();
            w.Key("id");
            Str(w, std::to_string(it.id));
            w.Key("openid");
            Str(w, it.openid);
            w.Key("key");
            Str(w, it.key);
            w.Key("attempts");
            w.Uint(it.attempts);
            w.Key("due_ms");
            w.Int64(it.due_ms);
            w.Key("kind");
            w.String(it.attempts > 0 ? "retrying" : "delayed");
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (post && path == "/api/waiting/cancel") {
        uint64_t id;
        if (!body.HasMember("id") || !ParseId(body["id"], &id)) {
            responder.Send(Error(400, "expected {\"id\":\"…\"}"));
            return;
        }
        responder.Send(server_->dispatcher().Cancel(id)
                           ? Ok()
                           : Error(404, "no waiting message " + std::to_string(id)));
        return;
    }
    if (post && path == "/api/test-message") {
        if (!body.HasMember("openid") || !body["openid"].IsString() || !body.HasMember("key") ||
            !body["key"].IsString()) {
            responder.Send(Error(400, "expected {\"openid\":\"…\",\"key\":\"…\",\"data\":{…}}"));
            return;
        }
        std::string data = "null";
        if (body.HasMember("data")) {
            rapidjson::StringBuffer sb;
            rapidjson::Writer<rapidjson::StringBuffer> w(sb);
            body["data"].Accept(w);
            data.assign(sb.GetString(), sb.GetSize());
        }
        Server::Accepted a;
        Status st = server_->Accept(MessageKind::kPush, body["openid"].GetString(),
                                    body["key"].GetString(), data, "source=dashboard", &a);
        if (!st.ok()) {
            responder.Send(Error(st.code() == Status::Code::kInvalid ? 400 : 503, st.message()));
            return;
        }
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        w.Key("id");
        Str(w, std::to_string(a.id));
        w.EndObject();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (get && path == "/api/failed") {
        std::string v;
        size_t offset = 0, limit = 100;
        if (req.QueryParam("offset", &v)) offset = size_t(std::strtoull(v.c_str(), nullptr, 10));
        if (req.QueryParam("limit", &v))
            limit = std::min<size_t>(1000, std::strtoull(v.c_str(), nullptr, 10));
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        w.Key("total");
        w.Uint64(server_->dead_letters().size());
        w.Key("items");
        w.StartArray();
        size_t i = 0;
        server_->dead_letters().ForEach([&](uint64_t id, const DeadLetter& d) {
            if (i++ < offset) return true;
            if (i > offset + limit) return false;
            Message m;
            DecodeMessage(d.message, &m);
            w.StartObject();
            w.Key("id");
            Str(w, std::to_string(id));
            w.Key("openid");
            Str(w, m.openid);
            w.Key("key");
            Str(w, m.key);
            w.Key("options");
            Str(w, m.options);
            w.Key("errcode");
            w.Int(d.errcode);
            w.Key("class");
            w.String(d.errcode == -1 && d.error.find("cancel") != std::string_view::npos
                         ? "cancelled"
                         : OutcomeName(Classify(
                               d.errcode != -2,
                               d.errcode >= 500 && d.errcode < 600 ? d.errcode : 200, d.errcode)));
            w.Key("error");
            Str(w, d.error);
            w.Key("attempts");
            w.Uint(d.attempts);
            w.Key("created_ms");
            w.Int64(m.created_ms);
            w.Key("failed_ms");
            w.Int64(d.failed_ms);
            w.EndObject();
            return true;
        });
        w.EndArray();
        w.EndObject();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (post && (path == "/api/failed/retry" || path == "/api/failed/forget")) {
        const bool retry = path == "/api/failed/retry";
        std::vector<uint64_t> ids;
        if (retry && body.HasMember("all") && body["all"].IsBool() && body["all"].GetBool()) {
            ids = server_->dead_letters().Ids();
        } else {
            uint64_t id;
            if (!body.HasMember("id") || !ParseId(body["id"], &id)) {
                responder.Send(Error(400, "expected {\"id\":\"…\"}" +
                                              std::string(retry ? " or {\"all\":true}" : "")));
                return;
            }
            ids.push_back(id);
        }
        size_t done = 0;
        for (uint64_t id : ids) {
            Status s = retry ? server_->RetryDeadLetter(id)
                             : (server_->dead_letters().Remove(id)
                                    ? Status::Ok()
                                    : Status::NotFound("no dead letter " + std::to_string(id)));
            if (!s.ok()) {
                const int code = s.code() == Status::Code::kNotFound ? 404 : 503;
                if (ids.size() == 1) {
                    responder.Send(Error(code, s.message()));
                    return;
                }
                spdlog::warn("failed retry --all stopped: {}", s.message());
                break;
            }
            done++;
        }
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        w.Key(retry ? "retried" : "forgotten");
        w.Uint64(done);
        w.EndObject();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (post && path == "/api/failed/flush") {
        size_t n = 0;
        for (uint64_t id : server_->dead_letters().Ids()) n += server_->dead_letters().Remove(id);
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        w.Key("forgotten");
        w.Uint64(n);
        w.EndObject();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (path == "/api/account" && get) {
        const PauseState& p = server_->dispatcher().pause_state();
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        w.Key("app_id");
        Str(w, server_->config().app_id);
        w.Key("paused");
        w.Bool(p.paused);
        w.Key("reason");
        Str(w, p.reason);
        w.Key("by_operator");
        w.Bool(p.by_operator);
        w.Key("since_ms");
        w.Int64(p.since_ms);
        w.Key("until_ms");
        w.Int64(p.until_ms);
        w.EndObject();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (post && path == "/api/account/pause") {
        std::string reason = "paused by an operator";
        if (body.HasMember("reason") && body["reason"].IsString() &&
            body["reason"].GetStringLength())
            reason = body["reason"].GetString();
        server_->dispatcher().Pause(reason, true, 0);
        responder.Send(Ok());
        return;
    }
    if (post && path == "/api/account/resume") {
        server_->dispatcher().Resume("resumed by an operator");
        responder.Send(Ok());
        return;
    }
    if (get && path == "/api/templates") {
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartArray();
        server_->templates().ForEach([&](const Template& t) {
            w.StartObject();
            w.Key("key");
            Str(w, t.key());
            w.Key("template");
            Str(w, t.text());
            w.EndObject();
        });
        w.EndArray();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (post && path == "/api/templates/reload") {
        if (!body.HasMember("key") || !body["key"].IsString()) {
            responder.Send(Error(400, "expected {\"key\":\"…\"}"));
            return;
        }
        server_->ReloadTemplate(body["key"].GetString(), [responder](Status s) {
            if (s.ok()) return responder.Send(Ok());
            const int code = s.code() == Status::Code::kNotFound  ? 404
                             : s.code() == Status::Code::kInvalid ? 400
                                                                  : 503;
            responder.Send(Error(code, s.message()));
        });
        return;
    }
    responder.Send(Error(404, "no such endpoint: " + req.method + " " + path));
}

}  // namespace mega
