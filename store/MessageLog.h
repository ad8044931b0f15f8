// The message log: one row per message in `{prefix}mega_message_log`, kept up to date as
// the message is queued, retried, sent or failed. The loop thread only appends events to
// a local batch; once per loop iteration Flush() hands the batch to the writer thread (one
// lock), which merges the events of each message and writes multi-row upserts. Delivery
// never waits for the log: beyond `[log] message_log_backlog` waiting events, "queued"
// events are dropped (counted) and their ids remembered, so that the message's later status
// events carry the template and data its row needs; status events are dropped only beyond
// twice the backlog, at least 100,000 (MySQL down for long). A row MySQL refuses (a value
// it will not store) costs only itself: it is written without its body, or dropped, and
// counted as rejected; the rows around it are written as usual.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/Config.h"
#include "store/IdRuns.h"
#include "templates/Template.h"

namespace mega {

enum class LogStatus : uint8_t { kQueued, kSending, kRetrying, kSent, kFailed, kCancelled };
constexpr size_t kRemoteMsgidChars = 128;  // config/schema 010
const char* LogStatusName(LogStatus s);

// Makes `text` fit a utf8mb4 column of `max_chars` characters: each byte that is not part
// of well-formed UTF-8 becomes U+FFFD, and a cut falls between characters.
void FitUtf8Column(std::string* text, size_t max_chars);

struct LogEvent {
    uint64_t id = 0;
    LogStatus status = LogStatus::kQueued;
    uint8_t priority = 1;
    uint16_t attempts = 0;
    int errcode = 0;
    uint64_t msgid = 0;
    int64_t at_ms = 0;        // when this happened
    int64_t created_ms = 0;   // when the message was accepted
    uint32_t latency_us = 0;  // the WeChat call of this attempt (0: none was made)
    std::string openid, key, source, errmsg;
    std::string account, kind;  // the template's (schema 008); set from tmpl when it comes
    // Queued events only: what the body is rendered from (on the writer thread).
    std::shared_ptr<const Template> tmpl;
    std::string data, msgkey;
    std::string callback;      // queued events: the callback=NAME option (schema 009)
    std::string remote_msgid;  // a sent WeCom app message's msgid (schema 010)
};

class MessageLog {
  public:
    // About 0.5 KiB per pending event: the default backlog (100,000) is near 50 MB.
    explicit MessageLog(const Config& config);
    ~MessageLog();  // writes what it has (bounded wait), then stops
    MessageLog(const MessageLog&) = delete;
    MessageLog& operator=(const MessageLog&) = delete;

    // Loop thread. While the writer is a full backlog behind, "queued" events are only
    // counted as dropped: the push path asks Behind() first and, if so, calls Drop(id)
    // instead of building the event.
    void Add(LogEvent&& event) {
        if (event.status == LogStatus::kQueued && behind_) {
            Drop(event.id);
        } else {
            batch_.push_back(std::move(event));
        }
    }
    bool Behind() const { return behind_; }
    void Drop(uint64_t id) {
        dropped_here_++;
        missed_.Mark(id);
    }
    // Message ids below this were given before this start (ids grow with the clock).
    void SetRunStart(uint64_t first_id) { run_start_id_ = first_id; }
    // True if the message may have no "queued" row: its queued event was dropped (recently:
    // the last few thousand runs of drops are kept), or it was queued before this start (the
    // drops of the earlier run are not known). Its status events should carry `tmpl` and
    // `data`, so that its row gets the body anyway.
    bool Missed(uint64_t id) const { return id < run_start_id_ || missed_.Contains(id); }
    void Flush();  // loop thread, once per loop iteration

    uint64_t written() const { return written_.load(std::memory_order_relaxed); }
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    // Rows MySQL refused (or would: a body beyond what a row or a statement can hold),
    // written without their body or dropped.
    uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
    uint64_t pending() const { return pending_count_.load(std::memory_order_relaxed); }
    bool healthy() const { return healthy_.load(std::memory_order_relaxed); }

  private:
    class Writer;  // the writer thread's state and steps (MessageLog.cpp)
    void WriterMain();

    const Config& config_;
    const size_t max_pending_;     // "queued" events wait up to this many
    const size_t max_held_;        // any events (status ones, rows after failed writes)
    std::vector<LogEvent> batch_;  // loop thread only
    bool behind_ = false;          // loop thread: the last Flush() found no room
    uint64_t dropped_here_ = 0;    // loop thread: dropped since the last Flush()
    int64_t warned_at_ms_ = 0;     // loop thread: the last "dropping" warning
    // Loop thread: ids whose "queued" event was dropped (message ids grow in the order
    // messages are accepted, and their queued events are kept or dropped in that order).
    IdRuns missed_{4096};
    uint64_t run_start_id_ = 0;
    uint64_t dropped_warned_ = 0;  // loop thread: dropped_ at that warning
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<LogEvent> handed_;  // guarded by mu_
    bool stop_ = false;
    bool lingering_ = false;  // the writer gathers a small batch: only a full one wakes it
    std::atomic<uint64_t> written_{0}, dropped_{0}, rejected_{0}, pending_count_{0};
    std::atomic<bool> healthy_{true};
    std::thread writer_;
};

}  // namespace mega
