// The account's access_token, shared by every sender thread. One fetch at a time (single
// flight); a token is used until shortly before expires_in. Readers on the hot path compare
// an atomic generation number and touch the mutex only when the token changed.
// On 40001/40014/42001 a sender calls Invalidate(generation it used): the token is expired
// only if it is still that one, so a burst of failures causes a single refresh.
// With a shared store (ShareThrough: the Redis backend's) the nodes share it too.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "base/Status.h"
#include "config/Config.h"
#include "delivery/ApiBases.h"
#include "queue/SharedTokens.h"

namespace mega {

class TokenCache {
  public:
    explicit TokenCache(const Config& config);
    // A credential that is never fetched nor expires (a WeCom group robot's webhook key):
    // Get always answers it, Invalidate does nothing.
    TokenCache(const Config& config, std::string fixed_credential);
    // A WeCom app's token: GET /cgi-bin/gettoken?corpid=&corpsecret= (config's app_id and
    // app_secret hold the corp_id and corp_secret).
    struct WecomGettoken {};
    TokenCache(const Config& config, WecomGettoken);

    // A valid token and its generation. Blocks while another thread fetches one; fetches it
    // itself (blocking HTTP, with the configured timeout) if nobody is. Unavailable on a
    // network failure, Invalid when WeChat refuses the credentials (errcode in message, never
    // the secret).
    Status Get(std::string* token, uint64_t* generation);
    // Shares the token of `account` with the other nodes (the Redis backend's store): one
    // node at a time fetches it, under a lock, and keeps it there; the others take it from
    // there. Call before the first Get; `shared` outlives this cache.
    void ShareThrough(SharedTokens* shared, std::string account);
    void Invalidate(uint64_t generation);

    uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    uint64_t refreshes() const { return refreshes_.load(std::memory_order_relaxed); }
    // Why the last fetch failed; empty when the last fetch worked (or none was needed yet).
    std::string LastError();
    // WeChat's errcode when it refused the credentials on the last fetch (40013, 40125, ...);
    // 0 when the last fetch worked or failed otherwise (network, system busy).
    int RefusedErrcode();
    // The API base URLs (failover), shared with the sender threads.
    ApiBases& bases() { return bases_; }

  private:
    Status Fetch(bool force_refresh, std::string* token, int* expires_in);
    // A token from WeChat (failover, forced refresh) and how long it may be used (ms).
    Status FetchOwn(std::string* token, int64_t* valid_ms);
    // The token the other nodes keep, or one fetched here under the refresh lock and kept.
    Status FetchShared(std::string* token, int64_t* valid_ms);
    bool MayForceRefresh(int64_t now_ms);

    const Config& config_;
    ApiBases bases_;
    std::string rejected_;           // the token WeChat last rejected (stable: force a new one)
    int64_t forced_at_ms_ = 0;       // wall clock of the last forced stable refresh
    int64_t forced_day_ = -1;        // its UTC+8 day number
    int forced_today_ = 0;           // WeChat allows 20 a day, 30 s apart
    bool transport_failed_ = false;  // the last Fetch got no HTTP answer (fetching thread only)
    std::mutex mu_;
    std::condition_variable cv_;
    bool fetching_ = false;
    std::string token_;
    int64_t expires_at_ms_ = 0;  // steady clock
    int64_t fetched_at_ms_ = 0;  // steady clock, end of the last fetch (fetches >= 1 s apart)
    Status last_error_;          // the last failed fetch: returned until retry_at_ms_
    int fetch_errcode_ = 0;      // WeChat's errcode of the last Fetch (fetching thread only)
    int refused_errcode_ = 0;    // of the last failed fetch, if WeChat refused it
    int64_t retry_at_ms_ = 0;
    int failures_ = 0;  // consecutive failed fetches (backoff 1 s, 2 s, ... 60 s)
    std::atomic<uint64_t> generation_{0};
    std::atomic<uint64_t> refreshes_{0};
    bool fixed_ = false;
    bool wecom_ = false;              // WeCom's gettoken, not WeChat's token / stable_token
    SharedTokens* shared_ = nullptr;  // set before the first Get, then only read
    std::string account_;
};

// curl_global_init, once per process (a static guard). TokenCache and SenderPool call it in
// their constructors, before any of their threads use curl.
void EnsureCurlGlobalInit();

}  // namespace mega
