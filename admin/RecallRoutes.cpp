// POST /api/messages/ID/recall: a message still waiting (delayed, retrying, or held by its
// paused or rate-limited account) is cancelled instead; a message already sent is looked
// up in the message log, and the answer says that its account's channel cannot recall it
// (WeCom app messages, the one kind WeCom lets a sender recall, are not built yet).
#include <memory>
#include <string>

#include "admin/AdminRoutes.h"
#include "base/OffLoop.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "server/Server.h"
#include "store/MessageQueries.h"

namespace mega {
namespace {

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
    struct Result {
        Status status;
        MessageRow row;
    };
    auto result = std::make_shared<Result>();
    const Config& config = server.config();
    OffLoop(
        server.loop(),
        [&config, id, result] { result->status = GetMessage(config, id, &result->row); },
        [result, text, responder = call.responder] {
            const Status s = MessageStoreStatus(result->status, "POST /api/messages/ID/recall");
            if (!s.ok()) return responder.Send(StatusReply(s));
            const MessageRow& r = result->row;
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
