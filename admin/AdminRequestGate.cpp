// AdminRequestGate implementation. A browser page of another site can make the browser send
// a "simple" request (GET, or a POST of text/plain or a form) to 127.0.0.1:9502 without
// asking (CSRF), and a rebound DNS name can even read the answers; Host and Origin tell
// such requests apart from the dashboard's own, whatever the token.
#include "admin/AdminRequestGate.h"

#include <cctype>

#include "base/ConstantTime.h"

namespace mega {
namespace {

std::string Lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool ParsePort(std::string_view digits, int* port) {
    if (digits.empty() || digits.size() > 5) return false;
    int n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + (c - '0');
    }
    if (n < 1 || n > 65535) return false;
    *port = n;
    return true;
}

bool IsHostChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

// The connection's local address as a Host would name it: "::ffff:127.0.0.1" is 127.0.0.1.
std::string LocalHost(const HttpRequest& request) {
    std::string local = Lower(request.local_address);
    const std::string_view mapped = "::ffff:";
    if (local.rfind(mapped, 0) == 0 && local.find('.') != std::string::npos)
        local.erase(0, mapped.size());
    return local;
}

bool IsLoopback(const std::string& address) {
    return address.rfind("127.", 0) == 0 || address == "::1";
}

std::string Shown(std::string_view value) {  // a header value quoted in an error, shortened
    return std::string(value.substr(0, 100)) + (value.size() > 100 ? "..." : "");
}

bool IsOpenidsUpload(const HttpRequest& request) {
    const std::string& p = request.path;
    const std::string_view suffix = "/openids";
    return p.rfind("/api/tasks/", 0) == 0 && p.size() > suffix.size() &&
           p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

AdminRequestGate::AdminRequestGate(const Config& config)
    : token_(config.admin_token), metrics_public_(config.metrics_public) {
    for (const std::string& entry : config.admin_allowed_hosts) {
        HostPort parsed;
        if (ParseHostPort(entry, &parsed)) allowed_hosts_.push_back(parsed);
    }
}

bool AdminRequestGate::IsPublic(const HttpRequest& request) const {
    const std::string& path = request.path;
    if (path == "/api/health") return true;
    if (path == "/metrics" && metrics_public_) return true;
    return request.method == "GET" &&
           (path == "/" || path == "/index.html" || path.rfind("/assets/", 0) == 0);
}

std::optional<GateRefusal> AdminRequestGate::Check(const HttpRequest& request) const {
    if (auto refusal = CheckHost(request)) return refusal;
    if (auto refusal = CheckOrigin(request)) return refusal;
    if (!IsPublic(request) && !Authorized(request))
        return GateRefusal{401, "missing or wrong bearer token"};
    return CheckContentType(request);
}

bool AdminRequestGate::ParseHostPort(std::string_view authority, HostPort* out) {
    std::string_view host = authority, port;
    if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
        const size_t close = authority.find(']');
        if (close == std::string_view::npos) return false;
        host = authority.substr(1, close - 1);
        std::string_view rest = authority.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || (port = rest.substr(1)).empty())) return false;
        for (char c : host)
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    } else {
        const size_t colon = authority.find(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
            if (port.empty()) return false;
        }
        for (char c : host)
            if (!IsHostChar(c)) return false;
    }
    if (host.empty()) return false;
    out->host = Lower(host);
    out->port = -1;
    return port.empty() || ParsePort(port, &out->port);
}

bool AdminRequestGate::HostAllowed(const HostPort& named, const HttpRequest& request) const {
    const int port = named.port == -1 ? 80 : named.port;
    for (const HostPort& allowed : allowed_hosts_) {
        if (allowed.host == named.host && (allowed.port == -1 || allowed.port == port)) return true;
    }
    if (port != request.local_port) return false;
    const std::string local = LocalHost(request);
    if (named.host == local) return true;
    return IsLoopback(local) &&
           (named.host == "localhost" || named.host == "127.0.0.1" || named.host == "::1");
}

std::optional<GateRefusal> AdminRequestGate::CheckHost(const HttpRequest& request) const {
    const std::string* host = request.Header("host");
    if (host == nullptr) {  // HTTP/1.0 may leave it out; browsers always send it
        if (request.http_major == 1 && request.http_minor == 0) return std::nullopt;
        return GateRefusal{400, "a Host header is required"};
    }
    HostPort named;
    if (!ParseHostPort(Trim(*host), &named))
        return GateRefusal{400, "bad Host header: " + Shown(*host)};
    if (HostAllowed(named, request)) return std::nullopt;
    return GateRefusal{403, "Host " + Shown(*host) +
                                " is not an address of this server (a DNS rebinding attempt?); "
                                "add it to [admin] allowed_hosts to allow it"};
}

std::optional<GateRefusal> AdminRequestGate::CheckOrigin(const HttpRequest& request) const {
    const std::string* origin = request.Header("origin");
    if (origin == nullptr) return std::nullopt;  // not sent cross-site by browsers: same-origin
    const GateRefusal refused{
        403, "cross-origin request refused: Origin " + Shown(*origin) + " is not this server"};
    const std::string value = Lower(Trim(*origin));
    const bool https = value.rfind("https://", 0) == 0;
    if (!https && value.rfind("http://", 0) != 0) return refused;  // "null", file://, ...
    HostPort from, to;
    const std::string* host = request.Header("host");
    if (host == nullptr || !ParseHostPort(std::string_view(value).substr(https ? 8 : 7), &from) ||
        !ParseHostPort(Trim(*host), &to))
        return refused;
    const int from_port = from.port != -1 ? from.port : (https ? 443 : 80);
    const int to_port = to.port != -1 ? to.port : from_port;  // Host: the scheme's default
    if (from.host != to.host || from_port != to_port) return refused;
    return std::nullopt;
}

std::optional<GateRefusal> AdminRequestGate::CheckContentType(const HttpRequest& request) const {
    if (request.method != "POST") return std::nullopt;
    const std::string* header = request.Header("content-type");
    const std::string type =
        header == nullptr ? std::string()
                          : Lower(Trim(std::string_view(*header).substr(0, header->find(';'))));
    if (type == "application/json") return std::nullopt;
    if (IsOpenidsUpload(request)) {
        if (type == "text/plain") return std::nullopt;
        return GateRefusal{
            415, "POST " + request.path + " needs Content-Type: text/plain or application/json"};
    }
    return GateRefusal{415, "a POST needs Content-Type: application/json"};
}

bool AdminRequestGate::Authorized(const HttpRequest& request) const {
    if (token_.empty()) return true;  // loopback only, checked at Listen
    const std::string* h = request.Header("authorization");
    if (!h || h->compare(0, 7, "Bearer ") != 0) return false;
    return ConstantTimeEquals(std::string_view(*h).substr(7), token_);
}

}  // namespace mega
