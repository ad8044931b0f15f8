// RedisTokenStore: SharedTokens (queue/SharedTokens.h) on Redis, for the Redis queue backend:
// its own blocking connection (hiredis, 1 s timeouts), used by the sender threads under a
// mutex and connected again on the next call after an error. Keys in queue/REDIS.md.
#pragma once

#include <mutex>
#include <string>

#include "queue/RedisLink.h"
#include "queue/SharedTokens.h"

namespace mega {

class RedisTokenStore final : public SharedTokens {
  public:
    // `tag`: the queue's key prefix and hash tag ("mega:{wx123}:"); `node`: this node's id.
    RedisTokenStore(RedisAddress address, std::string tag, std::string node);
    ~RedisTokenStore() override;
    RedisTokenStore(const RedisTokenStore&) = delete;
    RedisTokenStore& operator=(const RedisTokenStore&) = delete;

    Status Load(std::string_view account, std::string* token, int64_t* use_until_ms) override;
    Status Lock(std::string_view account, int64_t ttl_ms, bool* got) override;
    Status Store(std::string_view account, std::string_view token, int64_t use_until_ms) override;
    void Unlock(std::string_view account) override;

  private:
    Status Connect();  // with mu_ held
    void Drop();       // with mu_ held: after an error, a fresh connection next time
    std::string TokenKey(std::string_view account) const;
    std::string LockKey(std::string_view account) const;

    RedisAddress address_;
    std::string tag_, node_;
    std::mutex mu_;
    RedisContextPtr ctx_{nullptr, nullptr};  // guarded by mu_
};

}  // namespace mega
