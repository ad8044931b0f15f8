// Admin API endpoints:
//   GET  /api/health                   no auth; 200 or 503 with the reasons
//   GET  /api/stats                    counts, queue depth per priority, pause state
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
#include "server/AdminApi.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "server/Server.h"

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

void Str(JsonWriter& w, std::string_view s) { w.String(s.data(), rapidjson::SizeType(s.size())); }

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

}  // namespace

AdminApi::AdminApi(uv_loop_t* loop, Server* server)
    : server_(server),
      http_(loop, [this](HttpRequest&& r, HttpResponder resp) { Handle(std::move(r), resp); }) {}

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

bool AdminApi::Authorized(const HttpRequest& request) const {
    const std::string& token = server_->config().admin_token;
    if (token.empty()) return true;  // loopback only, checked at Listen
    const std::string* h = request.Header("authorization");
    if (!h || h->size() != 7 + token.size() || h->compare(0, 7, "Bearer ") != 0) return false;
    // Constant-time comparison: the token is a secret.
    unsigned char diff = 0;
    for (size_t i = 0; i < token.size(); i++) diff |= (*h)[7 + i] ^ token[i];
    return diff == 0;
}

void AdminApi::Handle(HttpRequest&& req, HttpResponder responder) {
    const std::string& path = req.path;
    const bool get = req.method == "GET", post = req.method == "POST";
    if (path == "/api/health") {
        const Server::Snapshot s = server_->Stats();
        rapidjson::StringBuffer sb;
        JsonWriter w(sb);
        w.StartObject();
        std::vector<std::string> problems;
        if (!s.queue_writable) problems.push_back("queue not writable");
        if (s.pause.paused) problems.push_back("account paused: " + s.pause.reason);
        w.Key("status");
        w.String(problems.empty() ? "ok" : "degraded");
        w.Key("problems");
        w.StartArray();
        for (auto& p : problems) Str(w, p);
        w.EndArray();
        w.EndObject();
        responder.Send(JsonResponse(s.queue_writable ? 200 : 503, sb));
        return;
    }
    if (!Authorized(req)) {
        responder.Send(Error(401, "missing or wrong bearer token"));
        return;
    }
    rapidjson::Document body;
    if (post && !req.body.empty()) {
        body.Parse(req.body.data(), req.body.size());
        if (body.HasParseError() || !body.IsObject()) {
            responder.Send(Error(400, "body must be a JSON object"));
            return;
        }
    } else {
        body.SetObject();
    }

    if (get && path == "/api/stats") {
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
        w.EndObject();
        w.Key("inflight");
        w.Uint64(s.inflight);
        w.Key("waiting");
        w.Uint64(s.waiting);
        w.Key("sent");
        w.Uint64(s.counters.sent);
        w.Key("failed");
        w.Uint64(s.counters.failed);
        w.Key("retried");
        w.Uint64(s.counters.retried);
        w.Key("attempts");
        w.Uint64(s.counters.attempts);
        w.Key("quota_hits");
        w.Uint64(s.counters.quota_hits);
        w.Key("dead_letters");
        w.Uint64(s.dead_letters);
        w.Key("connections");
        w.Uint64(s.connections);
        w.Key("templates");
        w.Uint64(s.templates);
        w.Key("msgkeys");
        w.Uint64(s.dedup_keys);
        w.Key("token_refreshes");
        w.Uint64(s.token_refreshes);
        w.Key("paused");
        w.Bool(s.pause.paused);
        w.Key("message_log");
        w.StartObject();
        w.Key("written");
        w.Uint64(s.log_written);
        w.Key("dropped");
        w.Uint64(s.log_dropped);
        w.Key("pending");
        w.Uint64(s.log_pending);
        w.Key("healthy");
        w.Bool(s.log_healthy);
        w.EndObject();
        w.EndObject();
        responder.Send(JsonResponse(200, sb));
        return;
    }
    if (get && path == "/api/failed") {
        std::string v;
        size_t offset = 0, limit = 100;
        if (req.QueryParam("offset", &v)) offset = size_t(std::strtoull(v.c_str(), nullptr, 10));
        if (req.QueryParam("limit", &v)) limit = std::min<size_t>(1000, std::strtoull(v.c_str(), nullptr, 10));
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
                responder.Send(Error(400, "expected {\"id\":\"…\"}" + std::string(retry ? " or {\"all\":true}" : "")));
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
        if (body.HasMember("reason") && body["reason"].IsString() && body["reason"].GetStringLength())
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
