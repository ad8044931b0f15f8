// Segment files: posix_fallocate so that a full disk is an error at creation time rather
// than a SIGBUS on a later store into the mapping; MAP_SHARED so the page cache holds one
// copy and fdatasync makes it durable.
#include "queue/SegmentFile.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace mega {
namespace {

constexpr char kMagic[8] = {'M', 'E', 'G', 'A', 'S', 'E', 'G', '1'};

std::string ErrnoText(const std::string& what, const std::string& path, int err) {
    return what + " " + path + ": " + std::strerror(err);
}

}  // namespace

Status SegmentFile::Create(const std::string& path, uint64_t seq, uint64_t size,
                           std::unique_ptr<SegmentFile>* out) {
    // Built under a temporary name and renamed once the header is in place, so a crash
    // half-way never leaves a headerless segment under a real name (recovery deletes
    // leftover *.new files).
    const std::string tmp = path + kNewSuffix;
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IoError(ErrnoText("cannot create", tmp, errno));
    int rc = ::posix_fallocate(fd, 0, off_t(size));
    if (rc != 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        if (rc == ENOSPC || rc == EDQUOT) return Status::Full("disk full");
        return Status::IoError(ErrnoText("cannot allocate", tmp, rc));
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return Status::IoError(ErrnoText("cannot map", tmp, err));
    }
    char* d = static_cast<char*>(p);
    std::memcpy(d, kMagic, 8);
    uint64_t now = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
    std::memcpy(d + 8, &seq, 8);
    std::memcpy(d + 16, &now, 8);
    std::memcpy(d + 24, &size, 8);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::munmap(p, size);
        ::close(fd);
        ::unlink(tmp.c_str());
        return Status::IoError(ErrnoText("cannot rename", tmp, err));
    }
    out->reset(new SegmentFile(path, fd, d, size, seq));
    return Status::Ok();
}

Status SegmentFile::Open(const std::string& path, std::unique_ptr<SegmentFile>* out) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Status::IoError(ErrnoText("cannot open", path, errno));
    struct stat st;
    if (::fstat(fd, &st) != 0 || uint64_t(st.st_size) < kHeaderBytes) {
        ::close(fd);
        return Status::Invalid("segment " + path + " is too short");
    }
    uint64_t size = uint64_t(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        return Status::IoError(ErrnoText("cannot map", path, err));
    }
    char* d = static_cast<char*>(p);
    uint64_t seq = 0, hsize = 0;
    std::memcpy(&seq, d + 8, 8);
    std::memcpy(&hsize, d + 24, 8);
    if (std::memcmp(d, kMagic, 8) != 0 || hsize != size) {
        ::munmap(p, size);
        ::close(fd);
        return Status::Invalid("segment " + path + " has a bad header");
    }
    out->reset(new SegmentFile(path, fd, d, size, seq));
    return Status::Ok();
}

SegmentFile::~SegmentFile() {
    ::munmap(data_, size_);
    ::close(fd_);
}

Status SegmentFile::Sync() const {
    if (::fdatasync(fd_) != 0) return Status::IoError(ErrnoText("fdatasync", path_, errno));
    return Status::Ok();
}

void SegmentFile::DropPages(uint64_t from, uint64_t to) const {
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    from = (from + page - 1) / page * page;
    to = to / page * page;
    if (to > from) ::madvise(data_ + from, to - from, MADV_DONTNEED);
}

}  // namespace mega
