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

using ReplyPtr = RedisReplyPtr;

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
    ctx_.reset();
}

Status RedisTokenStore::Connect() {
    if (ctx_) return Status::Ok();
    Status s = ConnectBlocking(address_, 1000, 1000, &ctx_);
    return s.ok() ? s : Status::Unavailable("the token store: " + s.message());
}

Status RedisTokenStore::Load(std::string_view account, std::string* token, int64_t* use_until_ms) {
    std::lock_guard lock(mu_);
    if (Status s = Connect(); !s.ok()) return s;
    ReplyPtr r = RunBlocking(ctx_.get(), {"GET", TokenKey(account)});
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
    ReplyPtr r = RunBlocking(ctx_.get(),
                             {"SET", LockKey(account), node_, "NX", "PX", std::to_string(ttl_ms)});
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
        ReplyPtr r =
            RunBlocking(ctx_.get(), {"SET", TokenKey(account), value, "PX", std::to_string(ttl)});
        std::fill(value.begin(), value.end(), '\0');
        if (!r || r->type == REDIS_REPLY_ERROR) {
            Drop();
            return Status::Unavailable("the token store (redis) did not answer");
        }
    }
    ReplyPtr r = RunBlocking(ctx_.get(), {"EVAL", kUnlockScript, "1", LockKey(account), node_});
    if (!r) Drop();
    return Status::Ok();
}

void RedisTokenStore::Unlock(std::string_view account) {
    std::lock_guard lock(mu_);
    if (!Connect().ok()) return;
    ReplyPtr r = RunBlocking(ctx_.get(), {"EVAL", kUnlockScript, "1", LockKey(account), node_});
    if (!r) Drop();
}

}  // namespace mega
