// RedisLink: hiredis's async context on the loop (hiredis/adapters/libuv.h), the backlog of
// commands while down, and the reconnect timer.
#include "queue/RedisLink.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

namespace mega {
namespace {

constexpr uint64_t kSentinelTimeoutMs = 2000;  // a sentinel's answer, connect included

void CloseTimer(std::unique_ptr<uv_timer_t> timer) {
    uv_timer_stop(timer.get());
    uv_close(reinterpret_cast<uv_handle_t*>(timer.release()),
             [](uv_handle_t* h) { std::unique_ptr<uv_timer_t>(reinterpret_cast<uv_timer_t*>(h)); });
}

// The libuv adapter of Debian's hiredis 0.14 drops poll errors (status < 0): when Redis dies
// while a write is pending, libuv reports POLLERR as an error and stops the poll, and the link
// would never learn it is gone. The same glue as the adapter's, but an error becomes a read,
// which meets the closed socket and disconnects.
void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* p = static_cast<redisLibuvEvents*>(handle->data);
    if (status < 0) events = UV_READABLE;
    if (p->context != nullptr && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
    if (p->context != nullptr && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

void SetEvents(void* privdata, int add, int remove) {
    auto* p = static_cast<redisLibuvEvents*>(privdata);
    p->events = (p->events | add) & ~remove;
    if (p->events)
        uv_poll_start(&p->handle, p->events, OnPoll);
    else
        uv_poll_stop(&p->handle);
}

void AddRead(void* p) {
    SetEvents(p, UV_READABLE, 0);
}
void DelRead(void* p) {
    SetEvents(p, 0, UV_READABLE);
}
void AddWrite(void* p) {
    SetEvents(p, UV_WRITABLE, 0);
}
void DelWrite(void* p) {
    SetEvents(p, 0, UV_WRITABLE);
}

}  // namespace

Status RedisAddress::Parse(const std::string& url, RedisAddress* out) {
    RedisAddress a;
    auto number = [](const std::string& s, int lo, int hi, int* n) {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
        *n = std::atoi(s.c_str());
        return *n >= lo && *n <= hi;
    };
    if (url.starts_with("unix://")) {
        std::string rest = url.substr(7);
        const size_t q = rest.find("?db=");
        if (q != std::string::npos && !number(rest.substr(q + 4), 0, 1000, &a.db))
            return Status::Invalid("[redis] url: bad ?db= in " + rest);
        a.unix_path = rest.substr(0, q);
        if (a.unix_path.empty()) return Status::Invalid("[redis] url: unix:// needs a path");
        *out = a;
        return Status::Ok();
    }
    if (!url.starts_with("redis://"))
        return Status::Invalid("[redis] url: expected redis://[:password@]host:port/db");
    std::string rest = url.substr(8);
    const size_t at = rest.rfind('@');
    if (at != std::string::npos) {
        std::string auth = rest.substr(0, at);
        a.password = auth.starts_with(":") ? auth.substr(1) : auth.substr(auth.find(':') + 1);
        rest = rest.substr(at + 1);
    }
    const size_t slash = rest.find('/');
    if (slash != std::string::npos) {
        if (slash + 1 < rest.size() && !number(rest.substr(slash + 1), 0, 1000, &a.db))
            return Status::Invalid("[redis] url: the database must be a number");
        rest = rest.substr(0, slash);
    }
    const size_t colon = rest.rfind(':');
    a.host = rest.substr(0, colon);
    if (colon != std::string::npos && !number(rest.substr(colon + 1), 1, 65535, &a.port))
        return Status::Invalid("[redis] url: the port must be 1..65535");
    if (a.host.empty()) return Status::Invalid("[redis] url: no host");
    *out = a;
    return Status::Ok();
}

RedisLink::RedisLink(uv_loop_t* loop, RedisAddress address, std::string name,
                     std::function<void(bool up)> on_state)
    : loop_(loop),
      address_(std::move(address)),
      name_(std::move(name)),
      on_state_(std::move(on_state)),
      retry_timer_(std::make_unique<uv_timer_t>()),
      sentinel_timer_(std::make_unique<uv_timer_t>()) {
    uv_timer_init(loop_, retry_timer_.get());
    retry_timer_->data = this;
    uv_timer_init(loop_, sentinel_timer_.get());
    sentinel_timer_->data = this;
}

RedisLink::~RedisLink() {
    Close(true);
}

Status RedisAddress::ParseSentinels(const std::string& list, RedisAddress* out) {
    out->sentinels.clear();
    size_t at = 0;
    while (at <= list.size()) {
        size_t end = std::min(list.find(',', at), list.size());
        std::string item = list.substr(at, end - at);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        const size_t colon = item.rfind(':');
        const std::string port = colon == std::string::npos ? "" : item.substr(colon + 1);
        const int n = std::atoi(port.c_str());
        if (colon == 0 || colon == std::string::npos || port.empty() ||
            port.find_first_not_of("0123456789") != std::string::npos || n < 1 || n > 65535)
            return Status::Invalid("[redis] sentinels: expected host:port,host:port, got '" + item +
                                   "'");
        out->sentinels.emplace_back(item.substr(0, colon), n);
        at = end + 1;
    }
    return Status::Ok();
}

Status FindPrimaryBlocking(RedisAddress* a) {
    for (const auto& [host, port] : a->sentinels) {
        const timeval timeout{2, 0};
        std::unique_ptr<redisContext, void (*)(redisContext*)> c(
            redisConnectWithTimeout(host.c_str(), port, timeout), redisFree);
        if (!c || c->err) continue;
        redisSetTimeout(c.get(), timeout);
        auto* r = static_cast<redisReply*>(
            redisCommand(c.get(), "SENTINEL get-master-addr-by-name %s", a->master_name.c_str()));
        std::unique_ptr<redisReply, void (*)(void*)> reply(r, freeReplyObject);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) continue;
        a->host.assign(r->element[0]->str, r->element[0]->len);
        a->port = std::atoi(r->element[1]->str);
        a->unix_path.clear();
        return Status::Ok();
    }
    return Status::Unavailable("no sentinel of [redis] sentinels knows the primary " +
                               a->master_name);
}

Status ConnectBlocking(const RedisAddress& address, int connect_ms, int command_ms,
                       RedisContextPtr* out) {
    const timeval connect{connect_ms / 1000, (connect_ms % 1000) * 1000};
    RedisContextPtr c(address.unix_path.empty()
                          ? redisConnectWithTimeout(address.host.c_str(), address.port, connect)
                          : redisConnectUnixWithTimeout(address.unix_path.c_str(), connect),
                      redisFree);
    if (!c || c->err)
        return Status::Unavailable(std::string("cannot reach redis: ") +
                                   (c ? c->errstr : "out of memory"));
    if (command_ms > 0) redisSetTimeout(c.get(), {command_ms / 1000, (command_ms % 1000) * 1000});
    if (!address.password.empty()) {
        RedisReplyPtr r = RunBlocking(c.get(), {"AUTH", address.password});
        if (!r || r->type == REDIS_REPLY_ERROR) return Status::Unavailable("redis refused AUTH");
    }
    if (address.db != 0) {
        RedisReplyPtr r = RunBlocking(c.get(), {"SELECT", std::to_string(address.db)});
        if (!r || r->type == REDIS_REPLY_ERROR)
            return Status::Unavailable("redis refused SELECT " + std::to_string(address.db));
    }
    *out = std::move(c);
    return Status::Ok();
}

RedisReplyPtr RunBlocking(redisContext* c, const std::vector<std::string>& argv) {
    std::vector<const char*> args;
    std::vector<size_t> lens;
    for (const std::string& a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    void* r = redisCommandArgv(c, int(args.size()), args.data(), lens.data());
    return RedisReplyPtr(static_cast<redisReply*>(r), freeReplyObject);
}

void RedisLink::Connect() {
    if (closing_ || ctx_ || sentinel_) return;
    if (!address_.sentinels.empty()) return AskSentinel(0);
    ConnectToPrimary();
}

// Asks sentinel `index` where the primary is; the answer (OnSentinelReply) connects to it, or
// asks the next sentinel. Past the last one, the link is lost and retries later.
void RedisLink::AskSentinel(size_t index) {
    if (closing_) return;
    if (index >= address_.sentinels.size()) return Lost("no sentinel knows the primary");
    const auto& [host, port] = address_.sentinels[index];
    redisAsyncContext* sc = redisAsyncConnect(host.c_str(), port);
    if (!sc || sc->err) {
        if (sc) redisAsyncFree(sc);
        return AskSentinel(index + 1);
    }
    sentinel_ = sc;
    sentinel_index_ = index;
    sc->data = this;
    redisLibuvAttach(sc, loop_);
    sc->ev.addRead = AddRead;
    sc->ev.delRead = DelRead;
    sc->ev.addWrite = AddWrite;
    sc->ev.delWrite = DelWrite;
    // Called once: with the answer, or with null when the connection failed or was freed.
    redisAsyncCommand(sc, OnSentinelReply, nullptr, "SENTINEL get-master-addr-by-name %s",
                      address_.master_name.c_str());
    uv_timer_start(sentinel_timer_.get(), OnSentinelTimeout, kSentinelTimeoutMs, 0);
}

void RedisLink::OnSentinelTimeout(uv_timer_t* t) {
    auto* self = static_cast<RedisLink*>(t->data);
    if (!self->sentinel_) return;
    const auto& [host, port] = self->address_.sentinels[self->sentinel_index_];
    spdlog::warn("redis {}: sentinel {}:{} did not answer within {} ms", self->name_, host, port,
                 kSentinelTimeoutMs);
    redisAsyncFree(self->sentinel_);  // its callback (a null reply) asks the next sentinel
}

void RedisLink::OnSentinelReply(redisAsyncContext* ac, void* reply, void*) {
    auto* self = static_cast<RedisLink*>(ac->data);
    auto* r = static_cast<redisReply*>(reply);
    self->sentinel_ = nullptr;
    if (self->sentinel_timer_) uv_timer_stop(self->sentinel_timer_.get());
    if (r) redisAsyncDisconnect(ac);  // after this callback; hiredis frees the context
    if (self->closing_) return;
    const size_t index = self->sentinel_index_;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return self->AskSentinel(index + 1);
    const std::string host(r->element[0]->str, r->element[0]->len);
    const int port = std::atoi(r->element[1]->str);
    if (host != self->address_.host || port != self->address_.port)
        spdlog::info("redis {}: the primary of {} is {}:{} (sentinel {}:{})", self->name_,
                     self->address_.master_name, host, port, self->address_.sentinels[index].first,
                     self->address_.sentinels[index].second);
    self->address_.host = host;
    self->address_.port = port;
    self->address_.unix_path.clear();
    self->ConnectToPrimary();
}

// The primary turned replica under us (a failover): away, and back through the sentinels.
void RedisLink::Reconnect(const char* why) {
    if (!up_ || !ctx_ || address_.sentinels.empty() || (ctx_->c.flags & REDIS_DISCONNECTING))
        return;
    spdlog::warn("redis {}: {}: asking the sentinels again", name_, why);
    redisAsyncDisconnect(ctx_);
}

void RedisLink::ConnectToPrimary() {
    if (closing_ || ctx_) return;
    ctx_ = address_.unix_path.empty() ? redisAsyncConnect(address_.host.c_str(), address_.port)
                                      : redisAsyncConnectUnix(address_.unix_path.c_str());
    if (!ctx_ || ctx_->err) {
        if (ctx_) redisAsyncFree(ctx_);
        ctx_ = nullptr;
        Lost("cannot connect");
        return;
    }
    ctx_->data = this;
    redisLibuvAttach(ctx_, loop_);
    ctx_->ev.addRead = AddRead;
    ctx_->ev.delRead = DelRead;
    ctx_->ev.addWrite = AddWrite;
    ctx_->ev.delWrite = DelWrite;
    redisAsyncSetConnectCallback(ctx_, OnConnect);
    redisAsyncSetDisconnectCallback(ctx_, OnDisconnect);
}

void RedisLink::OnConnect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<RedisLink*>(ac->data);
    if (status != REDIS_OK) {  // hiredis frees the context after this callback
        self->ctx_ = nullptr;
        self->Lost(ac->errstr);
        return;
    }
    self->up_ = true;
    self->failed_ = false;
    self->backoff_ms_ = 100;
    spdlog::info("redis {}: connected", self->name_);
    if (!self->address_.password.empty())
        self->Issue({{"AUTH", self->address_.password}, [name = self->name_](redisReply* r) {
                         if (r && r->type == REDIS_REPLY_ERROR)
                             spdlog::error("redis {}: AUTH refused", name);  // not the password
                     }});
    if (self->address_.db != 0) self->Issue({{"SELECT", std::to_string(self->address_.db)}, {}});
    std::deque<Command> waiting;
    waiting.swap(self->backlog_);
    for (Command& c : waiting) self->Issue(std::move(c));
    if (self->closing_) {  // closed while connecting: what was asked for goes, then we go
        // (With a reply pending, hiredis only marks the context: freeing it here, inside its
        // connect handling, would pull it from under hiredis.)
        self->Issue({{"PING"}, {}});
        redisAsyncDisconnect(self->ctx_);
        return;
    }
    if (self->on_state_) self->on_state_(true);
}

void RedisLink::OnDisconnect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<RedisLink*>(ac->data);
    self->ctx_ = nullptr;  // freed by hiredis after this callback
    const bool was_up = self->up_;
    self->up_ = false;
    if (self->closing_) return;
    self->Lost(status == REDIS_OK ? "disconnected" : ac->errstr);
    if (was_up && self->on_state_) self->on_state_(false);
}

void RedisLink::Lost(const char* why) {
    up_ = false;
    failed_ = true;
    if (closing_) return;
    if (backoff_ms_ == 100 || backoff_ms_ >= 5000)
        spdlog::warn("redis {}: {} (retrying every {} ms at most)", name_, why ? why : "lost",
                     backoff_ms_);
    uv_timer_start(retry_timer_.get(), OnRetryTimer, uint64_t(backoff_ms_), 0);
    backoff_ms_ = std::min(backoff_ms_ * 2, 5000);
}

void RedisLink::OnRetryTimer(uv_timer_t* t) {
    static_cast<RedisLink*>(t->data)->Connect();
}

void RedisLink::Send(std::vector<std::string> argv, Reply done) {
    Command c{std::move(argv), std::move(done)};
    if (!up_ || closing_) {
        backlog_.push_back(std::move(c));
        return;
    }
    Issue(std::move(c));
}

void RedisLink::Issue(Command c) {
    std::vector<const char*> args;
    std::vector<size_t> lens;
    for (const std::string& a : c.argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    auto done = std::make_unique<Reply>(std::move(c.done));
    if (redisAsyncCommandArgv(ctx_, OnReply, done.get(), int(args.size()), args.data(),
                              lens.data()) == REDIS_OK) {
        (void)done.release();  // owned by the pending reply now (OnReply)
        return;
    }
    backlog_.push_back({std::move(c.argv), std::move(*done)});
}

void RedisLink::OnReply(redisAsyncContext* ac, void* reply, void* privdata) {
    std::unique_ptr<Reply> done(static_cast<Reply*>(privdata));
    auto* r = static_cast<redisReply*>(reply);
    // Before `done`, which may close the link: the disconnect waits for this callback's end.
    if (r && r->type == REDIS_REPLY_ERROR && ac->data) {
        const std::string_view error(r->str, r->len);
        if (error.starts_with("READONLY") || error.starts_with("UNBLOCKED"))
            static_cast<RedisLink*>(ac->data)->Reconnect("the primary became a replica");
    }
    if (*done) (*done)(r);
}

void RedisLink::Close(bool now) {
    if (!closing_) {
        closing_ = true;
        CloseTimer(std::move(retry_timer_));
        CloseTimer(std::move(sentinel_timer_));
    }
    if (sentinel_) {  // asking a sentinel: its (null) answer sees closing_ and stops there
        redisAsyncContext* sc = sentinel_;
        sentinel_ = nullptr;
        redisAsyncFree(sc);
    }
    if (!ctx_) {
        backlog_.clear();
        return;
    }
    redisAsyncContext* ac = ctx_;
    if (!now && !up_ && !failed_) return;  // connecting: OnConnect sends the backlog and goes
    backlog_.clear();
    if (now || !up_) {  // hiredis calls OnDisconnect only for a connected context
        ctx_ = nullptr;
        up_ = false;
        redisAsyncFree(ac);  // the pending replies are called with null
    } else {
        redisAsyncDisconnect(ac);  // after the pending replies
    }
}

}  // namespace mega
