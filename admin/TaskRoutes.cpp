// Batch tasks: GET /api/tasks (with progress), POST /api/tasks (create, from a JSON list of
// openids or a text of one a line), POST /api/tasks/ID/openids (text/plain: more openids for
// a loading task) and POST /api/tasks/ID/start|pause|resume|cancel.
#include <algorithm>
#include <string>
#include <utility>

#include "admin/AdminRoutes.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "server/Server.h"
#include "server/TaskRunner.h"

namespace mega {
namespace {

HttpResponse TaskListReply(const TaskRunner& tasks) {
    return JsonReply([&](JsonWriter& w) {
        w.StartArray();
        for (const TaskInfo& t : tasks.List()) {
            w.StartObject();
            IdField(w, "id", t.id);
            Field(w, "key", t.key);
            Field(w, "status", t.status);
            Field(w, "rate", t.rate);
            Field(w, "total", t.total);
            Field(w, "queued", t.queued);
            Field(w, "sent", t.sent);
            Field(w, "failed", t.failed);
            Field(w, "created_ms", t.created_ms);
            Field(w, "updated_ms", t.updated_ms);
            w.EndObject();
        }
        w.EndArray();
    });
}

// The openids of a new task, one a line: "openids" (strings; others skipped) or
// "openids_text".
std::string OpenidsText(const rapidjson::Value& body) {
    std::string text;
    if (body.HasMember("openids") && body["openids"].IsArray()) {
        for (const auto& v : body["openids"].GetArray())
            if (v.IsString()) text.append(v.GetString(), v.GetStringLength()).push_back('\n');
    } else if (auto t = JsonString(body, "openids_text")) {
        text = *t;
    }
    return text;
}

void CreateTask(Server& server, HttpCall& call) {
    const rapidjson::Value& body = call.body;
    const auto key = JsonString(body, "key");
    if (!key)
        return call.responder.Send(ErrorReply(400, "expected {\"key\":\"…\",\"openids\":[…],…}"));
    if (!server.templates().Find(*key))
        return call.responder.Send(ErrorReply(400, "template key not exists"));
    TaskInfo info;
    info.key = *key;
    info.data = JsonText(body, "data");
    if (body.HasMember("rate") && body["rate"].IsNumber())
        info.rate = std::max(0.0, body["rate"].GetDouble());
    if (auto options = JsonString(body, "options")) info.options = *options;
    const bool start =
        !body.HasMember("start") || !body["start"].IsBool() || body["start"].GetBool();
    server.tasks().Create(std::move(info), OpenidsText(body), start,
                          [responder = call.responder](Status s, uint64_t id) {
                              s = MessageStoreStatus(s, "POST /api/tasks");
                              if (!s.ok()) return responder.Send(StatusReply(s));
                              responder.Send(JsonReply([&](JsonWriter& w) {
                                  w.StartObject();
                                  IdField(w, "id", id);
                                  w.EndObject();
                              }));
                          });
}

// The task named by the path's :id; false (404 sent) when there is none of that form.
bool TaskId(HttpCall& call, uint64_t* id) {
    if (ParseId(call.Param("id"), id)) return true;
    call.responder.Send(ErrorReply(404, "no task " + std::string(call.Param("id"))));
    return false;
}

void AppendOpenids(Server& server, HttpCall& call) {
    uint64_t id;
    if (!TaskId(call, &id)) return;
    server.tasks().Append(id, std::move(call.request.body),
                          [responder = call.responder](const Status& s, uint64_t) {
                              responder.Send(StatusReply(s, InvalidMeans::kConflict));
                          });
}

void AddControlRoute(RouteTable& routes, Server& server, const std::string& action) {
    routes.Post("/api/tasks/:id/" + action, [&server, action](HttpCall& call) {
        uint64_t id;
        if (!TaskId(call, &id)) return;
        call.responder.Send(
            StatusReply(server.tasks().Control(id, action), InvalidMeans::kConflict));
    });
}

}  // namespace

void AddTaskRoutes(RouteTable& routes, Server& server) {
    routes.Get("/api/tasks",
               [&server](HttpCall& call) { call.responder.Send(TaskListReply(server.tasks())); });
    routes.Post("/api/tasks", [&server](HttpCall& call) { CreateTask(server, call); });
    routes.Add("POST", "/api/tasks/:id/openids", RequestBody::kRaw,
               [&server](HttpCall& call) { AppendOpenids(server, call); });
    for (const char* action : {"start", "pause", "resume", "cancel"})
        AddControlRoute(routes, server, action);
}

}  // namespace mega
