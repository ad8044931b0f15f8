// PageWindow looks after the pages around the queue's write position, on its own thread:
// pages just ahead of the writer are read into the page cache before the loop thread
// writes them (a fresh file page costs an allocation plus zeroing), and pages well behind
// it are dropped from the process (they stay in the page cache), so a segment being
// written and read holds only about `behind` bytes of RSS instead of all it has.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "queue/SegmentFile.h"

namespace mega {

class PageWindow {
  public:
    PageWindow(uint64_t ahead_bytes, uint64_t behind_bytes);
    ~PageWindow();  // stops the thread
    PageWindow(const PageWindow&) = delete;
    PageWindow& operator=(const PageWindow&) = delete;

    // Loop thread: the writer is at `end` in `file`. Cheap enough to call every few hundred
    // KiB (one uncontended lock and a wake-up); the work happens on the window's thread.
    void Advance(std::shared_ptr<SegmentFile> file, uint64_t end);

    // How far ahead of the writer to call Advance() again, so the window never runs dry.
    uint64_t step() const { return ahead_ / 4; }

  private:
    void ThreadMain();

    const uint64_t ahead_, behind_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::shared_ptr<SegmentFile> file_;  // guarded by mu_
    uint64_t end_ = 0;                   // guarded by mu_
    bool changed_ = false, stop_ = false;
    std::thread thread_;
};

}  // namespace mega
