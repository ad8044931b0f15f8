// The failed store (dead letters): GET /api/failed (oldest first, paged), POST
// /api/failed/retry ({"id"} or {"all":true}: queued again), /api/failed/forget ({"id"}) and
// /api/failed/flush (forget them all).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "admin/AdminRoutes.h"
#include "delivery/ErrorClass.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "server/Server.h"

namespace mega {
namespace {

// "cancelled" for a message an operator cancelled, else the class of WeChat's answer.
const char* FailureClass(const DeadLetter& d) {
    if (d.errcode == -1 && d.error.find("cancel") != std::string_view::npos) return "cancelled";
    const long http_status = d.errcode >= 500 && d.errcode < 600 ? d.errcode : 200;
    return OutcomeName(Classify(d.errcode != -2, http_status, d.errcode));
}

void WriteDeadLetter(JsonWriter& w, uint64_t id, const DeadLetter& d) {
    Message m;
    DecodeMessage(d.message, &m);
    w.StartObject();
    IdField(w, "id", id);
    Field(w, "openid", m.openid);
    Field(w, "key", m.key);
    Field(w, "options", m.options);
    Field(w, "errcode", d.errcode);
    Field(w, "class", FailureClass(d));
    Field(w, "error", d.error);
    Field(w, "attempts", d.attempts);
    Field(w, "created_ms", m.created_ms);
    Field(w, "failed_ms", d.failed_ms);
    w.EndObject();
}

HttpResponse FailedListReply(const QueueBackend& backend, size_t offset, size_t limit) {
    return JsonReply([&](JsonWriter& w) {
        w.StartObject();
        Field(w, "total", backend.dead_letter_count());
        w.Key("items");
        w.StartArray();
        size_t i = 0;
        backend.ForEachDeadLetter([&](uint64_t id, const DeadLetter& d) {
            if (i++ < offset) return true;
            if (i > offset + limit) return false;
            WriteDeadLetter(w, id, d);
            return true;
        });
        w.EndArray();
        w.EndObject();
    });
}

HttpResponse CountReply(const char* key, uint64_t n) {
    return JsonReply([&](JsonWriter& w) {
        w.StartObject();
        Field(w, key, n);
        w.EndObject();
    });
}

Status RetryOrForget(Server& server, uint64_t id, bool retry) {
    if (retry) return server.RetryDeadLetter(id);
    if (server.backend().RemoveDeadLetter(id)) return Status::Ok();
    return Status::NotFound("no dead letter " + std::to_string(id));
}

// POST /api/failed/retry and /api/failed/forget. With {"all":true}, a failure stops the
// round (logged) and the reply counts what was done before it.
void RetryOrForgetRoute(Server& server, HttpCall& call, bool retry) {
    std::vector<uint64_t> ids;
    const rapidjson::Value& body = call.body;
    uint64_t id;
    if (retry && body.HasMember("all") && body["all"].IsBool() && body["all"].GetBool()) {
        ids = server.backend().DeadLetterIds();
    } else if (JsonId(body, "id", &id)) {
        ids.push_back(id);
    } else {
        return call.responder.Send(ErrorReply(
            400, std::string("expected {\"id\":\"…\"}") + (retry ? " or {\"all\":true}" : "")));
    }
    size_t done = 0;
    for (uint64_t each : ids) {
        const Status s = RetryOrForget(server, each, retry);
        if (!s.ok() && ids.size() == 1) return call.responder.Send(StatusReply(s));
        if (!s.ok()) {
            spdlog::warn("failed retry --all stopped: {}", s.message());
            break;
        }
        done++;
    }
    call.responder.Send(CountReply(retry ? "retried" : "forgotten", done));
}

}  // namespace

void AddFailedRoutes(RouteTable& routes, Server& server) {
    routes.Get("/api/failed", [&server](HttpCall& call) {
        const size_t offset = QueryUint(call.request, "offset", 0);
        const size_t limit = std::min<uint64_t>(1000, QueryUint(call.request, "limit", 100));
        call.responder.Send(FailedListReply(server.backend(), offset, limit));
    });
    routes.Post("/api/failed/retry",
                [&server](HttpCall& call) { RetryOrForgetRoute(server, call, true); });
    routes.Post("/api/failed/forget",
                [&server](HttpCall& call) { RetryOrForgetRoute(server, call, false); });
    routes.Post("/api/failed/flush", [&server](HttpCall& call) {
        size_t n = 0;
        QueueBackend& backend = server.backend();
        for (uint64_t id : backend.DeadLetterIds()) n += backend.RemoveDeadLetter(id);
        call.responder.Send(CountReply("forgotten", n));
    });
}

}  // namespace mega
