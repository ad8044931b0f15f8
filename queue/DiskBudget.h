// One byte budget for every queue under queue_file_path (the three priorities, the dead-letter
// store, the msgkey journal): `queue_max_bytes` caps the sum of their segment files, not each
// queue's. Each FileQueue reserves a segment's bytes before it creates the file and gives them
// back once the file is deleted. Lock-free (one atomic), so any thread may use it.
#pragma once

#include <atomic>
#include <cstdint>

namespace mega {

class DiskBudget {
  public:
    explicit DiskBudget(uint64_t cap) : cap_(cap) {}
    DiskBudget(const DiskBudget&) = delete;
    DiskBudget& operator=(const DiskBudget&) = delete;

    // Takes `bytes` if at least `keep_free` bytes of the cap stay unused after it.
    bool TryReserve(uint64_t bytes, uint64_t keep_free = 0);
    // Takes `bytes` even beyond the cap (files that already exist at start).
    void Reserve(uint64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
    void Release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

    uint64_t cap() const { return cap_; }
    uint64_t used() const { return used_.load(std::memory_order_relaxed); }

  private:
    const uint64_t cap_;
    std::atomic<uint64_t> used_{0};
};

}  // namespace mega
