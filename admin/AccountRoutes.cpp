// The WeChat account's pause state: GET /api/account, POST /api/account/pause
// ({"reason":"…"}, optional) and POST /api/account/resume. An operator's pause lasts until
// resumed; a quota pause (45009) shows here too.
#include <string>

#include "admin/AdminRoutes.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "server/Server.h"

namespace mega {
namespace {

HttpResponse AccountReply(const Server& server, const PauseState& p) {
    return JsonReply([&](JsonWriter& w) {
        w.StartObject();
        Field(w, "app_id", server.config().app_id);
        Field(w, "paused", p.paused);
        Field(w, "reason", p.reason);
        Field(w, "by_operator", p.by_operator);
        Field(w, "since_ms", p.since_ms);
        Field(w, "until_ms", p.until_ms);
        w.EndObject();
    });
}

}  // namespace

void AddAccountRoutes(RouteTable& routes, Server& server) {
    routes.Get("/api/account", [&server](HttpCall& call) {
        call.responder.Send(AccountReply(server, server.dispatcher().pause_state()));
    });
    routes.Post("/api/account/pause", [&server](HttpCall& call) {
        const auto given = JsonString(call.body, "reason");
        const std::string reason =
            given && !given->empty() ? std::string(*given) : "paused by an operator";
        server.dispatcher().Pause(reason, true, 0);
        call.responder.Send(OkReply());
    });
    routes.Post("/api/account/resume", [&server](HttpCall& call) {
        server.dispatcher().Resume("resumed by an operator");
        call.responder.Send(OkReply());
    });
}

}  // namespace mega
