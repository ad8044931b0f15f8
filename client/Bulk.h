// Bulk sending: streams a file of openids (one a line) through a MegaClient, pipelined with
// a window, draws a progress bar, and keeps FILE.progress (the count of openid lines whose
// replies were received, as a contiguous prefix) so that a later run resumes where this one
// stopped. 200 and 400 replies go on to the next line; a 500 stops the run, as the original
// Mega-Wechat task client did.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "base/Status.h"
#include "client/MegaClient.h"
#include "protocol/Frame.h"

namespace mega::client {

struct BulkJob {
    protocol::Command command = protocol::Command::kPush;
    std::string key;
    std::string openids_path;
    std::string data_json = "null";
    std::string options;                   // extension words, "priority=low msgkey=x"
    bool restart = false;                  // ignore FILE.progress and start from the first line
    int reply_timeout_ms = 30000;          // no reply at all for this long: give up
    int progress_interval_ms = 500;        // FILE.progress is rewritten at most this often
    std::FILE* progress_out = nullptr;     // progress bar; nullptr draws none
    bool progress_is_tty = false;          // \r-redrawn bar (10/s) instead of a line every 5 s
    std::function<bool()> stop_requested;  // polled; true: stop submitting, drain, save
};

struct BulkReport {
    enum class Outcome { kDone, kServerError, kTransportError, kInterrupted };
    Outcome outcome = Outcome::kDone;
    uint64_t total = 0;         // openid lines in the file
    uint64_t resumed_from = 0;  // lines acknowledged by earlier runs (skipped)
    uint64_t sent = 0;          // requests submitted by this run
    uint64_t ok = 0;            // 200 replies
    uint64_t rejected = 0;      // 400 replies
    uint64_t errors = 0;        // 500 (or other) replies and requests that got no reply
    uint64_t acknowledged = 0;  // what FILE.progress holds now
    double seconds = 0;
    std::string error;                          // why the run stopped early
    std::vector<std::string> first_rejections;  // "OPENID: message" of the first 400s
};

// Runs the job over a connected client. A non-OK Status is a problem with the files
// (unreadable openids, a malformed or unwritable progress file); how the run itself ended
// is report->outcome, with report->error saying why when it stopped early.
Status RunBulk(MegaClient* client, const BulkJob& job, BulkReport* report);

// "bulk: N sent, N ok, N rejected (400), N errors, T s, R msg/s" and, on the following
// lines, the first 400 messages.
std::string FormatBulkSummary(const BulkReport& report);

// The path of the progress file kept for `openids_path`.
std::string ProgressPath(const std::string& openids_path);
// Reads the acknowledged count; a missing file is 0.
Status LoadProgress(const std::string& path, uint64_t* acknowledged);
// Replaces the file atomically (write a temporary file, fsync, rename).
Status SaveProgress(const std::string& path, uint64_t acknowledged);

// Tracks which lines have been answered and yields the length of the answered prefix:
// lines are numbered from `start`, added in order, acknowledged in any order.
class AckedPrefix {
  public:
    explicit AckedPrefix(uint64_t start = 0) : prefix_(start), next_(start) {}
    uint64_t Add() {
        acked_.push_back(false);
        return next_++;
    }
    void Ack(uint64_t line);
    uint64_t prefix() const { return prefix_; }  // lines [0, prefix) are all acknowledged

  private:
    uint64_t prefix_;
    uint64_t next_;
    std::deque<bool> acked_;  // lines [prefix_, next_)
};

}  // namespace mega::client
