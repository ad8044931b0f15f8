// Templates: GET /api/templates (the cached ones) and POST /api/templates/reload
// ({"key":"…"}: reload one from MySQL, paced with the tset reloads: TemplateReloads).
#include <string>

#include "admin/AdminRoutes.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "server/Server.h"

namespace mega {
namespace {

HttpResponse TemplateListReply(const TemplateCache& templates) {
    return JsonReply([&](JsonWriter& w) {
        w.StartArray();
        templates.ForEach([&](const Template& t) {
            w.StartObject();
            Field(w, "key", t.key());
            Field(w, "account", t.account());
            Field(w, "kind", t.kind());
            Field(w, "template", t.text());
            w.EndObject();
        });
        w.EndArray();
    });
}

}  // namespace

void AddTemplateRoutes(RouteTable& routes, Server& server) {
    routes.Get("/api/templates", [&server](HttpCall& call) {
        call.responder.Send(TemplateListReply(server.templates()));
    });
    routes.Post("/api/templates/reload", [&server](HttpCall& call) {
        const auto key = JsonString(call.body, "key");
        if (!key) return call.responder.Send(ErrorReply(400, "expected {\"key\":\"…\"}"));
        server.ReloadTemplate(std::string(*key), [responder = call.responder](const Status& s) {
            responder.Send(StatusReply(s));
        });
    });
}

}  // namespace mega
