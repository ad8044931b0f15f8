// PageWindow: readahead(2) puts the pages ahead of the writer into the page cache (zeroed:
// the segment's blocks are fallocate'd and unwritten) without mapping them, so the loop's
// pwrite finds them there and the process holds no page-table entries that writeback would
// have to write-protect. MADV_DONTNEED behind the writer unmaps what readers mapped
// (MAP_SHARED: the data stays in the page cache, and a later read faults it back).
#include "queue/PageWindow.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace mega {

PageWindow::PageWindow(uint64_t ahead_bytes, uint64_t behind_bytes)
    : ahead_(ahead_bytes), behind_(behind_bytes) {
    thread_ = std::thread([this] { ThreadMain(); });
}

PageWindow::~PageWindow() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
}

void PageWindow::Advance(std::shared_ptr<SegmentFile> file, uint64_t end) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        file_ = std::move(file);
        end_ = end;
        changed_ = true;
    }
    cv_.notify_one();
}

void PageWindow::ThreadMain() {
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    auto down = [page](uint64_t n) { return n / page * page; };
    std::shared_ptr<SegmentFile> file;
    uint64_t cached = 0, dropped = 0;  // [0, dropped) unmapped; read ahead up to cached
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
        cv_.wait(lock, [&] { return stop_ || changed_; });
        if (stop_) break;
        changed_ = false;
        if (file != file_) {
            file = file_;
            cached = dropped = 0;
        }
        const uint64_t end = end_;
        lock.unlock();

        if (file) {
            const uint64_t size = file->size();
            const uint64_t from = std::max(cached, down(end));
            const uint64_t to = std::min(size, down(end + ahead_ + page - 1));
            if (to > from) {
                ::readahead(file->fd(), off64_t(from), size_t(to - from));
                cached = to;
            }
            const uint64_t behind = end > behind_ ? down(end - behind_) : 0;
            if (behind > dropped) {
                file->DropPages(dropped, behind);
                dropped = behind;
            }
        }
        lock.lock();
    }
}

}  // namespace mega
