// FileQueue: the loop thread owns the segment list and both cursors and touches only memory;
// the flusher thread owns every blocking call. They share a mutex that the loop takes only
// on rare events (a new segment, a deleted segment, a sync request per batch), never per
// record. See FORMAT.md for the bytes.
#include "queue/FileQueue.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "base/UniqueFd.h"
#include "queue/Crc32c.h"

namespace fs = std::filesystem;

namespace mega {
namespace {

constexpr size_t kRecordHeader = 16;
constexpr uint8_t kFlagDone = 1;
constexpr uint8_t kTypeMessage = 1;
constexpr size_t kStagedKeep = 4 << 20;  // staging capacity kept between batches
// PageWindow sizes: at 250 MB/s of pushes 8 MiB read ahead is 30 ms of work for the
// window's thread to stay ahead; what readers mapped more than 4 MiB behind the writer
// leaves the process's RSS.
constexpr uint64_t kWindowAhead = 8 << 20;
constexpr uint64_t kWindowBehind = 4 << 20;
constexpr uint64_t kScanDropStep = 8 << 20;  // a scan unmaps what it checked this often
// A scan's search for valid records after bad spots CRCs at most this many segment sizes.
constexpr uint64_t kResyncBudget = 4;
constexpr char kCursorMagic[8] = {'M', 'E', 'G', 'A', 'C', 'U', 'R', '1'};

inline uint64_t Align8(uint64_t n) {
    return (n + 7) & ~uint64_t(7);
}
inline RecordRef MakeRef(uint64_t seq, uint64_t off) {
    return (seq << 32) | off;
}
inline uint64_t RefSeq(RecordRef r) {
    return r >> 32;
}
inline uint64_t RefOff(RecordRef r) {
    return r & 0xffffffffu;
}

uint32_t LoadU32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Checks the record at `off`. Returns its total size (header + payload + padding), 0 for
// the end marker, or -1 for a torn/corrupt record.
int64_t CheckRecord(const char* base, uint64_t size, uint64_t off) {
    if (off + kRecordHeader > size) return 0;
    const uint32_t len = LoadU32(base + off);
    if (len == 0) return 0;
    if (len > size - off - kRecordHeader) return -1;
    const char* h = base + off;
    uint32_t crc = Crc32c(h + 9, 1);
    crc = Crc32c(h + kRecordHeader, len, crc);
    if (crc != LoadU32(h + 4) || h[9] != kTypeMessage) return -1;
    return int64_t(Align8(kRecordHeader + len));
}

// The offset just past the last non-zero byte of d[b, e), or b if they are all zero.
uint64_t LastNonZero(const char* d, uint64_t b, uint64_t e) {
    for (; e > b && e % 8 != 0; e--)
        if (d[e - 1] != 0) return e;
    for (uint64_t w = 0; e >= b + 8; e -= 8) {
        std::memcpy(&w, d + e - 8, 8);
        if (w != 0) break;
    }
    while (e > b && d[e - 1] == 0) e--;
    return e;
}

// The offset just past the last non-zero byte in [from, size) of `f`, or `from` if there is
// none. Ranges the file system reports as holes (allocated, never written) are not read.
uint64_t DataEnd(const SegmentFile& f, uint64_t from) {
    uint64_t last = from, pos = from;
    while (pos < f.size()) {
        uint64_t begin = pos, stop = f.size();
        const off_t data = ::lseek(f.fd(), off_t(pos), SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;  // only holes from here on
        if (data >= 0) {                        // (otherwise not supported: read it all)
            begin = std::max(pos, uint64_t(data));
            const off_t hole = ::lseek(f.fd(), data, SEEK_HOLE);
            if (hole >= 0) stop = std::min(stop, uint64_t(hole));
        }
        if (begin >= stop) break;
        const uint64_t e = LastNonZero(f.data(), begin, stop);
        if (e > begin) last = std::max(last, e);
        pos = stop;
    }
    return last;
}

// A record may start at `c` as far as the cheap checks go: a length that fits the segment,
// only known flag bits, the message type, zero padding. The CRC is checked apart.
bool Plausible(const char* d, uint64_t size, uint64_t c) {
    if (c + kRecordHeader > size) return false;
    const uint32_t len = LoadU32(d + c);
    if (len == 0 || len > size - c - kRecordHeader) return false;
    if ((uint8_t(d[c + 8]) & ~kFlagDone) != 0 || d[c + 9] != kTypeMessage) return false;
    for (uint64_t p = c + kRecordHeader + len; p < c + Align8(kRecordHeader + len); p++)
        if (d[p] != 0) return false;
    return true;
}

constexpr uint64_t kNoRecord = 0, kGaveUp = ~0ull;

// After a bad spot at `off`: the offset of the next valid record before `data_end`, kNoRecord
// if there is none, kGaveUp if finding it would cost more CRC bytes than `*budget` has left.
// A record is only accepted when its CRC checks, so garbage is never taken for a record.
uint64_t Resync(const SegmentFile& f, uint64_t off, uint64_t data_end, uint64_t* budget) {
    const char* d = f.data();
    auto valid = [&](uint64_t c) {  // 1: a record, 0: not one, -1: out of budget
        if (!Plausible(d, f.size(), c)) return 0;
        const uint32_t len = LoadU32(d + c);
        if (len > *budget) return -1;
        *budget -= len;
        return CheckRecord(d, f.size(), c) > 0 ? 1 : 0;
    };
    // Most often only the payload or the CRC went bad and the length word still holds: the
    // next record then starts right after, and this one's payload needs no search.
    const uint32_t len = LoadU32(d + off);
    if (len > 0 && len <= f.size() - off - kRecordHeader) {
        const uint64_t next = off + Align8(kRecordHeader + len);
        if (next < data_end) {
            const int v = valid(next);
            if (v < 0) return kGaveUp;
            if (v > 0) return next;
        }
    }
    // Records start on 8-byte boundaries: try each one, in order, so no record is passed over.
    for (uint64_t c = off + 8; c < data_end; c += 8) {
        const int v = valid(c);
        if (v < 0) return kGaveUp;
        if (v > 0) return c;
    }
    return kNoRecord;
}

}  // namespace

FileQueue::FileQueue(const QueueOptions& options)
    : options_(options),
      budget_(options.budget ? options.budget : std::make_shared<DiskBudget>(options.max_bytes)) {}

std::string FileQueue::SegmentPath(uint64_t seq) const {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(seq));
    return options_.dir + "/" + name;
}

Status FileQueue::Open(const QueueOptions& options, std::unique_ptr<FileQueue>* out,
                       RecoveryReport* report) {
    std::error_code ec;
    fs::create_directories(options.dir, ec);
    if (ec || !fs::is_directory(options.dir))
        return Status::IoError("queue directory " + options.dir +
                               " is not usable: " + (ec ? ec.message() : "not a directory"));
    if (::access(options.dir.c_str(), W_OK) != 0)
        return Status::IoError("queue directory " + options.dir + " is not writable");
    if (options.segment_bytes >= (1ull << 32))
        return Status::Invalid("queue_segment_bytes must be below 4 GiB");
    std::unique_ptr<FileQueue> q(new FileQueue(options));
    RecoveryReport local;
    Status s = q->Recover(report ? report : &local);
    if (!s.ok()) return s;
    q->flusher_ = std::thread([raw = q.get()] { raw->FlusherMain(); });
    if (!q->scan_jobs_.empty()) {
        q->scan_over_ = false;
        q->scanner_ = std::thread([raw = q.get(), jobs = std::move(q->scan_jobs_)]() mutable {
            raw->ScannerMain(std::move(jobs));
        });
    }
    *out = std::move(q);
    return Status::Ok();
}

Status FileQueue::Recover(RecoveryReport* report) {
    const std::string cursor_path = options_.dir + "/cursor";
    cursor_fd_ = ::open(cursor_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (cursor_fd_ < 0)
        return Status::IoError("cannot open " + cursor_path + ": " + std::strerror(errno));
    char cur[32] = {};
    uint64_t cseq = 0, coff = 0;
    if (::pread(cursor_fd_, cur, sizeof cur, 0) == ssize_t(sizeof cur) &&
        std::memcmp(cur, kCursorMagic, 8) == 0 && Crc32c(cur, 24) == LoadU32(cur + 24)) {
        std::memcpy(&cseq, cur + 8, 8);
        std::memcpy(&coff, cur + 16, 8);
    }

    std::vector<uint64_t> seqs;
    uint64_t max_seq = 0;  // of every segment name, those moved aside included
    for (const auto& e : fs::directory_iterator(options_.dir)) {
        const std::string name = e.path().filename().string();
        if (name.size() < 24 || name.compare(20, 4, ".seg") != 0) continue;
        if (name.substr(24) == SegmentFile::kNewSuffix) {
            ::unlink(e.path().c_str());  // a segment whose creation a crash cut short
            continue;
        }
        const uint64_t seq = std::strtoull(name.c_str(), nullptr, 10);
        max_seq = std::max(max_seq, seq);
        if (name.size() == 24) seqs.push_back(seq);
    }
    std::sort(seqs.begin(), seqs.end());
    report->segments = seqs.size();

    std::vector<std::pair<uint64_t, std::unique_ptr<SegmentFile>>> files;
    for (uint64_t seq : seqs) {
        const std::string path = SegmentPath(seq);
        if (seq < cseq) {  // everything in it was done before the cursor moved past it
            ::unlink(path.c_str());
            continue;
        }
        std::unique_ptr<SegmentFile> f;
        Status s = SegmentFile::Open(path, &f);
        if (s.ok() && f->seq() != seq)
            s = Status::Invalid("segment " + path + " has a bad header (it names segment " +
                                std::to_string(f->seq()) + ")");
        if (s.code() == Status::Code::kIoError) return s;  // the file is not at fault
        if (!s.ok()) {
            f.reset();
            MoveAside(path, s.message(), report);
            continue;
        }
        if (f->size() != options_.segment_bytes) {
            // A segment from another segment size: only an empty one may go; one with data
            // is a configuration error the operator must see.
            if (DataEnd(*f, SegmentFile::kHeaderBytes) > SegmentFile::kHeaderBytes)
                return Status::Invalid("segment " + path + " has size " +
                                       std::to_string(f->size()) + " but queue_segment_bytes is " +
                                       std::to_string(options_.segment_bytes));
            report->problems.push_back("removed unusable segment " + path + ": empty, other size");
            ::unlink(path.c_str());
            continue;
        }
        files.emplace_back(seq, std::move(f));
    }

    for (size_t i = 0; i < files.size(); i++) {
        auto& [seq, f] = files[i];
        const bool newest = i + 1 == files.size();
        uint64_t from = SegmentFile::kHeaderBytes;
        if (seq == cseq && coff >= from && coff < f->size()) from = coff;
        Segment seg;
        if (options_.scan_in_background && !newest) {
            seg.scanned = false;
            report->segments_scanning++;
            unscanned_++;
        } else {
            ScanResult r = ScanSegment(*f, from, newest);
            report->problems.insert(report->problems.end(), r.problems.begin(), r.problems.end());
            report->dropped_bytes += r.dropped;
            report->done_records += r.done;
            report->live_records += r.live;
            report->corrupt_records += r.corrupt;
            counts_.corrupt_records += r.corrupt;
            live_records_ += r.live;
            seg.end = r.end;
            seg.live = r.live;
            seg.bad = std::move(r.bad);
            if (seg.live == 0 && !newest) {
                ::unlink(f->path().c_str());
                continue;
            }
        }
        if (segments_.empty()) first_seq_ = seq;
        while (first_seq_ + segments_.size() < seq) segments_.push_back(Segment{});  // holes
        seg.file = std::move(f);
        if (!seg.scanned) scan_jobs_.push_back({seq, seg.file, from});
        segments_.push_back(std::move(seg));
    }

    next_seq_floor_ = max_seq + 1;
    if (segments_.empty()) {
        first_seq_ = std::max<uint64_t>(cseq, max_seq) + 1;
        std::unique_ptr<SegmentFile> f;
        Status s =
            SegmentFile::Create(SegmentPath(first_seq_), first_seq_, options_.segment_bytes, &f);
        if (!s.ok()) return s;
        dir_sync_needed_ = true;  // (no flusher yet)
        Segment seg;
        seg.file = std::move(f);
        seg.end = SegmentFile::kHeaderBytes;
        segments_.push_back(std::move(seg));
    }
    for (auto& seg : segments_) {
        if (seg.file) {
            sync_set_.push_back(seg.file);
            segment_files_++;
            // Files already there count in full, even beyond the cap.
            budget_->Reserve(seg.file->size());
            reserved_ += seg.file->size();
        }
    }
    read_seq_ = first_seq_;
    read_off_ = SegmentFile::kHeaderBytes;
    // The scan of the cursor's segment started at the cursor (see `from` above).
    const Segment& front = segments_.front();
    if (cseq == first_seq_ && coff > read_off_ &&
        (front.scanned ? coff <= front.end : coff < front.file->size()))
        read_off_ = coff;
    cursor_seq_ = read_seq_;
    cursor_off_ = read_off_;
    published_cursor_.store(MakeRef(cursor_seq_, cursor_off_));
    return Status::Ok();
}

namespace {

std::string SpotLine(const char* what, const SegmentFile& f, uint64_t off, uint64_t bytes,
                     const char* then) {
    char line[512];
    std::snprintf(line, sizeof line, "%s at %s offset %llu: %s %llu bytes%s", what,
                  f.path().c_str(), static_cast<unsigned long long>(off),
                  *then ? "skipped" : "dropped", static_cast<unsigned long long>(bytes), then);
    return line;
}

}  // namespace

FileQueue::ScanResult FileQueue::ScanSegment(const SegmentFile& f, uint64_t from, bool newest) {
    ScanResult r;
    r.seq = f.seq();
    uint64_t off = from, dropped = 0;
    uint64_t data_end = 0;  // found at the first spot that is not a record
    bool know_end = false;
    uint64_t budget = kResyncBudget * f.size();
    while (true) {
        if (!newest && off - dropped >= kScanDropStep) {
            f.DropPages(dropped, off);
            dropped = off;
        }
        const int64_t n = CheckRecord(f.data(), f.size(), off);
        if (n > 0) {
            if (f.data()[off + 8] & kFlagDone) {
                r.done++;
            } else {
                r.live++;
            }
            off += uint64_t(n);
            continue;
        }
        if (!know_end) {
            data_end = DataEnd(f, off);
            know_end = true;
            if (newest && data_end < f.size()) f.DropPages(Align8(data_end), f.size());
        }
        if (off >= data_end) break;  // zeros to the end of the segment: the end of the records
        const uint64_t next = Resync(f, off, data_end, &budget);
        if (next == kNoRecord) {
            // Nothing valid follows: a torn tail in the newest segment (a write cut short by
            // a crash; appends continue here, over clean zeros), corruption in an older one.
            r.dropped += data_end - off;
            if (newest) {
                r.problems.push_back(SpotLine("torn record", f, off, data_end - off, ""));
                std::memset(f.data() + off, 0, data_end - off);
                f.Sync();
            } else {
                r.corrupt++;
                r.problems.push_back(SpotLine("corrupt record", f, off, data_end - off,
                                              " (nothing valid after it in the segment)"));
            }
            break;
        }
        r.corrupt++;
        if (next == kGaveUp) {
            // Too much garbage that looks like records: keep the bytes, read nothing more
            // here, and let appends go to a new segment rather than over them.
            r.dropped += f.size() - off;
            r.bad.push_back({off, f.size()});
            r.problems.push_back(SpotLine("corrupt records", f, off, f.size() - off,
                                          " (search for the next valid record gave up)"));
            off = f.size();
            break;
        }
        r.dropped += next - off;
        r.bad.push_back({off, next});
        char then[64];
        std::snprintf(then, sizeof then, ", reading on at offset %llu",
                      static_cast<unsigned long long>(next));
        r.problems.push_back(SpotLine("corrupt record", f, off, next - off, then));
        off = next;
    }
    r.end = off;
    if (!newest) f.DropPages(0, f.size());
    return r;
}

uint64_t FileQueue::Segment::PastBad(uint64_t off) const {
    for (const BadSpan& b : bad)
        if (b.from == off) return b.to;
    return off;
}

void FileQueue::MoveAside(const std::string& path, const std::string& why, RecoveryReport* report) {
    std::string to = path + ".damaged";
    for (int i = 1; ::access(to.c_str(), F_OK) == 0; i++)
        to = path + ".damaged." + std::to_string(i);
    report->damaged_segments++;
    counts_.damaged_segments++;
    if (::rename(path.c_str(), to.c_str()) != 0) {
        spdlog::error("queue {}: {}; cannot move it aside: {}", options_.dir, why,
                      std::strerror(errno));
        return;
    }
    spdlog::error("queue {}: {}; moved aside to {}, its records are not read", options_.dir, why,
                  to);
}

bool FileQueue::TakeBudget() {
    if (!budget_->TryReserve(options_.segment_bytes, options_.budget_keep_free)) return false;
    reserved_ += options_.segment_bytes;
    return true;
}

void FileQueue::GiveBack(uint64_t bytes) {
    budget_->Release(bytes);
    reserved_ -= bytes;
}

void FileQueue::ScannerMain(std::vector<ScanJob> jobs) {
    for (auto& job : jobs) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (scan_stop_) break;
        }
        ScanResult r = ScanSegment(*job.file, job.from, false);
        {
            std::lock_guard<std::mutex> lock(mu_);
            scan_results_.push_back(std::move(r));
            scan_ready_.store(true, std::memory_order_release);
        }
        if (options_.on_durable) options_.on_durable();  // wakes the loop
    }
    std::lock_guard<std::mutex> lock(mu_);
    scan_over_ = true;
    scan_cv_.notify_all();
}

void FileQueue::ApplyScans() {
    if (!scan_ready_.load(std::memory_order_acquire)) return;
    std::vector<ScanResult> results;
    {
        std::lock_guard<std::mutex> lock(mu_);
        scan_ready_.store(false, std::memory_order_relaxed);
        results.swap(scan_results_);
    }
    for (const ScanResult& r : results) {
        Segment* s = Find(r.seq);
        if (!s || s->scanned) continue;
        s->end = r.end;
        s->live = r.live;
        s->bad = r.bad;
        s->scanned = true;
        unscanned_--;
        live_records_ += r.live;
        scan_report_.live_records += r.live;
        scan_report_.done_records += r.done;
        scan_report_.dropped_bytes += r.dropped;
        scan_report_.corrupt_records += r.corrupt;
        counts_.corrupt_records += r.corrupt;
        for (const std::string& p : r.problems) {
            spdlog::warn("queue {}: {}", options_.dir, p);
            scan_report_.problems.push_back(p);
        }
    }
    if (!results.empty() && unscanned_ == 0)
        spdlog::info("queue {}: older segments checked: {} more records to deliver", options_.dir,
                     scan_report_.live_records);
}

void FileQueue::WaitForScan() {
    {
        std::unique_lock<std::mutex> lock(mu_);
        scan_cv_.wait(lock, [&] { return scan_over_; });
    }
    ApplyScans();
}

FileQueue::Segment* FileQueue::Find(uint64_t seq) {
    if (seq < first_seq_ || seq >= first_seq_ + segments_.size()) return nullptr;
    Segment* s = &segments_[seq - first_seq_];
    return s->file ? s : nullptr;
}

Status FileQueue::Roll(uint64_t need) {
    const uint64_t prev = first_seq_ + segments_.size() - 1;  // the write segment till now
    const uint64_t next = NextSeq();
    if (need + kRecordHeader + SegmentFile::kHeaderBytes > options_.segment_bytes)
        return Status::Invalid("record of " + std::to_string(need) +
                               " bytes does not fit in a queue segment");
    if (!spare_reserved_ && !TakeBudget()) return Status::Full("queue full");
    spare_reserved_ = false;  // the new segment's from here on
    Publish();                // what is staged belongs to the segment being left
    std::unique_ptr<SegmentFile> f;
    {
        // A spare the flusher is creating right now is this very file: wait for it rather
        // than create the same path twice (O_TRUNC under a live mapping).
        std::unique_lock<std::mutex> lock(mu_);
        spare_cv_.wait(lock, [&] { return !spare_busy_; });
        if (spare_ && spare_->seq() == next) f = std::move(spare_);
        want_spare_ = false;
    }
    if (!f) {
        Status s = SegmentFile::Create(SegmentPath(next), next, options_.segment_bytes, &f);
        if (!s.ok()) {
            GiveBack(options_.segment_bytes);
            return s;
        }
        std::lock_guard<std::mutex> lock(mu_);
        dir_sync_needed_ = true;  // the next flush makes the new name durable first
    }
    Segment seg;
    seg.file = std::move(f);
    seg.end = SegmentFile::kHeaderBytes;
    {
        std::lock_guard<std::mutex> lock(mu_);
        sync_set_.push_back(seg.file);
    }
    while (first_seq_ + segments_.size() < next)
        segments_.push_back(Segment{});  // names not reused
    segments_.push_back(std::move(seg));
    segment_files_++;
    spare_requested_ = false;
    window_next_ = 0;  // the next append moves the window to the new segment
    // The previous write segment may now be finished; if not, its pages need not stay in our
    // RSS (they stay in the page cache) until the reader gets there.
    MaybeDelete(prev);
    if (Segment* p = Find(prev); p && read_seq_ != prev) p->file->DropPages(0, p->file->size());
    return Status::Ok();
}

Status FileQueue::Append(std::initializer_list<std::string_view> parts, RecordRef* ref,
                         uint64_t* seq) {
    uint64_t len = 0;
    for (auto p : parts) len += p.size();
    if (len == 0) return Status::Invalid("empty record");
    const uint64_t total = Align8(kRecordHeader + len);
    Segment* w = &segments_.back();
    if (w->end + total > w->file->size()) {
        Status s = Roll(len);
        // A cap or a full disk makes the queue unwritable until space comes back; a record
        // too big for any segment says nothing about the queue.
        if (s.code() != Status::Code::kInvalid) last_error_ = s;
        if (!s.ok()) return s;
        w = &segments_.back();
    }
    // Staged whole (header, payload, zero padding); Publish() writes the batch in one go.
    if (staged_.empty()) staged_off_ = w->end;
    const size_t at = staged_.size();
    staged_.resize(at + total);  // capacity is kept across batches: no allocation per record
    char* h = staged_.data() + at;
    char* p = h + kRecordHeader;
    std::memset(h, 0, kRecordHeader);
    h[9] = char(kTypeMessage);
    uint32_t crc = Crc32c(h + 9, 1);
    for (auto part : parts) {
        if (part.empty()) continue;  // an empty view may have no data pointer at all
        std::memcpy(p, part.data(), part.size());
        crc = Crc32c(p, part.size(), crc);
        p += part.size();
    }
    std::memset(p, 0, size_t(h + total - p));
    std::memcpy(h + 4, &crc, 4);
    const uint32_t len32 = uint32_t(len);
    std::memcpy(h, &len32, 4);
    const uint64_t wseq = first_seq_ + segments_.size() - 1;
    *ref = MakeRef(wseq, w->end);
    w->end += total;
    w->live++;
    live_records_++;
    *seq = ++staged_seq_;
    if (w->end >= window_next_) {
        if (!window_) window_ = std::make_unique<PageWindow>(kWindowAhead, kWindowBehind);
        window_->Advance(w->file, w->end);
        window_next_ = w->end + window_->step();
    }
    // The next segment is asked for at once, so it is ready long before it is needed,
    // unless it would not fit in the disk budget: the spare counts against the cap.
    if (!spare_requested_ && (spare_reserved_ || TakeBudget())) {
        spare_requested_ = true;
        spare_reserved_ = true;
        std::lock_guard<std::mutex> lock(mu_);
        want_spare_ = true;
        spare_seq_ = NextSeq();
        cv_.notify_one();
    }
    return Status::Ok();
}

void FileQueue::Publish() {
    ApplyScans();
    if (staged_.empty()) return;
    SegmentFile& f = *segments_.back().file;  // staged bytes belong to the write segment
    const char* p = staged_.data();
    size_t n = staged_.size();
    uint64_t off = staged_off_;
    while (n > 0) {
        const ssize_t k = ::pwrite(f.fd(), p, n, off_t(off));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            // The blocks are allocated, so this is an I/O error: the mapping still takes the
            // bytes into the page cache, as stores always did.
            spdlog::error("queue: pwrite {}: {}; writing through the mapping", f.path(),
                          k < 0 ? std::strerror(errno) : "no progress");
            std::memcpy(f.data() + off, p, n);
            break;
        }
        p += k;
        n -= size_t(k);
        off += uint64_t(k);
    }
    staged_.clear();
    if (staged_.capacity() > kStagedKeep) std::string().swap(staged_);  // after a huge batch
    appended_seq_.store(staged_seq_, std::memory_order_release);
}

bool FileQueue::Next(RecordRef* ref, std::string_view* payload) {
    Publish();
    while (true) {
        Segment* s = Find(read_seq_);
        const uint64_t write_seq = first_seq_ + segments_.size() - 1;
        if (s && !s->scanned) return false;  // the background scan has not reached it yet
        if (s && !s->bad.empty()) read_off_ = s->PastBad(read_off_);
        if (s && read_off_ < s->end) {
            const char* h = s->file->data() + read_off_;
            const uint32_t len = LoadU32(h);
            const RecordRef r = MakeRef(read_seq_, read_off_);
            read_off_ += Align8(kRecordHeader + len);
            if (h[8] & kFlagDone) continue;  // finished before a restart
            *ref = r;
            *payload = std::string_view(h + kRecordHeader, len);
            handed_out_++;
            return true;
        }
        if (read_seq_ >= write_seq) return false;
        const uint64_t left = read_seq_++;
        read_off_ = SegmentFile::kHeaderBytes;
        MaybeDelete(left);
        if (Segment* l = Find(left)) l->file->DropPages(0, l->file->size());  // read: out of RSS
    }
}

std::string_view FileQueue::Payload(RecordRef ref) const {
    const uint64_t seq = RefSeq(ref);
    const Segment& s = segments_[seq - first_seq_];
    const char* h = s.file->data() + RefOff(ref);
    return std::string_view(h + kRecordHeader, LoadU32(h));
}

FileQueue::RecordState FileQueue::State(RecordRef ref) const {
    const Segment& s = segments_[RefSeq(ref) - first_seq_];
    const char* h = s.file->data() + RefOff(ref);
    RecordState st;
    std::memcpy(&st.attempts, h + 10, 2);
    std::memcpy(&st.retry_at, h + 12, 4);
    return st;
}

void FileQueue::SetState(RecordRef ref, RecordState st) {
    Publish();
    Segment* s = Find(RefSeq(ref));
    if (!s) return;
    char* h = s->file->data() + RefOff(ref);
    std::memcpy(h + 10, &st.attempts, 2);
    std::memcpy(h + 12, &st.retry_at, 4);
}

void FileQueue::Done(RecordRef ref) {
    Publish();
    Segment* s = Find(RefSeq(ref));
    if (!s) return;
    char* h = s->file->data() + RefOff(ref);
    if (h[8] & kFlagDone) return;
    h[8] |= kFlagDone;
    s->live--;
    live_records_--;
    handed_out_--;
    if (RefSeq(ref) == cursor_seq_ && RefOff(ref) == cursor_off_) AdvanceCursor();
    MaybeDelete(RefSeq(ref));
}

// Moves the cursor over finished records, up to the read position.
void FileQueue::AdvanceCursor() {
    while (true) {
        if (cursor_seq_ > read_seq_ || (cursor_seq_ == read_seq_ && cursor_off_ >= read_off_))
            break;
        Segment* s = Find(cursor_seq_);
        if (s && !s->bad.empty() && s->PastBad(cursor_off_) != cursor_off_) {
            cursor_off_ = s->PastBad(cursor_off_);  // bad bytes recovery skipped
            continue;
        }
        if (s && cursor_off_ < s->end) {
            const char* h = s->file->data() + cursor_off_;
            if (!(h[8] & kFlagDone)) break;
            cursor_off_ += Align8(kRecordHeader + LoadU32(h));
            continue;
        }
        if (cursor_seq_ >= first_seq_ + segments_.size() - 1) break;
        cursor_seq_++;
        cursor_off_ = SegmentFile::kHeaderBytes;
    }
    published_cursor_.store(MakeRef(cursor_seq_, cursor_off_), std::memory_order_release);
}

// Deletes a segment once it is neither written nor read any more and holds no live record.
void FileQueue::MaybeDelete(uint64_t seq) {
    Segment* s = Find(seq);
    const uint64_t write_seq = first_seq_ + segments_.size() - 1;
    if (!s || !s->scanned || seq >= write_seq || seq >= read_seq_ || s->live != 0) return;
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = std::find(sync_set_.begin(), sync_set_.end(), s->file);
        if (it != sync_set_.end()) sync_set_.erase(it);
        to_delete_.push_back(std::move(s->file));
        cv_.notify_one();
    }
    segment_files_--;
    GiveBack(options_.segment_bytes);  // as segment_files_: the unlink follows in a moment
    while (!segments_.empty() && !segments_.front().file && segments_.size() > 1) {
        segments_.pop_front();
        first_seq_++;
    }
    if (cursor_seq_ < first_seq_) {
        cursor_seq_ = first_seq_;
        cursor_off_ = SegmentFile::kHeaderBytes;
        AdvanceCursor();
    }
}

void FileQueue::RequestSync() {
    Publish();
    if (durable_seq() >= appended_seq()) return;
    std::lock_guard<std::mutex> lock(mu_);
    sync_requested_ = true;
    cv_.notify_one();
}

void SyncTimes::Add(const SyncTimes& other) {
    for (size_t i = 0; i < counts.size(); i++) counts[i] += other.counts[i];
    sum_seconds += other.sum_seconds;
}

SyncTimes FileQueue::sync_times() const {
    SyncTimes t;
    for (size_t i = 0; i < t.counts.size(); i++)
        t.counts[i] = sync_counts_[i].load(std::memory_order_relaxed);
    t.sum_seconds = double(sync_ns_.load(std::memory_order_relaxed)) / 1e9;
    return t;
}

uint64_t FileQueue::disk_bytes() const {
    return segment_files_ * options_.segment_bytes;
}

bool FileQueue::SyncDir() const {
    UniqueFd dir(::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0 && ::fsync(dir.get()) == 0) return true;
    spdlog::error("queue: cannot sync directory {}: {}", options_.dir, std::strerror(errno));
    return false;
}

void FileQueue::FlusherMain() {
    using Clock = std::chrono::steady_clock;
    const auto interval = std::chrono::milliseconds(options_.fsync_interval_ms);
    auto next_periodic = Clock::now() + interval;
    uint64_t written_cursor = ~0ull;
    uint64_t tail_seq = 0;  // the newest segment the last sync covered
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
        cv_.wait_until(lock, next_periodic, [&] {
            return stop_ || sync_requested_ || (want_spare_ && !spare_) || !to_delete_.empty();
        });
        const bool periodic = Clock::now() >= next_periodic;
        const bool stopping = stop_;
        const bool sync_now =
            sync_requested_ || stopping || (periodic && options_.fsync != FsyncPolicy::kNone);
        sync_requested_ = false;
        std::vector<std::shared_ptr<SegmentFile>> to_sync, doomed;
        // Before the snapshot: a record counted here is in a segment already in sync_set_
        // (Roll() adds it there before anything is appended to it).
        const uint64_t target = appended_seq_.load(std::memory_order_acquire);
        if (sync_now) {
            // A sync for acknowledgements needs only the segments appended to since the last
            // sync; the periodic one also covers done bytes and retry state everywhere.
            const bool full = periodic || stopping;
            for (auto& f : sync_set_)
                if (full || f->seq() >= tail_seq) to_sync.push_back(f);
        }
        const bool sync_dir = sync_now && dir_sync_needed_;
        if (sync_dir) dir_sync_needed_ = false;
        doomed.swap(to_delete_);
        const bool make_spare = want_spare_ && !spare_;
        const uint64_t spare_seq = spare_seq_;
        lock.unlock();

        bool dir_failed = false;  // tried again at the next flush
        if (sync_now) {
            bool ok = true;
            const auto sync_start = Clock::now();
            if (sync_dir && !SyncDir()) {
                ok = false;
                dir_failed = true;
            }
            for (auto& f : to_sync) {
                Status s = f->Sync();
                if (!s.ok()) {
                    ok = false;
                    spdlog::error("queue: {}", s.message());
                }
            }
            if (!to_sync.empty()) {
                const double took =
                    std::chrono::duration<double>(Clock::now() - sync_start).count();
                size_t b = 0;
                while (b < SyncTimes::kBounds.size() && took > SyncTimes::kBounds[b]) b++;
                sync_counts_[b].fetch_add(1, std::memory_order_relaxed);
                sync_ns_.fetch_add(uint64_t(took * 1e9), std::memory_order_relaxed);
            }
            for (auto& f : to_sync) tail_seq = std::max(tail_seq, f->seq());
            if (ok && target > durable_seq_.load(std::memory_order_relaxed)) {
                durable_seq_.store(target, std::memory_order_release);
                if (options_.on_durable) options_.on_durable();
            }
        }
        for (auto& f : doomed) ::unlink(f->path().c_str());
        doomed.clear();  // unmaps here, off the loop thread
        const uint64_t cursor = published_cursor_.load(std::memory_order_acquire);
        if (cursor != written_cursor && (periodic || stopping)) {
            char buf[32] = {};
            std::memcpy(buf, kCursorMagic, 8);
            const uint64_t cseq = RefSeq(cursor), coff = RefOff(cursor);
            std::memcpy(buf + 8, &cseq, 8);
            std::memcpy(buf + 16, &coff, 8);
            const uint32_t crc = Crc32c(buf, 24);
            std::memcpy(buf + 24, &crc, 4);
            if (::pwrite(cursor_fd_, buf, sizeof buf, 0) == ssize_t(sizeof buf))
                written_cursor = cursor;
        }
        std::unique_ptr<SegmentFile> spare;
        Status spare_status;
        bool creating = false;
        if (make_spare && !stopping) {
            // Roll() may have created this segment itself meanwhile (want_spare_ cleared);
            // from here on a Roll() that needs it waits for it instead.
            std::lock_guard<std::mutex> relock(mu_);
            creating = spare_busy_ = want_spare_ && !spare_ && spare_seq_ == spare_seq;
        }
        if (creating) {
            spare_status = SegmentFile::Create(SegmentPath(spare_seq), spare_seq,
                                               options_.segment_bytes, &spare);
            if (!spare_status.ok()) {
                spdlog::warn("queue: {}", spare_status.message());
            } else if (!SyncDir()) {
                // Make the new file's name durable too, not only its contents; if that
                // fails, the next flush tries again before it acknowledges anything.
                lock.lock();
                dir_sync_needed_ = true;
                lock.unlock();
            }
        }
        if (periodic) next_periodic = Clock::now() + interval;

        lock.lock();
        if (dir_failed) dir_sync_needed_ = true;
        if (spare) spare_ = std::move(spare);
        if (creating) {
            spare_busy_ = false;
            spare_cv_.notify_all();
        }
        if (make_spare && !spare_status.ok()) want_spare_ = false;  // Roll() will report it
        if (stopping) break;
    }
}

Status FileQueue::Close() {
    if (closed_) return Status::Ok();
    Publish();
    closed_ = true;
    if (scanner_.joinable()) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            scan_stop_ = true;
        }
        scanner_.join();
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        cv_.notify_one();
    }
    if (flusher_.joinable()) flusher_.join();
    window_.reset();
    if (spare_) {  // never used: an empty file we need not keep
        ::unlink(spare_->path().c_str());
        spare_.reset();
    }
    // The files stay, but no longer draw on a budget other queues may go on using.
    budget_->Release(reserved_);
    reserved_ = 0;
    spare_reserved_ = false;
    if (cursor_fd_ >= 0) {
        ::fdatasync(cursor_fd_);
        ::close(cursor_fd_);
        cursor_fd_ = -1;
    }
    return Status::Ok();
}

FileQueue::~FileQueue() {
    Close();
}

}  // namespace mega
