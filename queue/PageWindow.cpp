// PageWindow: MADV_POPULATE_WRITE (Linux 5.14+) faults the pages ahead in writable, so the
// loop's stores find them mapped; MADV_DONTNEED behind the writer only unmaps (MAP_SHARED:
// the data stays in the page cache, dirty or not, and a later read faults it back). On an
// older kernel POPULATE_WRITE fails with EINVAL and the window falls back to WILLNEED,
// which at least reads the pages into the page cache ahead of the writer.
#include "queue/PageWindow.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

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
    int populate = MADV_POPULATE_WRITE;
    std::shared_ptr<SegmentFile> file;
    uint64_t populated = 0, dropped = 0;  // [0, dropped) unmapped, mapped up to populated
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
        cv_.wait(lock, [&] { return stop_ || changed_; });
        if (stop_) break;
        changed_ = false;
        if (file != file_) {
            file = file_;
            populated = dropped = 0;
        }
        const uint64_t end = end_;
        lock.unlock();

        if (file) {
            char* base = file->data();
            const uint64_t size = file->size();
            const uint64_t from = std::max(populated, down(end));
            const uint64_t to = std::min(size, down(end + ahead_ + page - 1));
            if (to > from) {
                if (::madvise(base + from, to - from, populate) != 0 && errno == EINVAL &&
                    populate != MADV_WILLNEED) {
                    populate = MADV_WILLNEED;
                    ::madvise(base + from, to - from, populate);
                }
                populated = to;
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
