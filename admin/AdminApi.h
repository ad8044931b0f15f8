// The admin HTTP API on the server's own event loop ([admin] listen, default
// 127.0.0.1:9502), served by the http/ layer (libuv + http_parser). JSON in and out; every
// endpoint but /api/health needs `Authorization: Bearer <[admin] token>`. Without a token it
// only listens on a loopback address. Host, Origin and Content-Type are checked whether or not
// a token is set (AdminRequestGate). Endpoints are listed in AdminApi.cpp; each resource's
// file (admin/*Routes.cpp) adds its own to the route table.
#pragma once

#include <uv.h>

#include <string>

#include "admin/AdminRequestGate.h"
#include "base/Status.h"
#include "http/HttpServer.h"
#include "http/RouteTable.h"
#include "server/Server.h"

namespace mega {

class AdminApi : public HttpEndpoint {
  public:
    AdminApi(uv_loop_t* loop, Server* server);
    Status Listen(const std::string& address) override;  // "host:port"; port 0: any free one
    int port() const override { return http_.port(); }
    void Shutdown() override { http_.Shutdown(); }

  private:
    void Handle(HttpRequest&& request, HttpResponder responder);

    Server* server_;
    AdminRequestGate gate_;
    RouteTable routes_;
    HttpServer http_;
};

}  // namespace mega
