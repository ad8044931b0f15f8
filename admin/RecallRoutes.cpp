// POST /api/messages/ID/recall: a message still waiting (delayed, retrying, or held by its
// paused or rate-limited account) is cancelled instead; a message already sent is looked
// up in the message log: a WeCom app message sent within 24 hours is recalled with its
// stored msgid (delivery/WecomRecall.h, off the loop) and ends `recalled`; for any other the
// answer says that its channel cannot recall it.
#include <memory>
#include <string>

#include "admin/AdminRoutes.h"
#include "base/Clock.h"
#include "base/OffLoop.h"
#include "delivery/WecomRecall.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "server/Server.h"
#include "store/MessageQueries.h"

namespace mega {
namespace {

struct RecallResult {
    Status status;
    MessageRow row;
    bool tried = false;  // a WeCom recall was called; `recall` says how it went
    Status recall;
};

// The message's row and, for a WeCom app message sent within 24 hours, WeCom's recall and
// the row marked `recalled`. On a pool thread: blocking MySQL and HTTP.
void RecallOffLoop(Server& server, uint64_t id, RecallResult* result) {
    result->status = GetMessage(server.config(), id, &result->row);
    const MessageRow& r = result->row;
    if (!result->status.ok() || r.status != "sent" || r.remote_msgid.empty()) return;
    const int i = server.sending_accounts().Find(r.account);
    if (i < 0 || server.sending_accounts().at(size_t(i)).account.type != "wecom_app") return;
    SendingAccount& account = server.sending_accounts().at(size_t(i));
    result->tried = true;
    const int64_t now = NowMs();
    if (r.sent_ms > 0 && now - r.sent_ms >= kWecomRecallWindowMs) {
        result->recall = Status::Invalid("sent more than 24 hours ago: WeCom no longer recalls it");
        return;
    }
    result->recall =
        RecallWecomMessage(*account.tokens, long(account.config.http_timeout_ms), r.remote_msgid);
    if (result->recall.ok()) result->recall = MarkRecalled(server.config(), id, r.errmsg, now);
}

HttpResponse RecallReply(const Status& recall, const std::string& text) {
    if (recall.ok()) {
        return JsonReply([](JsonWriter& w) {
            w.StartObject();
            Field(w, "ok", true);
            Field(w, "recalled", true);
            w.EndObject();
        });
    }
    if (recall.code() == Status::Code::kInvalid)
        return ErrorReply(409, "message " + text + " was not recalled: " + recall.message());
    return ErrorReply(503, "message " + text + " was not recalled: " + recall.message());
}

void Recall(Server& server, HttpCall& call) {
    const std::string text(call.Param("id"));
    uint64_t id;
    if (!ParseId(text, &id)) return call.responder.Send(ErrorReply(404, "no message " + text));
    if (server.dispatcher().Cancel(id)) {
        return call.responder.Send(JsonReply([](JsonWriter& w) {
            w.StartObject();
            Field(w, "ok", true);
            Field(w, "cancelled", true);  // it had not been sent: cancelled instead
            w.EndObject();
        }));
    }
    auto result = std::make_shared<RecallResult>();
    OffLoop(
        server.loop(), [&server, id, result] { RecallOffLoop(server, id, result.get()); },
        [result, text, responder = call.responder] {
            const Status s = MessageStoreStatus(result->status, "POST /api/messages/ID/recall");
            if (!s.ok()) return responder.Send(StatusReply(s));
            const MessageRow& r = result->row;
            if (result->tried) return responder.Send(RecallReply(result->recall, text));
            if (r.status != "sent")
                return responder.Send(ErrorReply(409, "message " + text + " is " + r.status +
                                                          ": only a sent message is "
                                                          "recalled, a waiting one cancelled"));
            responder.Send(ErrorReply(409, "recall is not possible: message " + text +
                                               " went through account " + r.account + " (" +
                                               r.kind +
                                               "), and only WeCom app messages can "
                                               "be recalled"));
        });
}

}  // namespace

void AddRecallRoutes(RouteTable& routes, Server& server) {
    routes.Post("/api/messages/:id/recall", [&server](HttpCall& call) { Recall(server, call); });
}

}  // namespace mega
