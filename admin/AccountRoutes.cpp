// The accounts' pause state and counters. GET /api/account, POST /api/account/pause
// ({"reason":"…"}, optional) and POST /api/account/resume act on the account `default`
// (the [wechat] section), as before accounts came; GET /api/accounts lists every account,
// and /api/accounts/NAME, /api/accounts/NAME/pause and /api/accounts/NAME/resume act on one.
// An operator's pause lasts until resumed; a quota pause (45009) shows here too.
#include <string>

#include "admin/AdminRoutes.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "server/Server.h"

namespace mega {
namespace {

void AccountFields(JsonWriter& w, const Server& server, const AccountLane& lane, size_t i) {
    const PauseState& p = lane.pause;
    Field(w, "account", lane.name);
    if (i == 0) Field(w, "app_id", server.config().app_id);
    Field(w, "paused", p.paused);
    Field(w, "reason", p.reason);
    Field(w, "by_operator", p.by_operator);
    Field(w, "since_ms", p.since_ms);
    Field(w, "until_ms", p.until_ms);
    Field(w, "sent", lane.counters.sent);
    Field(w, "failed", lane.counters.failed);
    Field(w, "attempts", lane.counters.attempts);
    Field(w, "quota_hits", lane.counters.quota_hits);
    Field(w, "held", uint64_t(lane.held.size()));
}

HttpResponse AccountReply(Server& server, size_t i) {
    return JsonReply([&](JsonWriter& w) {
        w.StartObject();
        AccountFields(w, server, server.dispatcher().lane(i), i);
        w.EndObject();
    });
}

// The lane named by the path's :name; false (404 sent) if there is no such account.
bool LaneOf(Server& server, HttpCall& call, size_t* lane) {
    const int i = server.dispatcher().FindLane(call.Param("name"));
    if (i < 0) {
        call.responder.Send(ErrorReply(404, "no account " + std::string(call.Param("name"))));
        return false;
    }
    *lane = size_t(i);
    return true;
}

void PauseLane(Server& server, HttpCall& call, size_t lane) {
    const auto given = JsonString(call.body, "reason");
    const std::string reason =
        given && !given->empty() ? std::string(*given) : "paused by an operator";
    server.dispatcher().Pause(lane, reason, true, 0);
    call.responder.Send(OkReply());
}

}  // namespace

void AddAccountRoutes(RouteTable& routes, Server& server) {
    routes.Get("/api/account",
               [&server](HttpCall& call) { call.responder.Send(AccountReply(server, 0)); });
    routes.Post("/api/account/pause", [&server](HttpCall& call) { PauseLane(server, call, 0); });
    routes.Post("/api/account/resume", [&server](HttpCall& call) {
        server.dispatcher().Resume(0, "resumed by an operator");
        call.responder.Send(OkReply());
    });
    routes.Get("/api/accounts", [&server](HttpCall& call) {
        call.responder.Send(JsonReply([&](JsonWriter& w) {
            w.StartArray();
            const Dispatcher& d = server.dispatcher();
            for (size_t i = 0; i < d.lane_count(); ++i) {
                w.StartObject();
                AccountFields(w, server, d.lane(i), i);
                w.EndObject();
            }
            w.EndArray();
        }));
    });
    routes.Get("/api/accounts/:name", [&server](HttpCall& call) {
        size_t lane;
        if (LaneOf(server, call, &lane)) call.responder.Send(AccountReply(server, lane));
    });
    routes.Post("/api/accounts/:name/pause", [&server](HttpCall& call) {
        size_t lane;
        if (LaneOf(server, call, &lane)) PauseLane(server, call, lane);
    });
    routes.Post("/api/accounts/:name/resume", [&server](HttpCall& call) {
        size_t lane;
        if (!LaneOf(server, call, &lane)) return;
        server.dispatcher().Resume(lane, "resumed by an operator");
        call.responder.Send(OkReply());
    });
}

}  // namespace mega
