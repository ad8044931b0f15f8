// SubmitApi: each POST is read whole (the HTTP layer bounds it at [http] max_body_bytes),
// every message is checked before any is queued, then all go through Server::Accept, the TCP
// push's own path. The 202 waits on the durability of the last record of each priority the
// batch used (records of one priority become durable in order).
#include "api/SubmitApi.h"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <optional>
#include <vector>

#include "base/ConstantTime.h"
#include "base/EmbeddedFile.h"
#include "base/OffLoop.h"
#include "http/Address.h"
#include "http/HttpReply.h"
#include "http/RequestFields.h"
#include "protocol/JsonCheck.h"
#include "store/MessageQueries.h"

namespace mega {
namespace {

const char* ErrorCode(int status) {
    switch (status) {
        case 400:
            return "bad_request";
        case 401:
            return "unauthorized";
        case 404:
            return "not_found";
        case 405:
            return "method_not_allowed";
        case 409:
            return "conflict";
        case 413:
            return "too_large";
        case 415:
            return "unsupported_media_type";
        case 422:
            return "invalid";
        case 429:
            return "queue_full";
        case 503:
            return "unavailable";
        default:
            return "internal";
    }
}

struct IndexedError {
    size_t index;
    std::string message;
};

// {"error":{"code","message"[,"errors":[{"index","message"}]]}}
HttpResponse ApiError(int status, std::string_view message,
                      const std::vector<IndexedError>& errors = {}) {
    return JsonReply(
        [&](JsonWriter& w) {
            w.StartObject();
            w.Key("error");
            w.StartObject();
            Field(w, "code", ErrorCode(status));
            Field(w, "message", message);
            if (!errors.empty()) {
                w.Key("errors");
                w.StartArray();
                for (const IndexedError& e : errors) {
                    w.StartObject();
                    Field(w, "index", uint64_t(e.index));
                    Field(w, "message", e.message);
                    w.EndObject();
                }
                w.EndArray();
            }
            w.EndObject();
            w.EndObject();
        },
        status);
}

// A failed Accept: a full queue is 429 (retry later), anything else 503.
HttpResponse AcceptError(const Status& s) {
    if (s.code() == Status::Code::kFull) return ApiError(429, s.message());
    if (s.code() == Status::Code::kInvalid) return ApiError(422, s.message());
    return ApiError(503, "queue write failed");
}

HttpServerLimits SubmitHttpLimits(const Config& config) {
    HttpServerLimits limits;
    limits.request.max_body_bytes = size_t(config.http_max_body_bytes);
    limits.max_connections = 10000;
    limits.idle_timeout_ms = 60000;
    return limits;
}

void WriteAccepted(JsonWriter& w, const Server::Accepted& a) {
    w.StartObject();
    w.Key("id");
    if (a.duplicate)
        w.Null();
    else
        WriteString(w, std::to_string(a.id));
    Field(w, "duplicate", a.duplicate);
    w.EndObject();
}

// The outcome of a ?wait= message: sent with WeChat's msgid, or failed with its error.
HttpResponse OutcomeReply(const FinalOutcome& f) {
    return JsonReply([&](JsonWriter& w) {
        w.StartObject();
        IdField(w, "id", f.id);
        Field(w, "status", f.sent ? "sent" : f.cancelled ? "cancelled" : "failed");
        if (f.result) {
            Field(w, "msgid", f.result->msgid);
            Field(w, "errcode", f.result->errcode);
            if (!f.sent) Field(w, "error", f.result->reply);
        } else if (!f.local_error.empty()) {
            Field(w, "errcode", -1);
            Field(w, "error", f.local_error);
        }
        w.EndObject();
    });
}

// The last record of each priority a batch used: once each is durable, all are.
struct DurableMark {
    std::array<std::optional<AppendTicket>, kPriorityLevels> last;
    void Add(const AppendTicket& t) {
        auto& l = last[size_t(t.level)];
        if (!l) l = t;
        l->seq = std::max(l->seq, t.seq);
        l->key_seq = std::max(l->key_seq, t.key_seq);
    }
};

// Sends the reply `make_reply` writes once every ticket of `mark` is durable (then, on Redis,
// it knows which msgkeys another node had queued already).
void ReplyWhenDurable(Server& server, const DurableMark& mark, HttpResponder responder,
                      std::function<HttpResponse()> make_reply) {
    auto left = std::make_shared<int>(1);  // one for this function: nothing is sent early
    auto one_done = [left, make_reply = std::move(make_reply), responder] {
        if (--*left == 0) responder.Send(make_reply());
    };
    for (const auto& t : mark.last) {
        if (!t) continue;
        ++*left;
        server.WhenDurable(*t, one_done);
    }
    one_done();
}

}  // namespace

struct SubmitApi::Wait {
    Wait(uv_loop_t* loop, HttpResponder r, SubmitApi* owner, uint64_t message_id)
        : timer(loop, uv_timer_init), responder(std::move(r)), api(owner), id(message_id) {}
    UvHandle<uv_timer_t> timer;
    HttpResponder responder;
    SubmitApi* api;
    uint64_t id;
};

SubmitApi::SubmitApi(uv_loop_t* loop, Server* server, const Config& config)
    : server_(server),
      config_(config),
      loop_(loop),
      http_(
          loop, [this](HttpRequest&& r, HttpResponder resp) { Handle(std::move(r), resp); },
          SubmitHttpLimits(config), "submit API") {
    routes_.Add("POST", "/v1/messages", RequestBody::kRaw,
                [this](HttpCall& call) { PostMessages(call); });
    routes_.Add("GET", "/v1/messages", RequestBody::kNone,
                [this](HttpCall& call) { FindMessage(call); });
    routes_.Add("GET", "/v1/messages/:id", RequestBody::kNone,
                [this](HttpCall& call) { GetMessage(call); });
    routes_.Add("DELETE", "/v1/messages/:id", RequestBody::kNone,
                [this](HttpCall& call) { DeleteMessage(call); });
    routes_.Add("GET", "/v1/openapi.json", RequestBody::kNone, [](HttpCall& call) {
        for (const EmbeddedFile& f : ApiFiles()) {
            if (std::string_view(f.name) != "openapi.json") continue;
            HttpResponse r;
            r.content_type = "application/json";
            r.body.assign(f.data, f.size);
            return call.responder.Send(std::move(r));
        }
        call.responder.Send(ApiError(404, "no OpenAPI document"));
    });
}

SubmitApi::~SubmitApi() {
    Shutdown();
}

Status SubmitApi::Listen(const std::string& address) {
    std::string host;
    int port = 0;
    if (Status s = SplitHostPort(address, "[http] listen", &host, &port); !s.ok()) return s;
    if (config_.http_keys.empty() && !IsLoopbackHost(host))
        return Status::Invalid("[http] listen is " + address +
                               ", not a loopback address: set [http] keys first");
    Status s = http_.Listen(host, port);
    if (!s.ok()) return Status::IoError("submit API: " + s.message());
    spdlog::info("submit API on {}:{}", host, http_.port());
    return Status::Ok();
}

void SubmitApi::Shutdown() {
    http_.Shutdown();
    for (auto& [id, wait] : waits_)
        if (server_) server_->ForgetFinal(id);
    waits_.clear();
}

bool SubmitApi::Authorize(const HttpRequest& request, std::string* name) const {
    if (config_.http_keys.empty()) return true;
    const std::string* header = request.Header("authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (!header || !std::string_view(*header).starts_with(kBearer)) return false;
    const std::string_view given = std::string_view(*header).substr(kBearer.size());
    bool found = false;
    for (const Config::ApiKey& key : config_.http_keys) {
        if (ConstantTimeEquals(given, key.secret) && !found) {
            *name = key.name;
            found = true;
        }
    }
    return found;
}

void SubmitApi::Handle(HttpRequest&& request, HttpResponder responder) {
    RouteTable::Match match = routes_.Find(request.method, request.path);
    if (match.route == nullptr) {
        if (match.allow.empty()) return responder.Send(ApiError(404, "no such endpoint"));
        HttpResponse r = ApiError(405, request.method + " is not allowed here");
        r.headers.emplace_back("Allow", match.allow);
        return responder.Send(std::move(r));
    }
    std::string caller;
    if (match.route->pattern != "/v1/openapi.json" && !Authorize(request, &caller)) {
        HttpResponse r = ApiError(401, "a valid API key is required (Authorization: Bearer)");
        r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"mega\"");
        return responder.Send(std::move(r));
    }
    const std::string* type = request.Header("content-type");
    if (request.method == "POST" &&
        (!type || !std::string_view(*type).starts_with("application/json")))
        return responder.Send(ApiError(415, "Content-Type must be application/json"));
    HttpCall call{std::move(request), std::move(match.params), {}, responder, std::move(caller)};
    call.body.SetObject();
    match.route->handler(call);
}

void SubmitApi::PostMessages(HttpCall& call) {
    const std::string& text = call.request.body;
    rapidjson::Document doc;
    if (!protocol::JsonDepthWithin(text))
        return call.responder.Send(ApiError(400, "the body is nested too deeply"));
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError()) return call.responder.Send(ApiError(400, "the body is not JSON"));
    const std::string* idempotency = call.request.Header("idempotency-key");
    std::string wait_text;
    int wait_s = -1;
    if (call.request.QueryParam("wait", &wait_text)) {
        auto [end, ec] =
            std::from_chars(wait_text.data(), wait_text.data() + wait_text.size(), wait_s);
        if (ec != std::errc() || end != wait_text.data() + wait_text.size() || wait_s < 1 ||
            wait_s > config_.http_max_wait_s)
            return call.responder.Send(ApiError(
                400, "wait must be 1 to " + std::to_string(config_.http_max_wait_s) + " seconds"));
    }
    const bool single = doc.IsObject();
    if (!single && !doc.IsArray())
        return call.responder.Send(
            ApiError(422, "the body must be a message object or an array of them"));
    if (!single && (idempotency || wait_s > 0))
        return call.responder.Send(ApiError(
            400, "Idempotency-Key and wait are for one message; give each message its msgkey"));
    const rapidjson::SizeType count = single ? 1 : doc.Size();
    if (count == 0) return call.responder.Send(ApiError(422, "an empty batch"));
    if (count > rapidjson::SizeType(config_.http_max_batch))
        return call.responder.Send(ApiError(
            413, "a batch of at most " + std::to_string(config_.http_max_batch) + " messages"));

    std::vector<SubmitMessage> messages(count);
    std::vector<IndexedError> errors;
    for (rapidjson::SizeType i = 0; i < count; i++) {
        const rapidjson::Value& m = single ? doc : doc[i];
        Status s =
            ParseSubmitMessage(m, call.caller, idempotency ? *idempotency : "", &messages[i]);
        if (s.ok())
            s = server_->Check(messages[i].openid, messages[i].key, messages[i].data,
                               messages[i].options);
        if (!s.ok() && errors.size() < 100) errors.push_back({i, s.message()});
    }
    if (!errors.empty())
        return call.responder.Send(ApiError(
            422, errors.size() == 1 ? errors[0].message : "invalid messages; none was queued",
            errors));
    if (wait_s > 0) return PostAndWait(call, messages[0], wait_s);

    std::vector<Server::Accepted> accepted(count);
    DurableMark mark;
    for (size_t i = 0; i < count; i++) {
        const SubmitMessage& m = messages[i];
        Status s =
            server_->Accept(MessageKind::kPush, m.openid, m.key, m.data, m.options, &accepted[i]);
        if (!s.ok()) {
            if (i > 0)
                spdlog::warn("submit API: a batch stopped after {} of {}: {}", i, count,
                             s.message());
            return call.responder.Send(AcceptError(s));
        }
        if (!accepted[i].duplicate) mark.Add(accepted[i].ticket);
    }
    Server* server = server_;
    auto make_reply = [server, single, accepted = std::move(accepted)]() mutable {
        for (Server::Accepted& a : accepted)
            if (server->TurnedDuplicate(a)) a.duplicate = true;
        return JsonReply(
            [&](JsonWriter& w) {
                if (single) return WriteAccepted(w, accepted[0]);
                w.StartObject();
                w.Key("messages");
                w.StartArray();
                for (const Server::Accepted& a : accepted) WriteAccepted(w, a);
                w.EndArray();
                w.EndObject();
            },
            202);
    };
    ReplyWhenDurable(*server_, mark, call.responder, std::move(make_reply));
}

void SubmitApi::PostAndWait(HttpCall& call, const SubmitMessage& m, int wait_s) {
    Server::Accepted a;
    Status s = server_->Accept(MessageKind::kSend, m.openid, m.key, m.data, m.options, &a);
    if (!s.ok()) return call.responder.Send(AcceptError(s));
    if (a.duplicate)
        return call.responder.Send(JsonReply([&](JsonWriter& w) { WriteAccepted(w, a); }, 202));
    auto wait = std::make_unique<Wait>(loop_, call.responder, this, a.id);
    wait->timer.get()->data = wait.get();
    uv_timer_start(
        wait->timer.get(),
        [](uv_timer_t* t) {
            auto* w = static_cast<Wait*>(t->data);
            const uint64_t id = w->id;
            w->api->server_->ForgetFinal(id);
            w->api->EndWait(id, JsonReply(
                                    [&](JsonWriter& jw) {
                                        jw.StartObject();
                                        IdField(jw, "id", id);
                                        Field(jw, "status", "queued");
                                        jw.EndObject();
                                    },
                                    202));
        },
        uint64_t(wait_s) * 1000, 0);
    const uint64_t id = a.id;
    waits_[id] = std::move(wait);
    server_->WhenFinal(id, [this, id](const FinalOutcome& f) { EndWait(id, OutcomeReply(f)); });
    // On Redis, a msgkey another node queued first has no outcome here: answer it at once.
    server_->WhenDurable(a.ticket, [this, a]() mutable {
        if (!server_->TurnedDuplicate(a)) return;
        server_->ForgetFinal(a.id);
        a.duplicate = true;
        EndWait(a.id, JsonReply([&](JsonWriter& w) { WriteAccepted(w, a); }, 202));
    });
}

void SubmitApi::EndWait(uint64_t id, HttpResponse response) {
    auto it = waits_.find(id);
    if (it == waits_.end()) return;
    it->second->responder.Send(std::move(response));
    waits_.erase(it);  // closes its timer
}

void SubmitApi::GetMessage(HttpCall& call) {
    uint64_t id;
    if (!ParseId(call.Param("id"), &id))
        return call.responder.Send(ApiError(404, "no such message"));
    ReplyLogged(call, [id](const Config& config, MessageRow* row) {
        return mega::GetMessage(config, id, row);
    });
}

void SubmitApi::FindMessage(HttpCall& call) {
    std::string msgkey;
    if (!call.request.QueryParam("msgkey", &msgkey) || msgkey.empty())
        return call.responder.Send(ApiError(400, "give ?msgkey=KEY (or GET /v1/messages/ID)"));
    ReplyLogged(call, [msgkey](const Config& config, MessageRow* row) {
        return FindMessageByMsgkey(config, msgkey, row);
    });
}

// Looks the message up in the message log off the loop and answers with its status.
void SubmitApi::ReplyLogged(HttpCall& call, LogLookup lookup) {
    if (!config_.message_log)
        return call.responder.Send(
            ApiError(503, "message status needs the message log ([log] message_log = 1)"));
    struct Result {
        Status status;
        MessageRow row;
    };
    auto result = std::make_shared<Result>();
    OffLoop(
        loop_,
        [config = &config_, lookup = std::move(lookup), result] {
            result->status = lookup(*config, &result->row);
        },
        [result, responder = call.responder] {
            if (result->status.code() == Status::Code::kNotFound)
                return responder.Send(ApiError(
                    404, "no such message (the log shows one within a second of its 202)"));
            const Status s = MessageStoreStatus(result->status, "GET /v1/messages");
            if (!s.ok()) return responder.Send(ApiError(503, s.message()));
            const MessageRow& r = result->row;
            responder.Send(JsonReply([&](JsonWriter& w) {
                w.StartObject();
                IdField(w, "id", r.id);
                Field(w, "status", r.status);
                Field(w, "attempts", r.attempts);
                Field(w, "errcode", r.errcode);
                Field(w, "error", r.errmsg);
                IdField(w, "msgid", r.msgid);
                w.EndObject();
            }));
        });
}

void SubmitApi::DeleteMessage(HttpCall& call) {
    uint64_t id;
    if (!ParseId(call.Param("id"), &id))
        return call.responder.Send(ApiError(404, "no such message"));
    if (!server_->dispatcher().Cancel(id))
        return call.responder.Send(
            ApiError(409, "not cancellable: only a delayed or retrying message can be cancelled"));
    call.responder.Send(JsonReply([&](JsonWriter& w) {
        w.StartObject();
        IdField(w, "id", id);
        Field(w, "status", "cancelled");
        w.EndObject();
    }));
}

}  // namespace mega
