// Idempotency keys (`msgkey=`): remembers each key for `[retry] dedup_window` seconds, so a
// second push/send with the same key is answered `200 duplicate` and not sent again. Keys
// are journaled in their own FileQueue (`queue_file_path/keys/`) and replayed at start, so
// the memory survives a restart; expired keys are marked done in arrival order, which lets
// the journal's segments be deleted like any queue's.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/Status.h"
#include "config/Config.h"
#include "queue/FileQueue.h"

namespace mega {

class DedupIndex {
  public:
    // on_durable: as QueueOptions::on_durable, for the journal (fsync = always waits on it).
    // `budget`: the disk cap shared with the message queues (queue_max_bytes).
    static Status Open(const Config& config, std::shared_ptr<DiskBudget> budget,
                       std::function<void()> on_durable, std::unique_ptr<DedupIndex>* out);

    // True if `key` was added within the window.
    bool Seen(std::string_view key, int64_t now_ms) const;
    // Remembers `key` (after its message was queued, so a failed append never makes a
    // client's retry look like a duplicate).
    // `*seq`: the journal record's sequence number; the key is durable once durable_seq()
    // reaches it.
    Status Add(std::string_view key, int64_t now_ms, uint64_t* seq = nullptr);
    uint64_t durable_seq() const { return journal_->durable_seq(); }
    void RequestSync() { journal_->RequestSync(); }  // no-op when nothing is pending
    void Publish() { journal_->Publish(); }          // the keys added into the journal file
    void Expire(int64_t now_ms);  // forget keys older than the window (call now and then)
    size_t size() const { return keys_.size(); }
    Status Close() { return journal_->Close(); }
    RecoveryCounts recovery_counts() const { return journal_->recovery_counts(); }

  private:
    struct Entry {
        int64_t at_ms;
        RecordRef ref;
        std::string key;
    };
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    int64_t window_ms_ = 0;
    std::unique_ptr<FileQueue> journal_;
    std::deque<Entry> order_;                                               // oldest first
    std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> keys_;  // key → at_ms
};

}  // namespace mega
