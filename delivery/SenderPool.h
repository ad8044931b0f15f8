// The delivery engine: `task_worker_num` × `max_inflight` concurrent calls over kept-alive
// connections, on about one thread per core (each with one curl multi handle, at a lower
// priority than the loop thread so that delivery never starves intake).
// The loop thread hands jobs over in batches (one lock and one wakeup per batch); results
// come back in batches through a uv_async handle and are handled on the loop thread.
// Rendering happens on the sender threads; each transfer slot reuses its buffers. What is
// sent where, and what the reply means, is the Channel's (delivery/Channel.h).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/Config.h"
#include "delivery/Channel.h"
#include "delivery/ErrorClass.h"
#include "delivery/TokenCache.h"
#include "templates/Template.h"

namespace mega {

struct DeliveryResult {
    uint64_t id = 0, tag = 0;
    uint32_t flight = 0;               // the job's
    bool credentials_refused = false;  // kErrcodeNoToken because WeChat refused app_id/secret
    Outcome outcome = Outcome::kPermanent;
    bool transport_ok = false;
    long http_status = 0;
    int errcode = 0;
    std::string reply;  // WeChat's JSON reply, or a description of the local/transport error
    uint64_t msgid = 0;
    std::string remote_msgid, note;  // ChannelReply's (WeCom app messages)
    uint32_t latency_us = 0;
    uint32_t base_index = 0;  // which api_base served it
};

// How many sender threads, and transfers each: [setting] sender_threads (0: one per core, at
// most task_worker_num), sharing task_worker_num × max_inflight transfers between them.
struct SenderLayout {
    int threads = 1;
    size_t slots_per_thread = 1;
};
SenderLayout PlanSenderThreads(const Config& config, unsigned cores);

class SenderPool {
  public:
    using ResultsCallback = std::function<void(std::vector<DeliveryResult>& results)>;

    // Starts the threads. `on_results` runs on `loop`'s thread. `config` and `tokens` must
    // outlive the pool. Construct, use and destroy it on the loop thread.
    // `channel` says how to render, address and read each call; it must outlive the pool.
    SenderPool(uv_loop_t* loop, const Config& config, TokenCache* tokens, const Channel* channel,
               ResultsCallback on_results = {});
    // Not ok when the threads could not be set up (descriptors, memory): the pool then has
    // no capacity and hands every job back unsent. Check it after construction.
    const Status& status() const;
    // Where results go, if not given at construction: the Dispatcher sets itself, before
    // its first Submit.
    void SetResultsCallback(ResultsCallback on_results);
    ~SenderPool();  // Stop(0) if not stopped
    SenderPool(const SenderPool&) = delete;
    SenderPool& operator=(const SenderPool&) = delete;

    // Takes the jobs (the vector is left empty). Loop thread only. After Stop the jobs come
    // straight back through on_results (kTransient, kErrcodeNotSent) before Submit returns.
    void Submit(std::vector<DeliveryJob>* jobs);
    size_t capacity() const;  // task_worker_num * max_inflight (rounded up to the threads)
    size_t inflight() const;  // submitted, result not yet handed back
    // Stops taking jobs and waits for the transfers under way, up to `timeout_ms`; the
    // results of finished ones are still delivered. Blocking: call at shutdown only.
    // Jobs not started yet come back as kTransient with errcode kErrcodeNotSent, transfers
    // still running at the deadline with kErrcodeTransport (they may have reached WeChat).
    // Every result is handed to on_results before Stop returns (synchronously, on this
    // thread). Stop also uv_close()s the pool's async handle: run the loop once more
    // (uv_run NOWAIT) before uv_loop_close to free it.
    void Stop(int timeout_ms);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mega
