// The durable journal of kept events (receipts, subscribe choices): `events.journal` in the
// queue directory, one line per event (Receipt.h), written and fdatasync'ed before mega
// answers WeChat `success`; `events.applied` holds how far the receipt writer has applied it.
// Both go back to empty once everything is applied. Format: queue/FORMAT.md.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "base/Status.h"
#include "base/UniqueFd.h"
#include "events/Receipt.h"

namespace mega {

class ReceiptJournal {
  public:
    // Blocking, at start: opens (creates) the files and returns the events not yet applied,
    // with the offset each ends at. A torn last line (a crash mid-write) is dropped.
    Status Open(const std::string& dir, std::vector<std::pair<Receipt, uint64_t>>* pending);
    // Any thread: appends the lines and syncs them; then, still in append order, hands each
    // receipt with its end offset to `take`. IoError if the disk refuses (nothing handed).
    using Take = std::function<void(Receipt&&, uint64_t end)>;
    Status Append(std::vector<Receipt>&& receipts, const Take& take);
    // Everything up to `end` is applied; at the journal's end both files are emptied.
    void Applied(uint64_t end);

  private:
    std::mutex mu_;
    UniqueFd journal_, applied_;
    uint64_t size_ = 0;
};

}  // namespace mega
