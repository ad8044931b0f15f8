// SharedTokens: the accounts' access tokens kept where every node sees them (Redis, see
// queue/REDIS.md "Access tokens"), so that one node at a time asks WeChat for a token and
// the others take it from there. Blocking calls with short timeouts, made by a sender thread
// that needs a token (never the loop thread); thread-safe. Tokens are secrets: never logged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/Status.h"

namespace mega {

class SharedTokens {
  public:
    virtual ~SharedTokens() = default;
    // The token kept for `account` and the unix ms until which it may be used. NotFound when
    // none is kept (or it is over), Unavailable when the store cannot be reached.
    virtual Status Load(std::string_view account, std::string* token, int64_t* use_until_ms) = 0;
    // The refresh lock of `account` for `ttl_ms`: *got is false when another node holds it.
    virtual Status Lock(std::string_view account, int64_t ttl_ms, bool* got) = 0;
    // Keeps a fresh token until `use_until_ms` and releases the lock.
    virtual Status Store(std::string_view account, std::string_view token,
                         int64_t use_until_ms) = 0;
    // Releases the lock (a failed fetch), if this node still holds it.
    virtual void Unlock(std::string_view account) = 0;
};

}  // namespace mega
