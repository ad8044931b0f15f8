// Tests of RouteTable (admin/): literal and :name segments, matching in order, the values
// of :name segments, 404 (no pattern fits the path) and 405 with Allow (patterns fit, none
// with the method), and what each route reads from the body.
#include <doctest/doctest.h>

#include <string>

#include "http/RouteTable.h"

using mega::HttpCall;
using mega::RequestBody;
using mega::RouteTable;

namespace {

// A table whose handlers say which route ran: "<method> <pattern>".
struct Recorder {
    RouteTable table;
    std::string ran;

    void Add(const char* method, const char* pattern) {
        table.Add(method, pattern, RequestBody::kNone,
                  [this, name = std::string(method) + " " + pattern](HttpCall&) { ran = name; });
    }
    // The route that runs for method and path ("404" / "405 <Allow>" when none).
    std::string Run(const char* method, const char* path) {
        RouteTable::Match m = table.Find(method, path);
        if (m.route == nullptr) return m.allow.empty() ? "404" : "405 " + m.allow;
        HttpCall call;
        call.params = m.params;
        m.route->handler(call);
        return ran;
    }
};

}  // namespace

TEST_CASE("literal patterns match the whole path, segment by segment") {
    Recorder r;
    r.Add("GET", "/");
    r.Add("GET", "/api/stats");
    r.Add("POST", "/api/failed/retry");
    CHECK(r.Run("GET", "/") == "GET /");
    CHECK(r.Run("GET", "/api/stats") == "GET /api/stats");
    CHECK(r.Run("POST", "/api/failed/retry") == "POST /api/failed/retry");
    for (const char* path : {"/api", "/api/stats/", "/api/stats/extra", "/api/statsx", "//",
                             "/api//stats", "", "*", "api/stats", "/API/stats", "/api/failed"})
        CHECK_MESSAGE(r.Run("GET", path) == "404", std::string(path));
}

TEST_CASE(":name segments match one non-empty segment and hand it over") {
    RouteTable table;
    std::string id, action;
    table.Add("POST", "/api/tasks/:id/:action", RequestBody::kJsonObject, [&](HttpCall& call) {
        id = call.Param("id");
        action = call.Param("action");
        CHECK(call.Param("nope").empty());
    });
    RouteTable::Match m = table.Find("POST", "/api/tasks/42/pause");
    REQUIRE(m.route != nullptr);
    CHECK(m.route->body == RequestBody::kJsonObject);
    REQUIRE(m.params.size() == 2);
    CHECK(m.params[0] == std::pair<std::string, std::string>{"id", "42"});
    HttpCall call;
    call.params = m.params;
    m.route->handler(call);
    CHECK(id == "42");
    CHECK(action == "pause");
    // any text is a segment (the handler decides whether it names something); empty is not
    CHECK(table.Find("POST", "/api/tasks/abc/x%2Fy").route != nullptr);
    for (const char* path : {"/api/tasks//pause", "/api/tasks/42/", "/api/tasks/42",
                             "/api/tasks/42/pause/more", "/api/tasks"})
        CHECK_MESSAGE(table.Find("POST", path).route == nullptr, std::string(path));
}

TEST_CASE("routes are matched in order: the first that fits wins") {
    Recorder r;
    r.Add("POST", "/api/tasks/:id/openids");
    r.Add("POST", "/api/tasks/:id/:action");
    r.Add("GET", "/api/messages/:id");
    r.Add("GET", "/api/messages/latest");  // shadowed by the :id route before it
    CHECK(r.Run("POST", "/api/tasks/7/openids") == "POST /api/tasks/:id/openids");
    CHECK(r.Run("POST", "/api/tasks/7/start") == "POST /api/tasks/:id/:action");
    CHECK(r.Run("GET", "/api/messages/latest") == "GET /api/messages/:id");
}

TEST_CASE("a known path with another method: 405 with the methods it has") {
    Recorder r;
    r.Add("GET", "/api/tasks");
    r.Add("POST", "/api/tasks");
    r.Add("GET", "/api/messages/:id");
    r.Add("POST", "/api/messages/:id/retry");
    r.Add("GET", "/api/account");
    r.Add("GET", "/api/:resource");  // a second GET fitting /api/account: Allow names it once
    CHECK(r.Run("PUT", "/api/tasks") == "405 GET, POST");
    CHECK(r.Run("DELETE", "/api/messages/1") == "405 GET");
    CHECK(r.Run("GET", "/api/messages/1/retry") == "405 POST");
    CHECK(r.Run("PATCH", "/api/account") == "405 GET");
    CHECK(r.Run("get", "/api/account") == "405 GET");  // methods are case-sensitive
    CHECK(r.Run("GET", "/api/account") == "GET /api/account");
    CHECK(r.Run("GET", "/api/other") == "GET /api/:resource");
    CHECK(r.Run("DELETE", "/api/messages/1/x") == "404");
}

TEST_CASE("an empty table knows no path") {
    RouteTable table;
    RouteTable::Match m = table.Find("GET", "/");
    CHECK(m.route == nullptr);
    CHECK(m.allow.empty());
    CHECK(m.params.empty());
}
