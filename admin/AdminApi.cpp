// Admin API endpoints (each in the file of its resource, admin/<Resource>Routes.cpp):
//   GET  /                             the dashboard (and /assets/NAME), no auth
//   GET  /metrics                      Prometheus text format
//   GET  /api/health                   no auth; 200 or 503 with the reasons
//   GET  /api/stats                    counts, queue depth per priority, rates, series
//   GET  /api/history?range=24h|7d     the message log's counts, wait and latency per step
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
//   GET  /api/cluster                  the nodes sharing the queue (redis), up or down, totals
// Message ids are 64-bit and travel as JSON strings (JavaScript numbers stop at 2^53).
// An unknown path is answered 404, a known one with another method 405 (with Allow); a
// POST body that is not a JSON object 400; errors are {"error": "…"} (HttpReply.h).
#include "admin/AdminApi.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "admin/AdminRoutes.h"
#include "http/Address.h"
#include "http/HttpReply.h"
#include "protocol/JsonCheck.h"
#include "server/Server.h"

namespace mega {
namespace {

// The HTTP limits of [admin]: the connection cap, the timeouts.
HttpServerLimits AdminHttpLimits(const Config& config) {
    HttpServerLimits limits;
    limits.max_connections = static_cast<size_t>(config.admin_max_connections);
    limits.header_timeout_ms = uint64_t(config.admin_header_timeout_s) * 1000;
    limits.request_timeout_ms = uint64_t(config.admin_request_timeout_s) * 1000;
    limits.idle_timeout_ms = uint64_t(config.admin_idle_timeout_s) * 1000;
    return limits;
}

HttpResponse RefusalReply(const GateRefusal& refusal) {
    HttpResponse r = ErrorReply(refusal.status, refusal.message);
    if (refusal.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"mega\"");
    return r;
}

// No route for the request: 405 with Allow when the path has routes for other methods.
HttpResponse NoRouteReply(const HttpRequest& request, const RouteTable::Match& match) {
    if (match.allow.empty())
        return ErrorReply(404, "no such endpoint: " + request.method + " " + request.path);
    HttpResponse r = ErrorReply(405, request.method + " is not allowed on " + request.path +
                                         " (allowed: " + match.allow + ")");
    r.headers.emplace_back("Allow", match.allow);
    return r;
}

// The JSON object of a POST (an empty body is {}); false when the body is something else.
bool ParseJsonObject(const std::string& text, rapidjson::Document* body) {
    if (text.empty()) {
        body->SetObject();
        return true;
    }
    if (protocol::JsonDepthWithin(text)) body->Parse(text.data(), text.size());
    return !body->HasParseError() && body->IsObject();
}

}  // namespace

AdminApi::AdminApi(uv_loop_t* loop, Server* server)
    : server_(server),
      gate_(server->config()),
      http_(
          loop, [this](HttpRequest&& r, HttpResponder resp) { Handle(std::move(r), resp); },
          AdminHttpLimits(server->config()), "admin API") {
    AddDashboardRoutes(routes_);
    AddMetricsRoutes(routes_, *server);
    AddStatsRoutes(routes_, *server);
    AddHistoryRoutes(routes_, *server);
    AddMessageRoutes(routes_, *server);
    AddTaskRoutes(routes_, *server);
    AddFailedRoutes(routes_, *server);
    AddAccountRoutes(routes_, *server);
    AddRecallRoutes(routes_, *server);
    AddTemplateRoutes(routes_, *server);
    AddClusterRoutes(routes_, *server);
}

Status AdminApi::Listen(const std::string& address) {
    std::string host;
    int port = 0;
    if (Status s = SplitHostPort(address, "[admin] listen", &host, &port); !s.ok()) return s;
    if (server_->config().admin_token.empty() && !IsLoopbackHost(host))
        return Status::Invalid("[admin] listen is " + address +
                               ", not a loopback address: set [admin] token first");
    Status s = http_.Listen(host, port);
    if (!s.ok()) return Status::IoError("admin API: " + s.message());
    spdlog::info("admin API on {}:{}", host, http_.port());
    return Status::Ok();
}

void AdminApi::Handle(HttpRequest&& request, HttpResponder responder) {
    // Host, Origin, the token, Content-Type: see AdminRequestGate.h.
    if (std::optional<GateRefusal> refusal = gate_.Check(request))
        return responder.Send(RefusalReply(*refusal));
    RouteTable::Match match = routes_.Find(request.method, request.path);
    if (match.route == nullptr) return responder.Send(NoRouteReply(request, match));
    HttpCall call{std::move(request), std::move(match.params), {}, responder, {}};
    if (match.route->body != RequestBody::kJsonObject) {
        call.body.SetObject();
    } else if (!ParseJsonObject(call.request.body, &call.body)) {
        return responder.Send(ErrorReply(400, "body must be a JSON object"));
    }
    match.route->handler(call);
}

}  // namespace mega
