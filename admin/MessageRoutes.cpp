// Messages: the message log (GET /api/messages with filters, GET /api/messages/ID with its
// body and the timeline of its attempts; MySQL, queried off the loop), a failed one queued
// again (POST .../ID/retry), the delayed and retrying ones (GET /api/waiting, POST
// /api/waiting/cancel) and a test message from the dashboard (POST /api/test-message).
#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "admin/AdminRoutes.h"
#include "base/OffLoop.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "server/Server.h"
#include "store/MessageQueries.h"
#include "store/MessageTimeline.h"

namespace mega {
namespace {

// "timeline": [{event, at_ms, attempt, errcode, errmsg, latency_ms (null: no call or not
// known), from_row}], "timeline_itemized": every attempt has its own step.
void WriteTimeline(JsonWriter& w, const MessageRow& r) {
    const Timeline t = BuildTimeline(r);
    w.Key("timeline");
    w.StartArray();
    for (const TimelineStep& s : t.steps) {
        w.StartObject();
        Field(w, "event", s.event);
        Field(w, "at_ms", s.at_ms);
        Field(w, "attempt", s.attempt);
        Field(w, "errcode", s.errcode);
        Field(w, "errmsg", s.errmsg);
        w.Key("latency_ms");
        if (s.latency_us < 0) {
            w.Null();
        } else {
            w.Double(double(s.latency_us) / 1000);
        }
        Field(w, "from_row", s.from_row);
        w.EndObject();
    }
    w.EndArray();
    Field(w, "timeline_itemized", t.itemized);
}

void WriteMessageRow(JsonWriter& w, const MessageRow& r, bool with_body) {
    w.StartObject();
    IdField(w, "id", r.id);
    Field(w, "openid", r.openid);
    Field(w, "key", r.key);
    Field(w, "source", r.source);
    Field(w, "account", r.account);
    Field(w, "kind", r.kind);
    Field(w, "priority", PriorityName(r.priority));
    Field(w, "status", r.status);
    Field(w, "attempts", r.attempts);
    IdField(w, "msgid", r.msgid);
    if (!r.remote_msgid.empty()) Field(w, "remote_msgid", r.remote_msgid);  // WeCom's string id
    Field(w, "errcode", r.errcode);
    Field(w, "errmsg", r.errmsg);
    Field(w, "created_ms", r.created_ms);
    Field(w, "updated_ms", r.updated_ms);
    Field(w, "sent_ms", r.sent_ms);
    if (with_body) {
        Field(w, "body", r.body);
        WriteTimeline(w, r);
    }
    w.EndObject();
}

bool ReadFilter(const HttpRequest& request, MessageFilter* f) {
    request.QueryParam("status", &f->status);
    request.QueryParam("openid", &f->openid);
    request.QueryParam("key", &f->key);
    request.QueryParam("source", &f->source);
    request.QueryParam("account", &f->account);
    request.QueryParam("kind", &f->kind);
    f->from_ms = QueryInt(request, "from", f->from_ms);
    f->to_ms = QueryInt(request, "to", f->to_ms);
    f->offset = QueryUint(request, "offset", f->offset);
    f->limit = std::clamp<uint64_t>(QueryUint(request, "limit", f->limit), 1, 1000);
    static const char* kStatuses[] = {"",        "queued",      "sending",   "retrying",
                                      "sent",    "failed",      "cancelled", "delivered",
                                      "blocked", "undelivered", "recalled"};
    return std::find(std::begin(kStatuses), std::end(kStatuses), f->status) != std::end(kStatuses);
}

void GetMessageList(Server& server, HttpCall& call) {
    MessageFilter filter;
    if (!ReadFilter(call.request, &filter))
        return call.responder.Send(
            ErrorReply(400,
                       "status must be queued, sending, retrying, sent, failed, cancelled, "
                       "delivered, blocked or undelivered"));
    struct Result {
        Status status;
        uint64_t total = 0;
        std::vector<MessageRow> rows;
    };
    auto result = std::make_shared<Result>();
    const Config& config = server.config();
    OffLoop(
        server.loop(),
        [&config, filter, result] {
            result->status = ListMessages(config, filter, &result->total, &result->rows);
        },
        [result, responder = call.responder] {
            const Status s = MessageStoreStatus(result->status, "GET /api/messages");
            if (!s.ok()) return responder.Send(StatusReply(s));
            responder.Send(JsonReply([&](JsonWriter& w) {
                w.StartObject();
                Field(w, "total", result->total);
                w.Key("items");
                w.StartArray();
                for (const MessageRow& r : result->rows) WriteMessageRow(w, r, false);
                w.EndArray();
                w.EndObject();
            }));
        });
}

void GetMessageDetail(Server& server, HttpCall& call) {
    uint64_t id;
    if (!ParseId(call.Param("id"), &id))
        return call.responder.Send(ErrorReply(404, "no message " + std::string(call.Param("id"))));
    struct Result {
        Status status;
        MessageRow row;
    };
    auto result = std::make_shared<Result>();
    const Config& config = server.config();
    OffLoop(
        server.loop(),
        [&config, id, result] { result->status = GetMessage(config, id, &result->row); },
        [result, responder = call.responder] {
            const Status s = MessageStoreStatus(result->status, "GET /api/messages/ID");
            if (!s.ok()) return responder.Send(StatusReply(s));
            responder.Send(
                JsonReply([&](JsonWriter& w) { WriteMessageRow(w, result->row, true); }));
        });
}

void RetryMessage(Server& server, HttpCall& call) {
    const std::string text(call.Param("id"));
    uint64_t id;
    if (!ParseId(text, &id)) return call.responder.Send(ErrorReply(404, "no message " + text));
    DeadLetter d;
    if (!server.backend().FindDeadLetter(id, &d))
        return call.responder.Send(
            ErrorReply(409, "message " + text + " is not a failed message waiting for a retry"));
    call.responder.Send(StatusReply(server.RetryDeadLetter(id)));
}

HttpResponse WaitingReply(const Dispatcher& dispatcher, size_t limit) {
    return JsonReply([&](JsonWriter& w) {
        w.StartObject();
        Field(w, "total", uint64_t(dispatcher.waiting()));
        w.Key("items");
        w.StartArray();
        for (const Dispatcher::WaitingMessage& m : dispatcher.Waiting(limit)) {
            w.StartObject();
            IdField(w, "id", m.id);
            Field(w, "openid", m.openid);
            Field(w, "key", m.key);
            Field(w, "attempts", m.attempts);
            Field(w, "due_ms", m.due_ms);
            Field(w, "kind", m.attempts > 0 ? "retrying" : "delayed");
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    });
}

void CancelWaiting(Server& server, HttpCall& call) {
    uint64_t id;
    if (!JsonId(call.body, "id", &id))
        return call.responder.Send(ErrorReply(400, "expected {\"id\":\"…\"}"));
    if (!server.dispatcher().Cancel(id))
        return call.responder.Send(ErrorReply(404, "no waiting message " + std::to_string(id)));
    call.responder.Send(OkReply());
}

void QueueTestMessage(Server& server, HttpCall& call) {
    const auto openid = JsonString(call.body, "openid"), key = JsonString(call.body, "key");
    if (!openid || !key)
        return call.responder.Send(
            ErrorReply(400, "expected {\"openid\":\"…\",\"key\":\"…\",\"data\":{…}}"));
    Server::Accepted a;
    const Status s = server.Accept(MessageKind::kPush, *openid, *key, JsonText(call.body, "data"),
                                   "source=dashboard", &a);
    if (!s.ok()) return call.responder.Send(StatusReply(s));
    call.responder.Send(JsonReply([&](JsonWriter& w) {
        w.StartObject();
        IdField(w, "id", a.id);
        w.EndObject();
    }));
}

}  // namespace

void AddMessageRoutes(RouteTable& routes, Server& server) {
    routes.Get("/api/messages", [&server](HttpCall& call) { GetMessageList(server, call); });
    routes.Get("/api/messages/:id", [&server](HttpCall& call) { GetMessageDetail(server, call); });
    routes.Post("/api/messages/:id/retry",
                [&server](HttpCall& call) { RetryMessage(server, call); });
    routes.Get("/api/waiting", [&server](HttpCall& call) {
        const size_t limit = std::min<uint64_t>(1000, QueryUint(call.request, "limit", 100));
        call.responder.Send(WaitingReply(server.dispatcher(), limit));
    });
    routes.Post("/api/waiting/cancel", [&server](HttpCall& call) { CancelWaiting(server, call); });
    routes.Post("/api/test-message", [&server](HttpCall& call) { QueueTestMessage(server, call); });
}

}  // namespace mega
