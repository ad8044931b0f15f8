// The dashboard's files (admin/dashboard/, compiled in by tools/embed-files.cmake): GET / and
// /index.html serve index.html, /assets/NAME the others. No token needed (AdminRequestGate).
#include <string_view>

#include "admin/AdminRoutes.h"
#include "base/EmbeddedFile.h"
#include "http/HttpReply.h"

namespace mega {
namespace {

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

HttpResponse FileReply(std::string_view name) {
    for (const EmbeddedFile& f : DashboardFiles()) {
        if (name != f.name) continue;
        HttpResponse r;
        r.content_type = ContentType(f.name);
        r.body.assign(f.data, f.size);
        return r;
    }
    return ErrorReply(404, "no such file");
}

}  // namespace

void AddDashboardRoutes(RouteTable& routes) {
    auto index = [](HttpCall& call) { call.responder.Send(FileReply("index.html")); };
    routes.Get("/", index);
    routes.Get("/index.html", index);
    routes.Get("/assets/:name",
               [](HttpCall& call) { call.responder.Send(FileReply(call.Param("name"))); });
}

}  // namespace mega
