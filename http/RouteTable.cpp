// RouteTable: pattern matching segment by segment, and the 404/405 decision.
#include "http/RouteTable.h"

#include <cassert>

namespace mega {
namespace {

// "/api/tasks/7" → {"api", "tasks", "7"}; "/" → {""}; a trailing '/' gives an empty last one.
std::vector<std::string_view> Segments(std::string_view path) {
    std::vector<std::string_view> out;
    path.remove_prefix(1);  // the leading '/'
    for (;;) {
        const size_t slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) return out;
        path.remove_prefix(slash + 1);
    }
}

// True when `path` fits `pattern`; the :name segments go to `params`.
bool Matches(std::string_view pattern, const std::vector<std::string_view>& path,
             std::vector<std::pair<std::string, std::string>>* params) {
    const std::vector<std::string_view> want = Segments(pattern);
    if (want.size() != path.size()) return false;
    params->clear();
    for (size_t i = 0; i < want.size(); i++) {
        if (!want[i].empty() && want[i].front() == ':') {
            if (path[i].empty()) return false;
            params->emplace_back(want[i].substr(1), path[i]);
        } else if (want[i] != path[i]) {
            return false;
        }
    }
    return true;
}

void AddAllowed(std::string_view method, std::string* allow) {
    for (std::string_view rest = *allow; !rest.empty();) {
        const size_t comma = rest.find(", ");
        if (rest.substr(0, comma) == method) return;
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    }
    if (!allow->empty()) *allow += ", ";
    *allow += method;
}

}  // namespace

std::string_view HttpCall::Param(std::string_view name) const {
    for (const auto& [key, value] : params)
        if (key == name) return value;
    return {};
}

void RouteTable::Add(std::string method, std::string pattern, RequestBody body, Handler handler) {
    assert(!pattern.empty() && pattern.front() == '/');
    routes_.push_back({std::move(method), std::move(pattern), body, std::move(handler)});
}

void RouteTable::Get(std::string pattern, Handler handler) {
    Add("GET", std::move(pattern), RequestBody::kNone, std::move(handler));
}

void RouteTable::Post(std::string pattern, Handler handler) {
    Add("POST", std::move(pattern), RequestBody::kJsonObject, std::move(handler));
}

RouteTable::Match RouteTable::Find(std::string_view method, std::string_view path) const {
    Match match;
    if (path.empty() || path.front() != '/') return match;  // "*", "" (an absolute-form URL)
    const std::vector<std::string_view> segments = Segments(path);
    std::vector<std::pair<std::string, std::string>> params;
    for (const Route& route : routes_) {
        if (!Matches(route.pattern, segments, &params)) continue;
        if (route.method == method) {
            match.route = &route;
            match.params = std::move(params);
            match.allow.clear();
            return match;
        }
        AddAllowed(route.method, &match.allow);
    }
    return match;
}

}  // namespace mega
