// One fixed-size segment file of the queue, allocated up front and mapped read-write.
// RAII over the fd and the mapping. Knows the segment header; the record layout inside is
// FileQueue's business (see FORMAT.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/Status.h"

namespace mega {

class SegmentFile {
  public:
    static constexpr size_t kHeaderBytes = 64;
    static constexpr const char* kNewSuffix = ".new";  // name while being created

    // Creates (or overwrites) `path` at `size` bytes with a fresh header. Full on ENOSPC.
    static Status Create(const std::string& path, uint64_t seq, uint64_t size,
                         std::unique_ptr<SegmentFile>* out);
    // Opens and maps an existing segment, checking its header.
    static Status Open(const std::string& path, std::unique_ptr<SegmentFile>* out);

    ~SegmentFile();
    SegmentFile(const SegmentFile&) = delete;
    SegmentFile& operator=(const SegmentFile&) = delete;

    char* data() const { return data_; }
    int fd() const { return fd_; }
    uint64_t size() const { return size_; }
    uint64_t seq() const { return seq_; }
    const std::string& path() const { return path_; }

    Status Sync() const;  // fdatasync: the mapping's dirty pages reach the disk
    void DropPages(uint64_t from, uint64_t to) const;  // let the kernel reclaim a range (RSS)

  private:
    SegmentFile(std::string path, int fd, char* data, uint64_t size, uint64_t seq)
        : path_(std::move(path)), fd_(fd), data_(data), size_(size), seq_(seq) {}

    std::string path_;
    int fd_;
    char* data_;
    uint64_t size_;
    uint64_t seq_;
};

}  // namespace mega
