// CallbackLane: the callbacks of one [callback.NAME], on a thread of their own so that a
// slow or dead URL holds back nothing but itself. Events are kept in
// `<queue_file_path>/callbacks/NAME.journal` (appended and fdatasync'ed before the first try)
// and sent strictly in order (so a message's events arrive in the order they happened), each
// retried with backoff (1 s, doubling, up to [callback] max_backoff_s) until a 2xx answer or
// until it is [callback] max_age_s old (then dropped and counted as expired). NAME.done holds
// how far the journal is delivered; a restart resumes from there. Format: queue/FORMAT.md.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/Status.h"
#include "base/UniqueFd.h"
#include "config/Config.h"

namespace mega {

struct CallbackCounts {
    std::string name;
    uint64_t delivered = 0, attempts = 0, failed_attempts = 0, expired = 0, pending = 0;
    std::vector<std::string> recent_failures;  // newest last: "TIME id status: why"
};

class CallbackLane {
  public:
    CallbackLane(const Config& config, const Config::CallbackTarget& target);
    ~CallbackLane();  // stops the thread; what is not delivered stays in the journal
    CallbackLane(const CallbackLane&) = delete;
    CallbackLane& operator=(const CallbackLane&) = delete;

    Status Start();  // blocking, at start: opens the journal, resumes, starts the thread
    // Any thread, never blocks on I/O: queues the event's JSON (journaled by the lane's thread).
    void Add(std::string json, int64_t at_ms);
    CallbackCounts Counts() const;

  private:
    // An event waiting to be delivered: its JSON stays in the journal (memory stays small
    // while a URL is down for long), unless the journal could not take it.
    struct Pending {
        std::string json;  // only when the journal write failed
        int64_t at_ms = 0;
        uint64_t begin = 0, end = 0;  // the JSON's journal offsets; `end` is after its '\n'
    };
    std::string JsonOf(const Pending& p) const;
    void Main();
    void JournalIncoming(std::unique_lock<std::mutex>& lock);
    bool Deliver(const std::string& json, std::string* why);  // one POST; true on 2xx
    void Done(uint64_t end);
    void NoteFailure(const std::string& json, const std::string& why);

    const Config& config_;
    const Config::CallbackTarget& target_;
    UniqueFd journal_, done_;
    uint64_t size_ = 0;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::pair<std::string, int64_t>> incoming_;  // guarded by mu_
    std::deque<Pending> pending_;                            // lane thread (count under mu_)
    std::atomic<bool> stop_{false};
    CallbackCounts counts_;  // guarded by mu_
    std::thread thread_;
};

}  // namespace mega
