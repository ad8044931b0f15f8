// EventEndpoint ([events] listen): WeChat's server URL, /wechat/ACCOUNT. GET answers WeChat's
// URL verification (echostr or 403); POST takes an event push (plain or safe mode), keeps what
// mega uses in the durable journal and only then answers `success` (WeChat waits 5 s and
// retries 3 times; the receipt writer counts the repeats). Refused pushes (403 / 400) change
// nothing. The receipt writer applies the journal to MySQL on its own thread.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "base/Status.h"
#include "config/Config.h"
#include "events/ReceiptJournal.h"
#include "events/ReceiptWriter.h"
#include "http/HttpServer.h"
#include "http/RouteTable.h"

namespace mega {

class EventEndpoint {
  public:
    // `on_ended` (receipt writer's thread) hears of each message a receipt ended.
    // `on_choice` (the same thread) hears of each subscribe choice recorded.
    EventEndpoint(uv_loop_t* loop, const Config& config, ReceiptWriter::OnEnded on_ended = {},
                  ReceiptWriter::OnChoice on_choice = {});
    ~EventEndpoint();
    // Blocking, at start: opens the journal (resuming what was not applied), starts the writer
    // and listens on "host:port" (port 0: any free one).
    Status Start(const std::string& address);
    int port() const { return http_.port(); }
    void Shutdown();
    ReceiptCounts Counts() const;  // loop thread

  private:
    void Handle(HttpRequest&& request, HttpResponder responder);
    void Verify(HttpCall& call);
    void Push(HttpCall& call);

    uv_loop_t* loop_;
    const Config& config_;
    RouteTable routes_;
    HttpServer http_;
    ReceiptJournal journal_;
    ReceiptWriter writer_;
    ReceiptCounts counts_;  // loop thread: the endpoint's own counters
    // Lives while journal appends are on the thread pool: their replies check it.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mega
