// ReceiptJournal: appends under one mutex (a write and an fdatasync per batch), so that the
// order of the file is the order receipts are handed on.
#include "events/ReceiptJournal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace mega {
namespace {

Status Errno(const std::string& what) {
    return Status::IoError(what + ": " + std::strerror(errno));
}

bool ReadAll(int fd, std::string* out) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        out->append(buf, size_t(n));
    }
}

}  // namespace

Status ReceiptJournal::Open(const std::string& dir,
                            std::vector<std::pair<Receipt, uint64_t>>* pending) {
    journal_ =
        UniqueFd(::open((dir + "/events.journal").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
    if (!journal_) return Errno(dir + "/events.journal");
    applied_ =
        UniqueFd(::open((dir + "/events.applied").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
    if (!applied_) return Errno(dir + "/events.applied");
    std::string text, mark;
    if (!ReadAll(journal_.get(), &text) || !ReadAll(applied_.get(), &mark))
        return Errno(dir + "/events.*");
    uint64_t from = std::strtoull(mark.c_str(), nullptr, 10);
    if (from > text.size()) from = 0;  // a journal emptied after the mark was written
    size_t pos = from;
    for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
        Receipt r;
        if (DecodeReceipt(std::string_view(text).substr(pos, nl - pos), &r))
            pending->emplace_back(std::move(r), nl + 1);
    }
    size_ = pos;  // a torn last line is cut off
    if (::ftruncate(journal_.get(), off_t(size_)) != 0) return Errno(dir + "/events.journal");
    return Status::Ok();
}

Status ReceiptJournal::Append(std::vector<Receipt>&& receipts, const Take& take) {
    std::string lines;
    std::vector<uint64_t> ends;
    std::lock_guard lock(mu_);
    for (const Receipt& r : receipts) {
        lines += EncodeReceipt(r) + '\n';
        ends.push_back(size_ + lines.size());
    }
    size_t done = 0;
    while (done < lines.size()) {
        ssize_t n =
            ::pwrite(journal_.get(), lines.data() + done, lines.size() - done, off_t(size_ + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Errno("events.journal");
        done += size_t(n);
    }
    if (::fdatasync(journal_.get()) != 0) return Errno("events.journal");
    size_ += lines.size();
    for (size_t i = 0; i < receipts.size(); i++) take(std::move(receipts[i]), ends[i]);
    return Status::Ok();
}

void ReceiptJournal::Applied(uint64_t end) {
    std::lock_guard lock(mu_);
    if (end >= size_) {  // all applied: start both files afresh
        size_ = 0;
        (void)::ftruncate(journal_.get(), 0);
        end = 0;
    }
    const std::string mark = std::to_string(end) + "\n";
    (void)::ftruncate(applied_.get(), 0);
    (void)::pwrite(applied_.get(), mark.data(), mark.size(), 0);
}

}  // namespace mega
