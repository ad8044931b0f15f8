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
      retry_timer_(std::make_unique<uv_timer_t>()) {
    uv_timer_init(loop_, retry_timer_.get());
    retry_timer_->data = this;
}

RedisLink::~RedisLink() {
    Close(true);
}

void RedisLink::Connect() {
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

void RedisLink::OnReply(redisAsyncContext*, void* reply, void* privdata) {
    std::unique_ptr<Reply> done(static_cast<Reply*>(privdata));
    if (*done) (*done)(static_cast<redisReply*>(reply));
}

void RedisLink::Close(bool now) {
    if (!closing_) {
        closing_ = true;
        uv_timer_stop(retry_timer_.get());
        uv_close(reinterpret_cast<uv_handle_t*>(retry_timer_.release()), [](uv_handle_t* h) {
            std::unique_ptr<uv_timer_t>(reinterpret_cast<uv_timer_t*>(h));
        });
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
