// The failed store: messages that failed permanently or ran out of tries, kept durably in
// their own FileQueue (`queue_file_path/failed/`) with their last error, attempts and times,
// until an operator retries or forgets them (`mega-cli failed …`, the admin API). The index
// (id → record) lives in memory, rebuilt from the files at start.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"
#include "queue/FileQueue.h"
#include "queue/Message.h"
#include "queue/QueueBackend.h"

namespace mega {

class DeadLetters {
  public:
    // `budget`: the disk cap shared with the message queues (queue_max_bytes).
    static Status Open(const Config& config, std::shared_ptr<DiskBudget> budget,
                       std::unique_ptr<DeadLetters>* out);

    Status Add(int errcode, uint16_t attempts, std::string_view error, std::string_view message);
    // Looks a dead letter up by message id; false if there is none.
    bool Find(uint64_t id, DeadLetter* out) const;
    bool Remove(uint64_t id);  // forget (or after it was queued again)
    size_t size() const { return index_.size(); }
    // Oldest first; `fn(id, letter)` returns false to stop.
    template <typename F>
    void ForEach(F&& fn) const {
        for (const auto& [id, ref] : index_) {
            DeadLetter d;
            if (Decode(queue_->Payload(ref), &d) && !fn(id, d)) break;
        }
    }
    std::vector<uint64_t> Ids() const;
    Status Close() { return queue_->Close(); }
    RecoveryCounts recovery_counts() const { return queue_->recovery_counts(); }

  private:
    static bool Decode(std::string_view payload, DeadLetter* out);
    std::unique_ptr<FileQueue> queue_;
    std::map<uint64_t, RecordRef> index_;  // message id → record, ids increase with time
};

}  // namespace mega
