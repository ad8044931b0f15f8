// A durable FIFO of records in mmap'd, fixed-size segment files (format: FORMAT.md).
// Single-threaded use from the event loop: Append stages records in memory and Publish()
// writes the staged batch into the file with one pwrite (the loop publishes once per
// iteration, before any reply goes out); Next (hand a record out) and Done (its delivery
// finished) work on the mapping. Writing with pwrite rather than stores into the mapping
// spares every fdatasync write-protecting the written pages (a TLB shootdown per page) and
// the loop the faults that follow. The blocking work (fdatasync,
// creating the next segment ahead of need, deleting finished ones, the cursor file) runs on
// one background flusher thread. A record leaves the queue only through Done(), so records
// handed out but not done when the process dies are handed out again after recovery.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"
#include "queue/DiskBudget.h"
#include "queue/PageWindow.h"
#include "queue/QueueStats.h"
#include "queue/SegmentFile.h"

namespace mega {

// Where a record lives: segment sequence number (high 32 bits) and offset (low 32 bits).
using RecordRef = uint64_t;

struct QueueOptions {
    std::string dir;
    uint64_t segment_bytes = 64ull << 20;
    uint64_t max_bytes = 8ull << 30;  // segment files on disk, at most (when no budget is given)
    // Shared by several queues: the cap on their segment files together (max_bytes unused).
    std::shared_ptr<DiskBudget> budget;
    // Bytes of the budget this queue's new segments must leave unused (room for others).
    uint64_t budget_keep_free = 0;
    FsyncPolicy fsync = FsyncPolicy::kInterval;
    int fsync_interval_ms = 100;
    // Called on the flusher thread after a flush made more records durable (see
    // durable_seq()). Must be thread-safe and quick, e.g. uv_async_send.
    std::function<void()> on_durable;
    // Open() checks only the newest segment (where appends continue) and leaves the older
    // ones to a background thread, so a restart does not wait for a long backlog to be read.
    // Records of an older segment are handed out once it is checked; on_durable is called
    // after each, to wake the loop.
    bool scan_in_background = false;
};

struct RecoveryReport {
    uint64_t segments = 0;              // segment files found
    uint64_t live_records = 0;          // records that will be delivered
    uint64_t done_records = 0;          // records already finished, skipped
    uint64_t dropped_bytes = 0;         // torn tail or corruption, zeroed/skipped
    std::vector<std::string> problems;  // one line per torn or corrupt spot
    uint64_t corrupt_records = 0;       // bad spots skipped, reading on after them (FORMAT.md)
    uint64_t damaged_segments = 0;      // unreadable headers: moved aside as *.damaged
    uint64_t segments_scanning = 0;     // left to the background scan (not counted above)
};

class FileQueue {
  public:
    // Creates `dir` if needed and recovers what is in it.
    static Status Open(const QueueOptions& options, std::unique_ptr<FileQueue>* out,
                       RecoveryReport* report);
    ~FileQueue();  // Close()
    FileQueue(const FileQueue&) = delete;
    FileQueue& operator=(const FileQueue&) = delete;

    // Appends one record: the concatenation of `parts`. Returns Full when the size cap or the
    // disk is reached, Invalid when the record cannot fit in a segment. `*seq` is the
    // record's append sequence number: it is durable once durable_seq() >= *seq. The record
    // is staged: it reaches the file (and survives the process) at the next Publish().
    Status Append(std::initializer_list<std::string_view> parts, RecordRef* ref, uint64_t* seq);
    // Writes the staged records into the file (one pwrite). Next, Done, SetState, RequestSync
    // and Close publish first by themselves.
    void Publish();

    // The next live record not handed out yet; false when there is none. The view stays
    // valid until Done(ref).
    bool Next(RecordRef* ref, std::string_view* payload);
    // The payload of a record that was handed out (so published) and is not done yet.
    std::string_view Payload(RecordRef ref) const;
    // The record's delivery finished: it will not be handed out again, even after a restart.
    void Done(RecordRef ref);

    // The mutable words of a record that is not done (FORMAT.md): attempts made so far and
    // the earliest time of the next one. Written in place; synced with the next flush.
    struct RecordState {
        uint16_t attempts = 0;
        uint32_t retry_at = 0;  // unix seconds, 0 = none
    };
    RecordState State(RecordRef ref) const;
    void SetState(RecordRef ref, RecordState state);

    // Group commit: ask the flusher to sync now (fsync = always). Cheap to call per batch.
    void RequestSync();
    uint64_t appended_seq() const { return staged_seq_; }  // loop thread
    uint64_t durable_seq() const { return durable_seq_.load(std::memory_order_acquire); }

    // With scan_in_background: older segments still being checked (their records are not
    // counted in live_records() yet), and what the background scan found so far.
    uint64_t segments_scanning() const { return unscanned_; }
    const RecoveryReport& background_report() const { return scan_report_; }
    void WaitForScan();  // blocks until the background scan is over and applies it (tests)

    // What recovery skipped (at Open and in the background scan so far).
    using RecoveryCounts = mega::RecoveryCounts;
    RecoveryCounts recovery_counts() const { return counts_; }

    uint64_t live_records() const { return live_records_; }                  // not done
    uint64_t unread_records() const { return live_records_ - handed_out_; }  // waiting
    uint64_t disk_bytes() const;
    SyncTimes sync_times() const;  // any thread
    bool writable() const { return last_error_.ok(); }

    // Syncs everything, stops the flusher. Idempotent.
    Status Close();

  private:
    struct BadSpan {  // bytes recovery found bad and skips: [from, to)
        uint64_t from, to;
    };
    struct Segment {
        std::shared_ptr<SegmentFile> file;  // null once deleted
        uint64_t end = 0;                   // offset after the last record
        uint64_t live = 0;                  // records not done
        bool scanned = true;                // false: end and live unknown (background scan)
        std::vector<BadSpan> bad;           // in offset order; readers jump over them
        // `off` itself, or where reading goes on if a bad span starts there.
        uint64_t PastBad(uint64_t off) const;
    };
    struct ScanJob {
        uint64_t seq;
        std::shared_ptr<SegmentFile> file;
        uint64_t from;  // first offset to check (the cursor's, in its segment)
    };
    struct ScanResult {
        uint64_t seq = 0, end = 0, live = 0, done = 0, dropped = 0, corrupt = 0;
        std::vector<BadSpan> bad;
        std::vector<std::string> problems;  // one line per torn or corrupt spot
    };

    explicit FileQueue(const QueueOptions& options);
    Status Recover(RecoveryReport* report);
    Status Roll(uint64_t need);
    Segment* Find(uint64_t seq);
    // The sequence number of the next segment: after every segment name found at start
    // (those moved aside too), so that no name is used twice.
    uint64_t NextSeq() const {
        return std::max<uint64_t>(first_seq_ + segments_.size(), next_seq_floor_);
    }
    void MaybeDelete(uint64_t seq);
    void AdvanceCursor();
    void FlusherMain();
    // Checks the records of `f` from `from` on: where they end, how many are live or done,
    // which bad spots to skip (FORMAT.md, Recovery). `newest`: a torn tail is zeroed (appends
    // continue there). Otherwise what was checked leaves the RSS as the scan goes.
    static ScanResult ScanSegment(const SegmentFile& f, uint64_t from, bool newest);
    // A segment whose header does not check: renamed to *.damaged, logged, counted.
    void MoveAside(const std::string& path, const std::string& why, RecoveryReport* report);
    bool TakeBudget();  // a segment's worth of the disk budget, if there is room
    void GiveBack(uint64_t bytes);
    void ScannerMain(std::vector<ScanJob> jobs);
    void ApplyScans();     // loop thread: takes what the scanner finished
    bool SyncDir() const;  // fsync of the directory (new file names); logs a failure
    std::string SegmentPath(uint64_t seq) const;

    QueueOptions options_;
    int cursor_fd_ = -1;

    // Loop-thread state.
    std::deque<Segment> segments_;  // segments_[i] has seq first_seq_ + i
    uint64_t first_seq_ = 1;
    uint64_t next_seq_floor_ = 0;
    uint64_t read_seq_ = 0, read_off_ = 0;      // next record to hand out
    uint64_t cursor_seq_ = 0, cursor_off_ = 0;  // everything before is done
    uint64_t live_records_ = 0, handed_out_ = 0;
    uint64_t segment_files_ = 0;
    bool spare_requested_ = false;
    // Records appended and not published yet: bytes for the write segment from staged_off_.
    std::string staged_;
    uint64_t staged_off_ = 0;
    uint64_t staged_seq_ = 0;  // the last append sequence number handed out
    Status last_error_;
    // Pages around the write position (created on the first append: idle queues keep no
    // thread); Advance()d again once the writer passes window_next_.
    std::unique_ptr<PageWindow> window_;
    uint64_t window_next_ = 0;
    uint64_t unscanned_ = 0;  // segments whose ScanResult is not applied yet
    RecoveryReport scan_report_;
    std::vector<ScanJob> scan_jobs_;  // from Recover() to the scanner thread
    RecoveryCounts counts_;
    std::shared_ptr<DiskBudget> budget_;
    // The budget holds a segment for the next one to be made (the spare or Roll()'s own).
    bool spare_reserved_ = false;
    uint64_t reserved_ = 0;  // this queue's share of the budget

    // Shared with the flusher thread.
    std::atomic<uint64_t> appended_seq_{0}, durable_seq_{0};  // appended_seq_: published
    std::atomic<uint64_t> published_cursor_{0};               // seq << 32 | offset
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false, sync_requested_ = false, want_spare_ = false;
    bool dir_sync_needed_ = false;  // a segment was created outside the flusher's spare path
    uint64_t spare_seq_ = 0;
    std::unique_ptr<SegmentFile> spare_;
    bool spare_busy_ = false;           // the flusher is creating spare_seq_'s file
    std::condition_variable spare_cv_;  // signalled when it is done
    Status spare_status_;
    std::vector<std::shared_ptr<SegmentFile>> sync_set_;  // every open segment
    std::vector<std::shared_ptr<SegmentFile>> to_delete_;
    // The background scan: results wait under mu_ until the loop applies them.
    std::vector<ScanResult> scan_results_;
    std::atomic<bool> scan_ready_{false};
    bool scan_over_ = true, scan_stop_ = false;
    std::condition_variable scan_cv_;
    // Written by the flusher, read by sync_times().
    std::array<std::atomic<uint64_t>, SyncTimes::kBounds.size() + 1> sync_counts_{};
    std::atomic<uint64_t> sync_ns_{0};
    std::thread flusher_, scanner_;
    bool closed_ = false;
};

}  // namespace mega
