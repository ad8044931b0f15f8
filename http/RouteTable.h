// RouteTable: an HTTP API's routes (the admin API's, the submit API's) as a table of
// {method, path pattern, handler}, matched in the order they were added. A pattern is a path
// whose segments are literal or `:name` (any one non-empty segment, handed to the handler).
// A path no pattern matches is unknown (404); a path some pattern matches but not with the
// request's method gets 405 and Allow.
#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/HttpServer.h"

namespace mega {

// One request on its way to a route's handler.
struct HttpCall {
    HttpRequest request;
    std::vector<std::pair<std::string, std::string>> params;  // :name → segment, in order
    rapidjson::Document body;  // JSON routes: the POST's object ({} when empty); else {}
    HttpResponder responder;
    std::string caller;  // who made the call, as the API's gate names it (an API key's name)

    // The segment that matched `:name` ("" if the pattern has none).
    std::string_view Param(std::string_view name) const;
};

// What a route reads from the request body.
enum class RequestBody {
    kNone,        // nothing (GET)
    kJsonObject,  // a JSON object, or nothing; anything else is answered 400 before the handler
    kRaw,         // the bytes as sent, left in request.body
};

struct Route {
    std::string method;   // "GET", "POST"
    std::string pattern;  // "/api/messages/:id/retry"
    RequestBody body = RequestBody::kNone;
    std::function<void(HttpCall& call)> handler;
};

class RouteTable {
  public:
    using Handler = std::function<void(HttpCall& call)>;

    void Add(std::string method, std::string pattern, RequestBody body, Handler handler);
    void Get(std::string pattern, Handler handler);
    void Post(std::string pattern, Handler handler);  // with a JSON object body

    struct Match {
        const Route* route = nullptr;  // nullptr: allow empty → 404, else 405
        std::vector<std::pair<std::string, std::string>> params;
        std::string allow;  // 405: the methods the path has, "GET, POST"
    };
    Match Find(std::string_view method, std::string_view path) const;
    const std::vector<Route>& routes() const { return routes_; }

  private:
    std::vector<Route> routes_;
};

}  // namespace mega
