// Template reloads (`tset`, POST /api/templates/reload), scheduled on the loop thread: one
// MySQL load at a time on the libuv thread pool, at most kLoadsPerSecond of them, and the
// reloads of one key that wait together share one load (each gets its result). A flood of
// `tset` frames thus holds one pool thread and one connection, never the whole pool (the
// admin API's MySQL queries run there too), and costs MySQL a few queries a second.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/Status.h"
#include "store/TemplateStore.h"
#include "templates/TemplateCache.h"

namespace mega {

class TemplateReloads {
  public:
    using Done = std::function<void(Status)>;
    static constexpr double kLoadsPerSecond = 20;  // and as many at once after a quiet time
    static constexpr size_t kMaxWaiting = 4096;    // reloads waiting (all keys together)

    TemplateReloads(uv_loop_t* loop, TemplateStore& store, TemplateCache& cache);
    TemplateReloads(const TemplateReloads&) = delete;
    TemplateReloads& operator=(const TemplateReloads&) = delete;

    // Loads `key` from MySQL into the cache; `done` runs on the loop thread with the result:
    // NotFound / Invalid (the cache's reply text), or Unavailable "template store
    // unavailable" (the database's address and error go to the log only) or "template
    // store busy" (kMaxWaiting reloads already wait).
    void Reload(const std::string& key, Done done);
    // Shutdown: answers the waiting reloads (Unavailable) and closes the timer handle.
    void Close();

  private:
    struct Load;
    void StartNext();
    bool TakeToken();
    void Finish(Load& load);
    static void OnTimer(uv_timer_t* t);

    uv_loop_t* loop_;
    TemplateStore& store_;
    TemplateCache& cache_;
    std::deque<std::string> order_;  // keys waiting, in order of their first reload
    std::unordered_map<std::string, std::vector<Done>> waiting_;
    size_t waiting_count_ = 0;  // callbacks in waiting_
    bool loading_ = false, closed_ = false;
    double tokens_ = kLoadsPerSecond;
    uint64_t refilled_ms_ = 0;
    uv_timer_t timer_;
};

}  // namespace mega
