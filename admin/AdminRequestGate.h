// AdminRequestGate: the checks every admin API request passes before an endpoint sees it,
// against cross-site requests (CSRF) and DNS rebinding from a browser on the same machine:
// the Host must name this server (the connection's own address, loopback names on a loopback
// address, or [admin] allowed_hosts), a cross-origin Origin is refused, a POST must say
// Content-Type: application/json (text/plain for /api/tasks/ID/openids), and every endpoint
// but the dashboard's files and /api/health needs the bearer token when one is set.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/Config.h"
#include "http/HttpRequestParser.h"

namespace mega {

struct GateRefusal {
    int status = 403;     // 400, 401, 403 or 415
    std::string message;  // for the JSON error; never the token
};

class AdminRequestGate {
  public:
    explicit AdminRequestGate(const Config& config);

    // nullopt: the request may go on to its endpoint.
    std::optional<GateRefusal> Check(const HttpRequest& request) const;

    // The dashboard's files, /api/health, and /metrics with [admin] metrics_public = 1:
    // answered without the token.
    bool IsPublic(const HttpRequest& request) const;

  private:
    struct HostPort {
        std::string host;  // lower case, IPv6 without brackets
        int port = -1;     // -1: none given
    };
    static bool ParseHostPort(std::string_view authority, HostPort* out);
    bool HostAllowed(const HostPort& host, const HttpRequest& request) const;
    std::optional<GateRefusal> CheckHost(const HttpRequest& request) const;
    std::optional<GateRefusal> CheckOrigin(const HttpRequest& request) const;
    std::optional<GateRefusal> CheckContentType(const HttpRequest& request) const;
    bool Authorized(const HttpRequest& request) const;

    std::string token_;
    bool metrics_public_ = false;
    std::vector<HostPort> allowed_hosts_;
};

}  // namespace mega
