// EventEndpoint: the checks are PushCheck's; the journal append (write + fdatasync) runs on
// the thread pool and the `success` goes out when it is done. A failed append answers 503, so
// that WeChat pushes the event again.
#include "events/EventEndpoint.h"

#include <spdlog/spdlog.h>

#include "base/Clock.h"
#include "base/OffLoop.h"
#include "events/PushCheck.h"
#include "http/Address.h"

namespace mega {
namespace {

HttpResponse Text(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
}

HttpServerLimits EventLimits() {
    HttpServerLimits limits;
    limits.request.max_body_bytes = 64 << 10;  // an event is a few hundred bytes
    limits.max_connections = 1024;
    limits.idle_timeout_ms = 60000;
    return limits;
}

}  // namespace

EventEndpoint::EventEndpoint(uv_loop_t* loop, const Config& config, ReceiptWriter::OnEnded on_ended,
                             ReceiptWriter::OnChoice on_choice)
    : loop_(loop),
      config_(config),
      http_(
          loop, [this](HttpRequest&& r, HttpResponder p) { Handle(std::move(r), p); },
          EventLimits(), "events"),
      writer_(config, &journal_, std::move(on_ended), std::move(on_choice)) {
    routes_.Add("GET", "/wechat/:account", RequestBody::kNone, [this](HttpCall& c) { Verify(c); });
    routes_.Add("POST", "/wechat/:account", RequestBody::kRaw, [this](HttpCall& c) { Push(c); });
}

EventEndpoint::~EventEndpoint() {
    *alive_ = false;
}

Status EventEndpoint::Start(const std::string& address) {
    std::string host;
    int port = 0;
    if (Status s = SplitHostPort(address, "[events] listen", &host, &port); !s.ok()) return s;
    std::vector<std::pair<Receipt, uint64_t>> pending;
    if (Status s = journal_.Open(config_.queue_file_path, &pending); !s.ok()) return s;
    for (auto& [receipt, end] : pending) writer_.Add(std::move(receipt), end);
    if (!pending.empty()) spdlog::info("events: {} journaled events to apply", pending.size());
    writer_.Start();
    if (Status s = http_.Listen(host, port); !s.ok())
        return Status::IoError("events endpoint: " + s.message());
    spdlog::info("events endpoint on {}:{}", host, http_.port());
    return Status::Ok();
}

void EventEndpoint::Shutdown() {
    http_.Shutdown();
}

ReceiptCounts EventEndpoint::Counts() const {
    ReceiptCounts c = counts_;
    writer_.Counts(&c);
    return c;
}

void EventEndpoint::Handle(HttpRequest&& request, HttpResponder responder) {
    RouteTable::Match match = routes_.Find(request.method, request.path);
    if (match.route == nullptr)
        return responder.Send(Text(match.allow.empty() ? 404 : 405, "no such endpoint\n"));
    HttpCall call{std::move(request), std::move(match.params), {}, responder, {}};
    call.body.SetObject();
    match.route->handler(call);
}

void EventEndpoint::Verify(HttpCall& call) {
    EventAccount account;
    if (!FindEventAccount(config_, call.Param("account"), &account).ok())
        return call.responder.Send(Text(404, "no such account\n"));
    std::string echostr;
    Status s = VerifyUrl(account, call.request, NowMs() / 1000, &echostr);
    if (!s.ok()) {
        spdlog::warn("events: URL verification for {} refused: {}", account.name, s.message());
        return call.responder.Send(Text(403, "forbidden\n"));
    }
    counts_.verified++;
    call.responder.Send(Text(200, echostr));
}

void EventEndpoint::Push(HttpCall& call) {
    EventAccount account;
    if (!FindEventAccount(config_, call.Param("account"), &account).ok())
        return call.responder.Send(Text(404, "no such account\n"));
    WechatEvent event;
    PushRefusal why;
    if (Status s = OpenPush(account, call.request, NowMs() / 1000, &event, &why); !s.ok()) {
        uint64_t& counter = why == PushRefusal::kSignature ? counts_.bad_signature
                            : why == PushRefusal::kStale   ? counts_.stale
                            : why == PushRefusal::kAppid   ? counts_.bad_appid
                                                           : counts_.malformed;
        counter++;
        spdlog::warn("events: push for {} refused: {}", account.name, s.message());
        return call.responder.Send(Text(why == PushRefusal::kMalformed ? 400 : 403, "refused\n"));
    }
    counts_.pushes++;
    auto receipts = std::make_shared<std::vector<Receipt>>(ReceiptsOf(event));
    if (receipts->empty()) return call.responder.Send(Text(200, "success"));
    auto status = std::make_shared<Status>();
    OffLoop(
        loop_,
        [this, receipts, status] {
            *status = journal_.Append(std::move(*receipts), [this](Receipt&& r, uint64_t end) {
                writer_.Add(std::move(r), end);
            });
        },
        [alive = alive_, this, status, responder = call.responder] {
            if (!*alive) return;
            if (status->ok()) return responder.Send(Text(200, "success"));
            counts_.journal_errors++;
            spdlog::error("events: journal: {}", status->message());
            responder.Send(Text(503, "try again\n"));
        });
}

}  // namespace mega
