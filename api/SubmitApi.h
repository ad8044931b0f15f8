// The HTTP submit API ([http] listen): business code posts messages over HTTP/1.1 instead of
// the TCP protocol, with the push's guarantees (acknowledged = durable as fsync says,
// idempotent by msgkey, the same options). Routes, in api/openapi.json:
//   POST   /v1/messages            one message or an array (all queued, or none: 422)
//   POST   /v1/messages?wait=S     one message; answers with its outcome, as a TCP send
//   GET    /v1/messages/ID         status from the message log
//   GET    /v1/messages?msgkey=K   the same, found by its msgkey
//   DELETE /v1/messages/ID         cancels a delayed or retrying message
//   GET    /v1/openapi.json        this API's OpenAPI 3.1 document (no key needed)
// Authorization: Bearer SECRET of one of [http] keys (name:secret); the name becomes the
// message's source. No keys: anonymous, and only on a loopback address. Errors are
// {"error":{"code","message"}}.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "base/Status.h"
#include "config/Config.h"
#include "http/HttpServer.h"
#include "http/RouteTable.h"
#include "http/UvHandle.h"
#include "protocol/SubmitMessage.h"
#include "server/Server.h"
#include "store/MessageQueries.h"

namespace mega {

class SubmitApi : public HttpEndpoint {
  public:
    // `server` may be null where only the routes are looked at (tests).
    SubmitApi(uv_loop_t* loop, Server* server, const Config& config);
    ~SubmitApi() override;
    Status Listen(const std::string& address) override;  // "host:port"; port 0: any free one
    int port() const override { return http_.port(); }
    void Shutdown() override;
    const RouteTable& routes() const { return routes_; }

  private:
    struct Wait;  // a ?wait= request waiting for its outcome
    void Handle(HttpRequest&& request, HttpResponder responder);
    // The caller's key name ("" when anonymous); false when the key is missing or wrong.
    bool Authorize(const HttpRequest& request, std::string* name) const;
    void PostMessages(HttpCall& call);
    void PostAndWait(HttpCall& call, const SubmitMessage& message, int wait_s);
    void GetMessage(HttpCall& call);
    void FindMessage(HttpCall& call);  // ?msgkey=
    using LogLookup = std::function<Status(const Config&, MessageRow*)>;
    void ReplyLogged(HttpCall& call, LogLookup lookup);
    void DeleteMessage(HttpCall& call);
    void EndWait(uint64_t id, HttpResponse response);

    Server* server_;
    const Config& config_;
    uv_loop_t* loop_;
    RouteTable routes_;
    HttpServer http_;
    std::unordered_map<uint64_t, std::unique_ptr<Wait>> waits_;  // by message id
};

}  // namespace mega
