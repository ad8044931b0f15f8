// DiskBudget: a compare-and-swap loop, so that two queues rolling at once cannot both take
// the last segment's worth.
#include "queue/DiskBudget.h"

namespace mega {

bool DiskBudget::TryReserve(uint64_t bytes, uint64_t keep_free) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
        if (used > cap_ || bytes > cap_ - used || keep_free > cap_ - used - bytes) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
}

}  // namespace mega
