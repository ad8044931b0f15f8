// RedisTokenStore (see RedisTokenStore.h): the access token in `Qtoken:<account>` with the
// time it may be used until, and the refresh lock in `Qtoken-lock:<account>` (SET NX PX,
// released only by the node holding it). No value read or written here is ever logged.
#include "queue/RedisTokenStore.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <vector>

#include "base/Clock.h"

namespace mega {
namespace {

// Deletes the lock only if this node holds it. KEYS: lock. ARGV: node.
constexpr const char* kUnlockScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

using ReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;

ReplyPtr Run(redisContext* c, const std::vector<std::string>& argv) {
    std::vector<const char*> args;
    std::vector<size_t> lens;
    for (const std::string& a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    void* r = redisCommandArgv(c, int(args.size()), args.data(), lens.data());
    return ReplyPtr(static_cast<redisReply*>(r), freeReplyObject);
}

}  // namespace

RedisTokenStore::RedisTokenStore(RedisAddress address, std::string tag, std::string node)
    : address_(std::move(address)), tag_(std::move(tag)), node_(std::move(node)) {}

RedisTokenStore::~RedisTokenStore() {
    std::lock_guard lock(mu_);
    Drop();
}

std::string RedisTokenStore::TokenKey(std::string_view account) const {
    return tag_ + "token:" + std::string(account);
}

std::string RedisTokenStore::LockKey(std::string_view account) const {
    return tag_ + "token-lock:" + std::string(account);
}

void RedisTokenStore::Drop() {
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
}

Status RedisTokenStore::Connect() {
    if (ctx_) return Status::Ok();
    const timeval timeout{1, 0};
    ctx_ = address_.unix_path.empty()
               ? redisConnectWithTimeout(address_.host.c_str(), address_.port, timeout)
               : redisConnectUnixWithTimeout(address_.unix_path.c_str(), timeout);
    if (!ctx_ || ctx_->err) {
        Drop();
        return Status::Unavailable("the token store (redis) cannot be reached");
    }
    redisSetTimeout(ctx_, timeout);
    bool ok = true;
    if (!address_.password.empty()) {
        ReplyPtr r = Run(ctx_, {"AUTH", address_.password});
        ok = r && r->type != REDIS_REPLY_ERROR;
    }
    if (ok && address_.db != 0) {
        ReplyPtr r = Run(ctx_, {"SELECT", std::to_string(address_.db)});
        ok = r && r->type != REDIS_REPLY_ERROR;
    }
    if (!ok) {
        Drop();
        return Status::Unavailable("the token store (redis) refused the connection");
    }
    return Status::Ok();
}

Status RedisTokenStore::Load(std::string_view account, std::string* token, int64_t* use_until_ms) {
    std::lock_guard lock(mu_);
    if (Status s = Connect(); !s.ok()) return s;
    ReplyPtr r = Run(ctx_, {"GET", TokenKey(account)});
    if (!r || r->type == REDIS_REPLY_ERROR) {
        Drop();
        return Status::Unavailable("the token store (redis) did not answer");
    }
    if (r->type != REDIS_REPLY_STRING) return Status::NotFound("no token kept");
    const std::string_view v(r->str, r->len);
    const size_t nl = v.find('\n');
    int64_t until = 0;
    if (nl == std::string_view::npos || nl + 1 >= v.size()) return Status::NotFound("no token");
    std::from_chars(v.data(), v.data() + nl, until);
    if (until <= NowMs()) return Status::NotFound("the token kept is over");
    token->assign(v.substr(nl + 1));
    *use_until_ms = until;
    return Status::Ok();
}

Status RedisTokenStore::Lock(std::string_view account, int64_t ttl_ms, bool* got) {
    std::lock_guard lock(mu_);
    *got = false;
    if (Status s = Connect(); !s.ok()) return s;
    ReplyPtr r = Run(ctx_, {"SET", LockKey(account), node_, "NX", "PX", std::to_string(ttl_ms)});
    if (!r || r->type == REDIS_REPLY_ERROR) {
        Drop();
        return Status::Unavailable("the token store (redis) did not answer");
    }
    *got = r->type == REDIS_REPLY_STATUS;  // OK; nil when another node holds it
    return Status::Ok();
}

Status RedisTokenStore::Store(std::string_view account, std::string_view token,
                              int64_t use_until_ms) {
    std::lock_guard lock(mu_);
    if (Status s = Connect(); !s.ok()) return s;
    const int64_t ttl = use_until_ms - NowMs();
    if (ttl > 0) {
        std::string value = std::to_string(use_until_ms) + "\n";
        value.append(token);
        ReplyPtr r = Run(ctx_, {"SET", TokenKey(account), value, "PX", std::to_string(ttl)});
        std::fill(value.begin(), value.end(), '\0');
        if (!r || r->type == REDIS_REPLY_ERROR) {
            Drop();
            return Status::Unavailable("the token store (redis) did not answer");
        }
    }
    ReplyPtr r = Run(ctx_, {"EVAL", kUnlockScript, "1", LockKey(account), node_});
    if (!r) Drop();
    return Status::Ok();
}

void RedisTokenStore::Unlock(std::string_view account) {
    std::lock_guard lock(mu_);
    if (!Connect().ok()) return;
    ReplyPtr r = Run(ctx_, {"EVAL", kUnlockScript, "1", LockKey(account), node_});
    if (!r) Drop();
}

}  // namespace mega
