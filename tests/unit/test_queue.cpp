// Tests of the durable queue (queue/FileQueue, queue/SegmentFile, queue/Crc32c): FIFO order,
// segments rolling and being deleted, recovery after a clean close, a torn tail, corrupt
// records (skipped, the rest kept) and damaged headers (moved aside), the size cap (one
// DiskBudget for several queues), group commit, the cursor file. Every queue lives in its own
// temporary directory with 64 KiB segments, so that a few hundred records span many segments.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "queue/Crc32c.h"
#include "queue/DeadLetters.h"
#include "queue/DedupIndex.h"
#include "queue/DiskBudget.h"
#include "queue/FileQueue.h"
#include "queue/Message.h"
#include "queue/SegmentFile.h"
#include "tests/unit/TempDir.h"

namespace fs = std::filesystem;
using mega::FileQueue;
using mega::QueueOptions;
using mega::RecordRef;
using mega::RecoveryReport;
using mega::Status;

namespace {

constexpr uint64_t kSegment = 64 << 10;
constexpr uint64_t kRecordHeader = 16;

using mega::testing::TempDir;

QueueOptions Options(const TempDir& dir) {
    QueueOptions o;
    o.dir = dir.path() + "/normal";
    o.segment_bytes = kSegment;
    o.max_bytes = 1ull << 30;
    o.fsync = mega::FsyncPolicy::kNone;
    o.fsync_interval_ms = 60000;  // nothing periodic happens during a test
    return o;
}

std::unique_ptr<FileQueue> OpenQueue(const QueueOptions& o, RecoveryReport* report = nullptr) {
    std::unique_ptr<FileQueue> q;
    RecoveryReport local;
    Status s = FileQueue::Open(o, &q, report ? report : &local);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    REQUIRE(q);
    return q;
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".seg") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

// Record i's payload: recognisable, of a size that varies from 1 byte to ~3 KiB.
std::string PayloadOf(int i) {
    std::mt19937 rng(uint32_t(i) * 2654435761u);
    std::string s = "rec-" + std::to_string(i) + ":";
    const size_t extra = rng() % 3000;
    for (size_t k = 0; k < extra; k++) s.push_back(char(rng()));
    return s;
}

RecordRef AppendOk(FileQueue* q, std::string_view payload, uint64_t* seq_out = nullptr) {
    RecordRef ref = 0;
    uint64_t seq = 0;
    Status s = q->Append({payload}, &ref, &seq);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    if (seq_out) *seq_out = seq;
    return ref;
}

struct Out {
    RecordRef ref;
    std::string payload;
};

std::vector<Out> TakeAll(FileQueue* q) {
    std::vector<Out> out;
    RecordRef ref;
    std::string_view p;
    while (q->Next(&ref, &p)) out.push_back({ref, std::string(p)});
    return out;
}

uint64_t RefSeq(RecordRef r) {
    return r >> 32;
}
uint64_t RefOff(RecordRef r) {
    return r & 0xffffffffu;
}

std::string SegmentPathOf(const QueueOptions& o, RecordRef r) {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(RefSeq(r)));
    return o.dir + "/" + name;
}

// Overwrites bytes of a closed queue's file in place (the file keeps its size).
void Poke(const std::string& path, uint64_t offset, std::string_view bytes) {
    int fd = ::open(path.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    CHECK(::pwrite(fd, bytes.data(), bytes.size(), off_t(offset)) == ssize_t(bytes.size()));
    ::close(fd);
}

std::string Peek(const std::string& path, uint64_t offset, size_t n) {
    int fd = ::open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    std::string out(n, '\0');
    CHECK(::pread(fd, out.data(), n, off_t(offset)) == ssize_t(n));
    ::close(fd);
    return out;
}

// Flips a bit inside the payload of the record at `ref` of a closed queue, so that its CRC no
// longer matches.
void CorruptRecord(const QueueOptions& o, RecordRef ref) {
    const std::string path = SegmentPathOf(o, ref);
    const uint64_t at = RefOff(ref) + kRecordHeader + 2;  // inside "rec-"
    std::string byte = Peek(path, at, 1);
    byte[0] ^= 0x20;
    Poke(path, at, byte);
}

// The textbook bit-at-a-time CRC-32C, to check the fast paths against.
uint32_t ReferenceCrc32c(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    uint32_t crc = ~0u;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

}  // namespace

TEST_CASE("Crc32c: standard check values") {
    CHECK(mega::Crc32c("123456789", 9) == 0xE3069283u);
    CHECK(mega::Crc32c("", 0) == 0u);
    // RFC 3720 (iSCSI) B.4 test vectors.
    uint8_t buf[32];
    std::memset(buf, 0, sizeof buf);
    CHECK(mega::Crc32c(buf, 32) == 0x8A9136AAu);
    std::memset(buf, 0xff, sizeof buf);
    CHECK(mega::Crc32c(buf, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = uint8_t(i);
    CHECK(mega::Crc32c(buf, 32) == 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = uint8_t(31 - i);
    CHECK(mega::Crc32c(buf, 32) == 0x113FDB5Cu);
}

TEST_CASE("Crc32c: every length and alignment matches the bitwise reference, and chains") {
    // Whichever path this CPU takes (8-byte words, then a byte tail), it must agree with the
    // definition for every length and start alignment.
    std::vector<uint8_t> data(600);
    std::mt19937 rng(7);
    for (auto& b : data) b = uint8_t(rng());
    for (size_t start = 0; start < 8; start++) {
        for (size_t n = 0; start + n <= 300; n++) {
            CAPTURE(start);
            CAPTURE(n);
            REQUIRE(mega::Crc32c(data.data() + start, n) ==
                    ReferenceCrc32c(data.data() + start, n));
        }
    }
    for (size_t cut = 0; cut <= data.size(); cut += 13) {
        const uint32_t a = mega::Crc32c(data.data(), cut);
        CHECK(mega::Crc32c(data.data() + cut, data.size() - cut, a) ==
              mega::Crc32c(data.data(), data.size()));
    }
}

TEST_CASE("segment files: named by sequence, fixed size, with the documented header") {
    TempDir dir;
    const auto o = Options(dir);
    auto q = OpenQueue(o);
    const RecordRef r = AppendOk(q.get(), "hello");
    REQUIRE(q->Close().ok());
    const auto files = SegmentFiles(o.dir);
    REQUIRE(files.size() == 1);
    CHECK(files[0] == SegmentPathOf(o, r));
    CHECK(fs::path(files[0]).filename().string().size() == 24);
    CHECK(fs::file_size(files[0]) == kSegment);
    const std::string h = Peek(files[0], 0, 64);
    CHECK(h.substr(0, 8) == "MEGASEG1");
    uint64_t seq, size;
    std::memcpy(&seq, h.data() + 8, 8);
    std::memcpy(&size, h.data() + 24, 8);
    CHECK(seq == RefSeq(r));
    CHECK(size == kSegment);
    CHECK(h.substr(32) == std::string(32, '\0'));
    // The record: length, CRC of type byte + payload, flags, type, at offset 64.
    CHECK(RefOff(r) == 64);
    const std::string rec = Peek(files[0], 64, kRecordHeader + 5);
    uint32_t len, crc;
    std::memcpy(&len, rec.data(), 4);
    std::memcpy(&crc, rec.data() + 4, 4);
    CHECK(len == 5);
    CHECK(rec[9] == 1);
    const std::string covered = std::string(1, '\1') + "hello";
    CHECK(crc == mega::Crc32c(covered.data(), covered.size()));
    CHECK(rec.substr(kRecordHeader) == "hello");
}

TEST_CASE("Append stages; Publish writes the batch into the file; Next publishes too") {
    TempDir dir;
    auto o = Options(dir);
    auto q = OpenQueue(o);
    auto read_at = [&](RecordRef ref, size_t n) {
        std::string buf(n, '\0');
        std::ifstream in(SegmentPathOf(o, ref), std::ios::binary);
        in.seekg(std::streamoff(RefOff(ref)));
        in.read(buf.data(), std::streamsize(n));
        return buf;
    };
    uint64_t seq1 = 0, seq2 = 0;
    const RecordRef a = AppendOk(q.get(), "first", &seq1);
    const RecordRef b = AppendOk(q.get(), "second", &seq2);
    CHECK(seq2 == seq1 + 1);
    CHECK(q->appended_seq() == seq2);
    CHECK(read_at(a, 8) == std::string(8, '\0'));  // not in the file yet
    q->Publish();
    CHECK(read_at(a, 16 + 5).substr(16) == "first");
    CHECK(read_at(b, 16 + 6).substr(16) == "second");
    const RecordRef c = AppendOk(q.get(), "third");
    RecordRef ref;
    std::string_view payload;
    REQUIRE(q->Next(&ref, &payload));  // publishes what is staged first
    CHECK(payload == "first");
    CHECK(read_at(c, 16 + 5).substr(16) == "third");
}

TEST_CASE("append, next, done: FIFO") {
    TempDir dir;
    auto q = OpenQueue(Options(dir));
    RecordRef ref;
    std::string_view p;
    CHECK_FALSE(q->Next(&ref, &p));

    uint64_t last_seq = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t seq;
        AppendOk(q.get(), "m" + std::to_string(i), &seq);
        CHECK(seq == last_seq + 1);
        last_seq = seq;
    }
    CHECK(q->appended_seq() == 100);
    CHECK(q->live_records() == 100);
    CHECK(q->unread_records() == 100);
    for (int i = 0; i < 100; i++) {
        REQUIRE(q->Next(&ref, &p));
        CHECK(p == "m" + std::to_string(i));
        CHECK(q->Payload(ref) == p);
        q->Done(ref);
    }
    CHECK_FALSE(q->Next(&ref, &p));
    CHECK(q->live_records() == 0);
    CHECK(q->unread_records() == 0);

    // The queue goes on after running dry, and Done twice is harmless.
    const RecordRef r = AppendOk(q.get(), "again");
    REQUIRE(q->Next(&ref, &p));
    CHECK(ref == r);
    CHECK(p == "again");
    CHECK(q->unread_records() == 0);
    CHECK(q->live_records() == 1);
    q->Done(ref);
    q->Done(ref);
    CHECK(q->live_records() == 0);
    CHECK_FALSE(q->Next(&ref, &p));
}

TEST_CASE("multi-part records and payload bytes intact across many segments") {
    TempDir dir;
    const auto o = Options(dir);
    auto q = OpenQueue(o);
    const int n = 600;  // ~900 KiB: about 14 segments
    std::set<uint64_t> segs;
    for (int i = 0; i < n; i++) {
        const std::string p = PayloadOf(i);
        RecordRef ref;
        uint64_t seq;
        const std::string_view whole = p;
        REQUIRE(
            q->Append({whole.substr(0, 3), whole.substr(3, 0), whole.substr(3)}, &ref, &seq).ok());
        segs.insert(RefSeq(ref));
        CHECK(RefOff(ref) % 8 == 0);
        CHECK(RefOff(ref) >= 64);
        CHECK(RefOff(ref) + kRecordHeader + p.size() <= kSegment);
    }
    CHECK(segs.size() >= 10);
    CHECK(SegmentFiles(o.dir).size() >= segs.size());

    auto got = TakeAll(q.get());
    REQUIRE(got.size() == size_t(n));
    for (int i = 0; i < n; i++) {
        CAPTURE(i);
        CHECK(got[size_t(i)].payload == PayloadOf(i));
    }
    for (auto& g : got) q->Done(g.ref);
    CHECK(q->live_records() == 0);
    REQUIRE(q->Close().ok());
    // Every finished segment is gone; the one being written stays.
    CHECK(SegmentFiles(o.dir).size() == 1);
}

TEST_CASE("Done out of order; segments are deleted once all their records are done") {
    TempDir dir;
    const auto o = Options(dir);
    const int n = 400;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < n; i++) AppendOk(q.get(), PayloadOf(i));
        auto got = TakeAll(q.get());
        REQUIRE(got.size() == size_t(n));
        // Segments holding records (the directory may also hold the spare made ahead).
        std::set<uint64_t> holding;
        for (const auto& g : got) holding.insert(RefSeq(g.ref));
        const size_t segs_before = holding.size();
        REQUIRE(segs_before >= 5);
        // Finish the odd ones, newest first: no segment is entirely done yet.
        for (int i = n - 1; i >= 0; i--)
            if (i % 2) q->Done(got[size_t(i)].ref);
        CHECK(q->live_records() == size_t(n / 2));
        REQUIRE(q->Close().ok());
        CHECK(SegmentFiles(o.dir).size() == segs_before);
    }
    {
        // The even ones come back, in order.
        RecoveryReport report;
        auto q = OpenQueue(o, &report);
        CHECK(report.live_records == uint64_t(n / 2));
        CHECK(report.problems.empty());
        CHECK(report.dropped_bytes == 0);
        auto got = TakeAll(q.get());
        REQUIRE(got.size() == size_t(n / 2));
        for (size_t k = 0; k < got.size(); k++) CHECK(got[k].payload == PayloadOf(int(2 * k)));
        // Finish them in a shuffled order.
        std::mt19937 rng(1);
        std::shuffle(got.begin(), got.end(), rng);
        for (auto& g : got) q->Done(g.ref);
        CHECK(q->live_records() == 0);
        REQUIRE(q->Close().ok());
        CHECK(SegmentFiles(o.dir).size() == 1);
    }
    {
        RecoveryReport report;
        auto q = OpenQueue(o, &report);
        CHECK(report.live_records == 0);
        RecordRef ref;
        std::string_view p;
        CHECK_FALSE(q->Next(&ref, &p));
    }
}

TEST_CASE("reading and finishing in lock-step keeps the segment count bounded") {
    TempDir dir;
    const auto o = Options(dir);
    auto q = OpenQueue(o);
    RecordRef ref;
    std::string_view p;
    for (int i = 0; i < 2000; i++) {  // ~3 MiB through 64 KiB segments
        AppendOk(q.get(), PayloadOf(i));
        REQUIRE(q->Next(&ref, &p));
        REQUIRE(p == PayloadOf(i));
        q->Done(ref);
        REQUIRE(q->disk_bytes() <= 2 * kSegment);
    }
    CHECK(q->live_records() == 0);
    REQUIRE(q->Close().ok());
    CHECK(SegmentFiles(o.dir).size() == 1);
    RecoveryReport report;
    auto again = OpenQueue(o, &report);
    CHECK(report.live_records == 0);
    CHECK_FALSE(again->Next(&ref, &p));
}

TEST_CASE("reopen: only records not done come back, in order, handed-out ones included") {
    TempDir dir;
    const auto o = Options(dir);
    const int n = 300;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < n; i++) AppendOk(q.get(), PayloadOf(i));
        // Hand out 150; finish the first 100 and every third of the next 50. The rest of the
        // handed-out ones are "in flight" when the process stops.
        std::vector<Out> got;
        RecordRef ref;
        std::string_view p;
        for (int i = 0; i < 150; i++) {
            REQUIRE(q->Next(&ref, &p));
            got.push_back({ref, std::string(p)});
        }
        for (int i = 0; i < 150; i++)
            if (i < 100 || i % 3 == 0) q->Done(got[size_t(i)].ref);
        REQUIRE(q->Close().ok());
    }
    std::vector<int> want;
    for (int i = 100; i < n; i++)
        if (i >= 150 || i % 3 != 0) want.push_back(i);
    for (int round = 0; round < 2; round++) {  // twice: a reopen changes nothing by itself
        CAPTURE(round);
        RecoveryReport report;
        auto q = OpenQueue(o, &report);
        CHECK(report.live_records == want.size());
        CHECK(q->live_records() == want.size());
        CHECK(report.problems.empty());
        auto got = TakeAll(q.get());
        REQUIRE(got.size() == want.size());
        for (size_t k = 0; k < want.size(); k++) CHECK(got[k].payload == PayloadOf(want[k]));
        REQUIRE(q->Close().ok());
    }
}

TEST_CASE("the cursor file lets a reopen skip done records") {
    TempDir dir;
    const auto o = Options(dir);
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < 100; i++) AppendOk(q.get(), "small-" + std::to_string(i));
        RecordRef ref;
        std::string_view p;
        for (int i = 0; i < 60; i++) {
            REQUIRE(q->Next(&ref, &p));
            q->Done(ref);
        }
        REQUIRE(q->Close().ok());
    }
    const std::string cursor = o.dir + "/cursor";
    REQUIRE(fs::exists(cursor));
    CHECK(fs::file_size(cursor) == 32);
    const std::string c = Peek(cursor, 0, 32);
    CHECK(c.substr(0, 8) == "MEGACUR1");
    uint32_t crc;
    std::memcpy(&crc, c.data() + 24, 4);
    CHECK(crc == mega::Crc32c(c.data(), 24));

    auto check_reopen = [&](uint64_t want_done) {
        RecoveryReport report;
        auto q = OpenQueue(o, &report);
        CHECK(report.live_records == 40);
        CHECK(report.done_records == want_done);
        auto got = TakeAll(q.get());
        REQUIRE(got.size() == 40);
        for (size_t k = 0; k < got.size(); k++)
            CHECK(got[k].payload == "small-" + std::to_string(60 + k));
        REQUIRE(q->Close().ok());
    };
    SUBCASE("with the cursor, the done records are not even scanned") {
        check_reopen(0);
    }
    SUBCASE("a damaged cursor is ignored: a full scan, same result") {
        Poke(cursor, 16, "\x01");
        check_reopen(60);
    }
    SUBCASE("without a cursor file: a full scan, same result") {
        fs::remove(cursor);
        check_reopen(60);
    }
}

TEST_CASE("torn tail: recovery drops the last record, keeps the rest, appends go on") {
    TempDir dir;
    const auto o = Options(dir);
    const int n = 120;  // several segments; the last record is in the newest one
    RecordRef last = 0;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < n; i++) last = AppendOk(q.get(), PayloadOf(i));
        REQUIRE(q->Close().ok());
    }
    const std::string path = SegmentPathOf(o, last);
    REQUIRE(path == SegmentFiles(o.dir).back());
    const size_t len = PayloadOf(n - 1).size();
    const uint64_t payload_at = RefOff(last) + kRecordHeader;

    SUBCASE("the end of the payload never reached the disk") {
        const size_t cut = std::min<size_t>(len, 8);
        Poke(path, payload_at + len - cut, std::string(cut, '\0'));
    }
    SUBCASE("garbage where the payload should be") {
        Poke(path, payload_at + len / 2, "\xde\xad\xbe\xef");
    }
    SUBCASE("a length word past the end of the segment") {
        Poke(path, RefOff(last), std::string("\xff\xff\x00\x00", 4));
    }

    {
        RecoveryReport report;
        auto q = OpenQueue(o, &report);
        CHECK(report.dropped_bytes > 0);
        CHECK(report.dropped_bytes <= kRecordHeader + len);
        REQUIRE(report.problems.size() == 1);
        CHECK(report.problems[0].find("torn") != std::string::npos);
        CHECK(report.live_records == uint64_t(n - 1));
        // The dropped bytes are clean zeros now.
        CHECK(Peek(path, RefOff(last), kRecordHeader + len) ==
              std::string(kRecordHeader + len, '\0'));
        auto got = TakeAll(q.get());
        REQUIRE(got.size() == size_t(n - 1));
        for (int i = 0; i < n - 1; i++) CHECK(got[size_t(i)].payload == PayloadOf(i));
        // New records go where the torn one was, and survive another reopen.
        const RecordRef r = AppendOk(q.get(), "after-the-tear");
        CHECK(r == last);
        for (int i = 0; i < 50; i++) AppendOk(q.get(), PayloadOf(1000 + i));
        REQUIRE(q->Close().ok());
    }
    {
        RecoveryReport report;
        auto q = OpenQueue(o, &report);
        CHECK(report.dropped_bytes == 0);
        CHECK(report.problems.empty());
        CHECK(report.live_records == uint64_t(n - 1 + 1 + 50));
        auto got = TakeAll(q.get());
        REQUIRE(got.size() == size_t(n + 50));
        for (int i = 0; i < n - 1; i++) CHECK(got[size_t(i)].payload == PayloadOf(i));
        CHECK(got[size_t(n - 1)].payload == "after-the-tear");
        for (int i = 0; i < 50; i++) CHECK(got[size_t(n + i)].payload == PayloadOf(1000 + i));
    }
}

TEST_CASE("a corrupt record in an older segment: only it is skipped, the rest of it kept") {
    TempDir dir;
    const auto o = Options(dir);
    std::vector<RecordRef> refs;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < 200; i++) refs.push_back(AppendOk(q.get(), PayloadOf(i)));
        REQUIRE(q->Close().ok());
    }
    // The 4th record of the second segment goes bad.
    const uint64_t first = RefSeq(refs.front());
    std::map<uint64_t, std::vector<int>> by_seg;
    for (int i = 0; i < 200; i++) by_seg[RefSeq(refs[size_t(i)])].push_back(i);
    REQUIRE(by_seg.size() >= 3);
    const std::vector<int>& second = by_seg[first + 1];
    REQUIRE(second.size() > 6);
    const int bad = second[3];
    CorruptRecord(o, refs[size_t(bad)]);

    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK(report.dropped_bytes > 0);
    CHECK(report.corrupt_records == 1);
    CHECK(q->recovery_counts().corrupt_records == 1);
    REQUIRE(report.problems.size() == 1);
    CHECK(report.problems[0].find("corrupt") != std::string::npos);
    CHECK(report.problems[0].find(SegmentPathOf(o, refs[size_t(bad)]) + " offset " +
                                  std::to_string(RefOff(refs[size_t(bad)]))) != std::string::npos);
    std::vector<int> want;
    for (int i = 0; i < 200; i++)
        if (i != bad) want.push_back(i);
    CHECK(report.live_records == want.size());
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < want.size(); k++) CHECK(got[k].payload == PayloadOf(want[k]));
    // Finishing everything that was kept lets every old segment go, the damaged one included.
    for (auto& g : got) q->Done(g.ref);
    REQUIRE(q->Close().ok());
    CHECK(SegmentFiles(o.dir).size() == 1);
}

TEST_CASE("queue_max_bytes: Append says Full, and works again once segments are freed") {
    TempDir dir;
    auto o = Options(dir);
    o.max_bytes = 4 * kSegment;
    auto q = OpenQueue(o);
    const std::string rec(1000, 'x');
    int appended = 0;
    Status s;
    while (true) {
        RecordRef ref;
        uint64_t seq;
        s = q->Append({rec}, &ref, &seq);
        if (!s.ok()) break;
        appended++;
        REQUIRE(appended < 1000);
    }
    CHECK(s.code() == Status::Code::kFull);
    CHECK(q->disk_bytes() <= o.max_bytes);
    // Four segments of ~64 records each, no more, no less.
    const int per_segment = int((kSegment - 64) / (kRecordHeader + 1000));
    CHECK(appended == 4 * per_segment);
    CHECK(q->live_records() == uint64_t(appended));
    {
        RecordRef ref;
        uint64_t seq;
        CHECK(q->Append({rec}, &ref, &seq).code() == Status::Code::kFull);  // still full
    }

    // Deliver the first segment's worth: still full (the segment is not entirely done) until
    // its last record is done.
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == size_t(appended));
    for (int i = 0; i < per_segment - 1; i++) q->Done(got[size_t(i)].ref);
    {
        RecordRef ref;
        uint64_t seq;
        CHECK(q->Append({rec}, &ref, &seq).code() == Status::Code::kFull);
    }
    q->Done(got[size_t(per_segment - 1)].ref);
    int more = 0;
    while (true) {
        RecordRef ref;
        uint64_t seq;
        s = q->Append({rec}, &ref, &seq);
        if (!s.ok()) break;
        more++;
        REQUIRE(more < 1000);
    }
    CHECK(s.code() == Status::Code::kFull);
    CHECK(more == per_segment);

    for (size_t i = size_t(per_segment); i < got.size(); i++) q->Done(got[i].ref);
    auto rest = TakeAll(q.get());
    CHECK(rest.size() == size_t(more));
    for (auto& g : rest) q->Done(g.ref);
    CHECK(q->live_records() == 0);
    RecordRef ref;
    uint64_t seq;
    CHECK(q->Append({rec}, &ref, &seq).ok());
    REQUIRE(q->Close().ok());
}

TEST_CASE("a record too large for a segment is Invalid; one that just fits is not") {
    TempDir dir;
    auto q = OpenQueue(Options(dir));
    const uint64_t fits = kSegment - 64 - kRecordHeader;
    RecordRef ref;
    uint64_t seq;
    Status s = q->Append({std::string(fits + 1, 'a')}, &ref, &seq);
    CHECK(s.code() == Status::Code::kInvalid);
    CHECK(q->Append({std::string(fits - 100, 'b'), std::string(101, 'c')}, &ref, &seq).code() ==
          Status::Code::kInvalid);
    CHECK(q->Append({}, &ref, &seq).code() == Status::Code::kInvalid);
    CHECK(q->Append({std::string_view()}, &ref, &seq).code() == Status::Code::kInvalid);
    CHECK(q->appended_seq() == 0);
    CHECK(q->live_records() == 0);

    AppendOk(q.get(), "before");
    const std::string big(fits, 'z');
    const RecordRef r = AppendOk(q.get(), big);
    CHECK(RefOff(r) == 64);  // a segment to itself
    AppendOk(q.get(), "after");
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == 3);
    CHECK(got[0].payload == "before");
    CHECK(got[1].payload == big);
    CHECK(got[2].payload == "after");
}

TEST_CASE("segments of another size: with data, Open refuses; empty, they are replaced") {
    TempDir dir;
    auto o = Options(dir);
    {
        auto q = OpenQueue(o);
        AppendOk(q.get(), "kept");
        REQUIRE(q->Close().ok());
    }
    auto bigger = o;
    bigger.segment_bytes = 2 * kSegment;
    std::unique_ptr<FileQueue> q;
    RecoveryReport report;
    Status s = FileQueue::Open(bigger, &q, &report);
    CHECK(s.code() == Status::Code::kInvalid);
    CHECK(s.message().find("queue_segment_bytes") != std::string::npos);
    // Nothing was lost by the refusal.
    auto again = OpenQueue(o);
    auto got = TakeAll(again.get());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "kept");
    auto huge = o;
    huge.segment_bytes = 1ull << 32;  // offsets in a RecordRef are 32 bits
    CHECK(FileQueue::Open(huge, &q, &report).code() == Status::Code::kInvalid);
}

TEST_CASE("a segment whose creation a crash cut short (*.seg.new) is deleted, data kept") {
    TempDir dir;
    auto o = Options(dir);
    {
        auto q = OpenQueue(o);
        AppendOk(q.get(), "kept");
        REQUIRE(q->Close().ok());
    }
    const std::string leftover = o.dir + "/00000000000000000009.seg.new";
    { std::ofstream(leftover) << "half made"; }  // no header: the crash came first
    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK_FALSE(fs::exists(leftover));
    CHECK(report.problems.empty());
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "kept");
    // New segments never show up under a .new name once made.
    for (int i = 0; i < 40; i++) AppendOk(q.get(), std::string(kSegment / 8, 'x'));
    REQUIRE(q->Close().ok());  // the flusher may be making a spare until then
    CHECK(SegmentFiles(o.dir).size() > 1);
    for (const auto& e : fs::directory_iterator(o.dir)) CHECK(e.path().extension() != ".new");
}

TEST_CASE("fsync=always: RequestSync makes everything appended durable, on_durable tells") {
    TempDir dir;
    auto o = Options(dir);
    o.fsync = mega::FsyncPolicy::kAlways;
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
    o.on_durable = [&] {
        std::lock_guard<std::mutex> lock(mu);
        calls++;
        cv.notify_all();
    };
    auto q = OpenQueue(o);
    CHECK(q->durable_seq() == 0);

    for (int round = 1; round <= 3; round++) {
        CAPTURE(round);
        uint64_t seq = 0;
        for (int i = 0; i < 100; i++) AppendOk(q.get(), PayloadOf(round * 1000 + i), &seq);
        CHECK(seq == q->appended_seq());
        CHECK(q->durable_seq() < seq);  // the interval is a minute: only RequestSync syncs
        const int calls_before = [&] {
            std::lock_guard<std::mutex> lock(mu);
            return calls;
        }();
        q->RequestSync();
        std::unique_lock<std::mutex> lock(mu);
        const bool durable = cv.wait_for(lock, std::chrono::seconds(30), [&] {
            return calls > calls_before && q->durable_seq() >= seq;
        });
        CHECK(durable);
        CHECK(q->durable_seq() == q->appended_seq());
    }
    REQUIRE(q->Close().ok());
}

TEST_CASE("fsync=interval: the flusher makes appends durable by itself") {
    TempDir dir;
    auto o = Options(dir);
    o.fsync = mega::FsyncPolicy::kInterval;
    o.fsync_interval_ms = 10;
    std::mutex mu;
    std::condition_variable cv;
    o.on_durable = [&] {
        std::lock_guard<std::mutex> lock(mu);
        cv.notify_all();
    };
    auto q = OpenQueue(o);
    uint64_t seq = 0;
    for (int i = 0; i < 50; i++) AppendOk(q.get(), PayloadOf(i), &seq);
    q->Publish();  // what the loop does once per iteration; no sync is asked for
    std::unique_lock<std::mutex> lock(mu);
    CHECK(cv.wait_for(lock, std::chrono::seconds(30), [&] { return q->durable_seq() >= seq; }));
}

TEST_CASE("a finished segment between live ones leaves a hole that recovery handles") {
    TempDir dir;
    const auto o = Options(dir);
    std::map<uint64_t, std::vector<int>> by_seg;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < 200; i++) by_seg[RefSeq(AppendOk(q.get(), PayloadOf(i)))].push_back(i);
        REQUIRE(by_seg.size() >= 4);
        auto got = TakeAll(q.get());
        REQUIRE(got.size() == 200);
        // Finish all of the second segment, nothing else.
        const uint64_t second = by_seg.begin()->first + 1;
        for (int i : by_seg[second]) q->Done(got[size_t(i)].ref);
        REQUIRE(q->Close().ok());
        CHECK(SegmentFiles(o.dir).size() == by_seg.size() - 1);
        by_seg.erase(second);
    }
    std::vector<int> want;
    for (auto& [seq, ids] : by_seg) want.insert(want.end(), ids.begin(), ids.end());
    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK(report.live_records == want.size());
    CHECK(report.problems.empty());
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < want.size(); k++) CHECK(got[k].payload == PayloadOf(want[k]));
    for (auto& g : got) q->Done(g.ref);
    CHECK(q->live_records() == 0);
    REQUIRE(q->Close().ok());
    CHECK(SegmentFiles(o.dir).size() == 1);
}

TEST_CASE("fsync = always: records across segments survive a reopen") {
    TempDir dir;
    auto o = Options(dir);
    o.fsync = mega::FsyncPolicy::kAlways;
    std::vector<std::string> payloads;
    {
        auto q = OpenQueue(o);
        // Enough records to roll into a second segment (made by the flusher or by Roll()).
        for (int i = 0; payloads.size() < 2 || q->disk_bytes() < 2 * kSegment; i++) {
            payloads.push_back(PayloadOf(i));
            AppendOk(q.get(), payloads.back());
        }
        REQUIRE(q->Close().ok());
    }
    REQUIRE(SegmentFiles(o.dir).size() >= 2);
    auto q = OpenQueue(o);
    const auto got = TakeAll(q.get());
    REQUIRE(got.size() == payloads.size());
    for (size_t i = 0; i < got.size(); i++) CHECK(got[i].payload == payloads[i]);
}

TEST_CASE("scan_in_background: Open checks only the newest segment; the rest follows in order") {
    TempDir dir;
    auto o = Options(dir);
    const int n = 300;
    std::vector<RecordRef> refs;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < n; i++) refs.push_back(AppendOk(q.get(), PayloadOf(i)));
        // Hand out 150; finish the first 100 and every third of the next 50 (the cursor moves
        // past the first 100).
        auto got = TakeAll(q.get());
        for (int i = 0; i < 150; i++)
            if (i < 100 || i % 3 == 0) q->Done(got[size_t(i)].ref);
        REQUIRE(q->Close().ok());
    }
    std::map<uint64_t, std::vector<int>> by_seg;
    for (int i = 0; i < n; i++) by_seg[RefSeq(refs[size_t(i)])].push_back(i);
    REQUIRE(by_seg.size() >= 5);
    // A record of the second-newest segment goes bad: only it is skipped.
    const std::vector<int>& older = std::prev(by_seg.end(), 2)->second;
    REQUIRE(older.size() > 4);
    const int bad = older[2];
    REQUIRE(bad >= 150);
    CorruptRecord(o, refs[size_t(bad)]);
    std::vector<std::string> want;
    for (int i = 100; i < n; i++) {
        if (i < 150 && i % 3 == 0) continue;
        if (i == bad) continue;
        want.push_back(PayloadOf(i));
    }
    const uint64_t newest_live = by_seg.rbegin()->second.size();
    // Segments before the cursor's (record 100, the first not done) are deleted at Open.
    const size_t older_kept =
        size_t(std::distance(by_seg.find(RefSeq(refs[100])), by_seg.end())) - 1;
    REQUIRE(older_kept >= 2);

    std::mutex mu;
    int wakeups = 0;
    o.scan_in_background = true;
    o.on_durable = [&] {
        std::lock_guard<std::mutex> lock(mu);
        wakeups++;
    };
    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK(report.segments_scanning == older_kept);
    CHECK(report.live_records == newest_live);  // only the newest segment so far
    CHECK(report.problems.empty());
    // Appends go on at once, after everything already queued.
    AppendOk(q.get(), "after-restart");
    want.push_back("after-restart");

    // Whatever comes out before the scan is over is a prefix, in order; the rest follows.
    auto got = TakeAll(q.get());
    q->WaitForScan();
    CHECK(q->segments_scanning() == 0);
    for (auto& g : TakeAll(q.get())) got.push_back(std::move(g));
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < want.size(); k++) CHECK(got[k].payload == want[k]);
    const RecoveryReport& bg = q->background_report();
    CHECK(report.live_records + bg.live_records + 1 == want.size());
    REQUIRE(bg.problems.size() == 1);
    CHECK(bg.problems[0].find("corrupt") != std::string::npos);
    CHECK(bg.dropped_bytes > 0);
    CHECK(bg.corrupt_records == 1);
    CHECK(q->recovery_counts().corrupt_records == 1);
    {
        std::lock_guard<std::mutex> lock(mu);
        CHECK(wakeups >= int(older_kept));  // one per segment checked
    }
    for (auto& g : got) q->Done(g.ref);
    CHECK(q->live_records() == 0);
    REQUIRE(q->Close().ok());
    CHECK(SegmentFiles(o.dir).size() == 1);
}

TEST_CASE("scan_in_background: closing while the scan runs loses nothing") {
    TempDir dir;
    auto o = Options(dir);
    const int n = 400;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < n; i++) AppendOk(q.get(), PayloadOf(i));
        REQUIRE(q->Close().ok());
    }
    for (int round = 0; round < 3; round++) {
        o.scan_in_background = true;
        auto q = OpenQueue(o);
        REQUIRE(q->Close().ok());  // at once: the scanner may not have started
    }
    o.scan_in_background = false;
    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK(report.live_records == uint64_t(n));
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == size_t(n));
    for (int i = 0; i < n; i++) CHECK(got[size_t(i)].payload == PayloadOf(i));
}

namespace {

// Record i's payload for the 1,000-record tests: recognisable, 6 to ~400 bytes.
std::string SmallPayloadOf(int i) {
    std::mt19937 rng(uint32_t(i) * 40503u + 1);
    std::string s = "small-" + std::to_string(i) + ":";
    const size_t extra = rng() % 400;
    for (size_t k = 0; k < extra; k++) s.push_back(char(rng()));
    return s;
}

void FlipBit(const std::string& path, uint64_t offset, uint8_t mask) {
    std::string byte = Peek(path, offset, 1);
    byte[0] = char(uint8_t(byte[0]) ^ mask);
    Poke(path, offset, byte);
}

std::string Contains(const std::vector<std::string>& lines, const std::string& what) {
    for (const auto& l : lines)
        if (l.find(what) != std::string::npos) return l;
    return "";
}

constexpr uint64_t kBigSegment = 1 << 20;  // room for 1,000 small records

// 1,000 small records in one segment of a closed queue (the newest, so the one recovery
// used to zero from the first bad record on). Returns their refs.
std::vector<RecordRef> ThousandRecords(const QueueOptions& o) {
    std::vector<RecordRef> refs;
    auto q = OpenQueue(o);
    for (int i = 0; i < 1000; i++) refs.push_back(AppendOk(q.get(), SmallPayloadOf(i)));
    REQUIRE(q->Close().ok());
    REQUIRE(RefSeq(refs.front()) == RefSeq(refs.back()));
    return refs;
}

}  // namespace

TEST_CASE("a flipped bit in one record of a 1,000-record segment loses only that record") {
    TempDir dir;
    auto o = Options(dir);
    o.segment_bytes = kBigSegment;
    o.fsync = mega::FsyncPolicy::kAlways;  // every record was acknowledged
    const std::vector<RecordRef> refs = ThousandRecords(o);
    const RecordRef bad = refs[10];
    const std::string path = SegmentPathOf(o, bad);
    SUBCASE("in the payload") {
        FlipBit(path, RefOff(bad) + kRecordHeader + 3, 0x10);
    }
    SUBCASE("in the CRC") {
        FlipBit(path, RefOff(bad) + 5, 0x01);
    }
    SUBCASE("in the type byte") {
        FlipBit(path, RefOff(bad) + 9, 0x02);
    }
    SUBCASE("in the length word: 2 KiB longer") {
        FlipBit(path, RefOff(bad) + 1, 0x08);
    }
    SUBCASE("in the length word: past the end of the segment") {
        FlipBit(path, RefOff(bad) + 3, 0x80);
    }
    SUBCASE("the length word zeroed (it looks like the end of the records)") {
        Poke(path, RefOff(bad), std::string(4, '\0'));
    }

    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK(report.corrupt_records == 1);
    CHECK(q->recovery_counts().corrupt_records == 1);
    CHECK(report.live_records == 999);
    REQUIRE(report.problems.size() == 1);
    CHECK_FALSE(Contains(report.problems, path + " offset " + std::to_string(RefOff(bad))).empty());
    CHECK(report.dropped_bytes == RefOff(refs[11]) - RefOff(bad));
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == 999);
    for (int i = 0, k = 0; i < 1000; i++) {
        if (i == 10) continue;
        CAPTURE(i);
        CHECK(got[size_t(k)].ref == refs[size_t(i)]);
        CHECK(got[size_t(k++)].payload == SmallPayloadOf(i));
    }
    // Appends go on after the last record, not over the ones after the bad spot; finishing
    // records moves the cursor over the bad spot; a reopen finds the same.
    const RecordRef after = AppendOk(q.get(), "after");
    CHECK(after > refs.back());
    for (size_t k = 0; k < 20; k++) q->Done(got[k].ref);
    REQUIRE(q->Close().ok());
    RecoveryReport again;
    auto q2 = OpenQueue(o, &again);
    CHECK(again.live_records == 999 - 20 + 1);
    auto rest = TakeAll(q2.get());
    REQUIRE(rest.size() == 999 - 20 + 1);
    CHECK(rest.front().payload == SmallPayloadOf(21));
    CHECK(rest.back().payload == "after");
}

TEST_CASE("a zeroed stretch in the middle of the newest segment is not taken for its end") {
    TempDir dir;
    auto o = Options(dir);
    o.segment_bytes = kBigSegment;
    const std::vector<RecordRef> refs = ThousandRecords(o);
    const std::string path = SegmentPathOf(o, refs[10]);
    // A page that never reached the disk: records 10 to 13 read as zeros.
    Poke(path, RefOff(refs[10]), std::string(RefOff(refs[14]) - RefOff(refs[10]), '\0'));
    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK(report.corrupt_records == 1);
    CHECK(report.live_records == 996);
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == 996);
    CHECK(got[9].payload == SmallPayloadOf(9));
    CHECK(got[10].payload == SmallPayloadOf(14));
    CHECK(got.back().payload == SmallPayloadOf(999));
}

TEST_CASE("the search for the next record never takes garbage that looks like one") {
    TempDir dir;
    auto o = Options(dir);
    o.segment_bytes = kBigSegment;
    const std::vector<RecordRef> refs = ThousandRecords(o);
    const std::string path = SegmentPathOf(o, refs[10]);
    // Record 10's length word goes bad and its payload is full of headers that pass every
    // cheap check (a length that fits, no unknown flag, the message type, zero padding), but
    // not the CRC.
    const uint64_t from = RefOff(refs[10]), to = RefOff(refs[11]);
    REQUIRE(to - from >= 64);
    std::string fake(to - from, '\0');
    for (size_t c = 8; c + kRecordHeader <= fake.size(); c += 8) {
        const uint32_t len = 8, crc = 0x12345678u + uint32_t(c);
        std::memcpy(&fake[c], &len, 4);
        std::memcpy(&fake[c + 4], &crc, 4);
        fake[c + 9] = 1;
    }
    const uint32_t huge = 0x7fffffffu;
    std::memcpy(&fake[0], &huge, 4);
    Poke(path, from, fake);
    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK(report.corrupt_records == 1);
    auto got = TakeAll(q.get());
    REQUIRE(got.size() == 999);
    CHECK(got[10].payload == SmallPayloadOf(11));
}

TEST_CASE("a segment of record look-alikes: the search gives up, keeps the bytes, moves on") {
    // Finding the next record costs at most a few segment sizes of CRC: here every other
    // 8-byte slot after record 4 claims a record running to the end of the segment.
    TempDir dir;
    const auto o = Options(dir);
    std::vector<RecordRef> refs;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < 5; i++) refs.push_back(AppendOk(q.get(), "kept-" + std::to_string(i)));
        REQUIRE(q->Close().ok());
    }
    const std::string path = SegmentPathOf(o, refs[0]);
    const uint64_t from = RefOff(refs[4]) + 32;
    std::string junk(kSegment - from, '\0');
    for (size_t c = 0; c + kRecordHeader < junk.size(); c += 16) {
        const uint32_t len = uint32_t(junk.size() - c - kRecordHeader);
        std::memcpy(&junk[c], &len, 4);
        junk[c + 4] = char(c);
        junk[c + 5] = 1;
        junk[c + 9] = 1;
    }
    Poke(path, from, junk);
    for (int round = 0; round < 2; round++) {
        CAPTURE(round);
        RecoveryReport report;
        auto q = OpenQueue(o, &report);
        CHECK(report.corrupt_records == 1);
        CHECK_FALSE(Contains(report.problems, "gave up").empty());
        CHECK(Peek(path, from, junk.size()) == junk);  // not zeroed
        auto got = TakeAll(q.get());
        REQUIRE(got.size() == size_t(5 + round));
        CHECK(got[4].payload == "kept-4");
        if (round == 0) {
            const RecordRef r = AppendOk(q.get(), "elsewhere");
            CHECK(RefSeq(r) > RefSeq(refs[0]));  // a new segment, not over the junk
        } else {
            CHECK(got[5].payload == "elsewhere");
        }
        REQUIRE(q->Close().ok());
    }
}

TEST_CASE("a segment whose header does not check is moved aside as *.damaged, not deleted") {
    TempDir dir;
    auto o = Options(dir);
    std::vector<RecordRef> refs;
    {
        auto q = OpenQueue(o);
        for (int i = 0; i < 200; i++) refs.push_back(AppendOk(q.get(), PayloadOf(i)));
        REQUIRE(q->Close().ok());
    }
    REQUIRE(RefSeq(refs.back()) - RefSeq(refs.front()) >= 3);
    uint64_t victim = 0;
    SUBCASE("a flipped bit in the magic of an older segment") {
        victim = RefSeq(refs.front()) + 1;
        FlipBit(SegmentPathOf(o, victim << 32), 3, 0x01);
    }
    SUBCASE("the newest segment's header names another segment") {
        victim = RefSeq(refs.back());
        FlipBit(SegmentPathOf(o, victim << 32), 8, 0x04);
    }
    SUBCASE("an older segment's header, checked in the background") {
        victim = RefSeq(refs.front()) + 1;
        FlipBit(SegmentPathOf(o, victim << 32), 0, 0x40);
        o.scan_in_background = true;
    }
    const std::string path = SegmentPathOf(o, victim << 32);
    const std::string bytes = Peek(path, 0, kSegment);

    RecoveryReport report;
    auto q = OpenQueue(o, &report);
    CHECK(report.damaged_segments == 1);
    CHECK(q->recovery_counts().damaged_segments == 1);
    CHECK_FALSE(fs::exists(path));
    REQUIRE(fs::exists(path + ".damaged"));
    CHECK(Peek(path + ".damaged", 0, kSegment) == bytes);  // moved, byte for byte
    std::vector<int> want;
    for (int i = 0; i < 200; i++)
        if (RefSeq(refs[size_t(i)]) != victim) want.push_back(i);
    auto got = TakeAll(q.get());
    q->WaitForScan();
    for (auto& g : TakeAll(q.get())) got.push_back(std::move(g));
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < want.size(); k++) CHECK(got[k].payload == PayloadOf(want[k]));
    // New segments never take the damaged one's name, even where it was the newest.
    for (int i = 0; i < 100; i++) CHECK(RefSeq(AppendOk(q.get(), PayloadOf(1000 + i))) != victim);
    REQUIRE(q->Close().ok());
    RecoveryReport again;
    auto q2 = OpenQueue(o, &again);
    CHECK(again.damaged_segments == 0);  // counted once: it is no segment any more
    CHECK(fs::exists(path + ".damaged"));
    q2->WaitForScan();
    CHECK(q2->live_records() == want.size() + 100);
}

TEST_CASE("one DiskBudget caps the segment files of several queues together") {
    TempDir dir;
    const uint64_t cap = 16 * kSegment;
    auto budget = std::make_shared<mega::DiskBudget>(cap);
    std::vector<std::unique_ptr<FileQueue>> queues;
    for (const char* name : {"high", "normal", "low", "failed"}) {
        QueueOptions o = Options(dir);
        o.dir = dir.path() + "/" + name;
        o.max_bytes = cap;  // the per-queue cap is not what counts once there is a budget
        o.budget = budget;
        o.budget_keep_free = std::string(name) == "failed" ? 0 : 2 * kSegment;
        queues.push_back(OpenQueue(o));
    }
    auto files_on_disk = [&] {
        uint64_t bytes = 0;
        for (const auto& e : fs::recursive_directory_iterator(dir.path()))
            if (e.path().extension() == ".seg") bytes += fs::file_size(e.path());
        return bytes;
    };
    const std::string rec(1000, 'r');
    RecordRef ref;
    uint64_t seq;
    // Round robin over the three priorities until every one is full.
    std::vector<int> appended(3, 0);
    for (bool any = true; any;) {
        any = false;
        for (size_t l = 0; l < 3; l++) {
            Status s = queues[l]->Append({rec}, &ref, &seq);
            if (s.ok()) {
                appended[l]++;
                any = true;
            } else {
                CHECK(s.code() == Status::Code::kFull);
            }
        }
    }
    for (auto& q : queues) q->Publish();
    CHECK(budget->used() <= cap - 2 * kSegment);
    for (int n : appended) CHECK(n > 0);
    // The dead letters still have the room the pushes left them, and no more.
    int failed = 0;
    while (queues[3]->Append({rec}, &ref, &seq).ok()) failed++;
    CHECK(failed > 0);
    CHECK(budget->used() <= cap);
    for (auto& q : queues) REQUIRE(q->Close().ok());  // (spares are deleted on close)
    CHECK(budget->used() == 0);
    CHECK(files_on_disk() <= cap);
    const uint64_t per_segment = (kSegment - 64) / (kRecordHeader + 1000);
    const uint64_t records = uint64_t(appended[0] + appended[1] + appended[2] + failed);
    CHECK(records * (kRecordHeader + 1000) <= cap);
    CHECK(records >= (cap / kSegment - 8) * per_segment);  // the cap is used, not a third of it
}

namespace {

// Offsets of the records of a closed segment file, walking the length words.
std::vector<uint64_t> RecordOffsets(const std::string& path) {
    std::vector<uint64_t> out;
    const uint64_t size = fs::file_size(path);
    for (uint64_t off = 64; off + kRecordHeader <= size;) {
        uint32_t len;
        std::memcpy(&len, Peek(path, off, 4).data(), 4);
        if (len == 0) break;
        out.push_back(off);
        off += (kRecordHeader + len + 7) / 8 * 8;
    }
    return out;
}

std::string MessagePayload(uint64_t id) {
    mega::Message m;
    m.id = id;
    m.created_ms = 1;
    m.openid = "oDead";
    m.key = "order_paid";
    m.data = "{}";
    char header[mega::kMessageHeaderBytes];
    mega::EncodeMessageHeader(m, header);
    return std::string(header, sizeof header) + "oDeadorder_paid{}";
}

}  // namespace

TEST_CASE("the dead letters and the msgkey journal skip a corrupt record and keep the rest") {
    TempDir dir;
    mega::Config c;
    c.queue_file_path = dir.path();
    c.queue_segment_bytes = kSegment;
    c.fsync = mega::FsyncPolicy::kAlways;
    auto budget = std::make_shared<mega::DiskBudget>(1ull << 30);
    {
        std::unique_ptr<mega::DeadLetters> dl;
        REQUIRE(mega::DeadLetters::Open(c, budget, &dl).ok());
        for (uint64_t id = 1; id <= 20; id++)
            REQUIRE(dl->Add(40003, 1, "invalid openid", MessagePayload(id)).ok());
        REQUIRE(dl->Close().ok());
        std::unique_ptr<mega::DedupIndex> keys;
        REQUIRE(mega::DedupIndex::Open(c, budget, nullptr, &keys).ok());
        for (int i = 1; i <= 20; i++) REQUIRE(keys->Add("key-" + std::to_string(i), 1000).ok());
        REQUIRE(keys->Close().ok());
    }
    for (const char* sub : {"failed", "keys"}) {
        const auto files = SegmentFiles(dir.path() + "/" + sub);
        REQUIRE(files.size() == 1);
        const auto offs = RecordOffsets(files[0]);
        REQUIRE(offs.size() == 20);
        FlipBit(files[0], offs[4] + kRecordHeader + 12, 0x08);  // record 5 (id/key 5)
    }
    std::unique_ptr<mega::DeadLetters> dl;
    REQUIRE(mega::DeadLetters::Open(c, budget, &dl).ok());
    CHECK(dl->size() == 19);
    CHECK(dl->recovery_counts().corrupt_records == 1);
    mega::DeadLetter d;
    CHECK_FALSE(dl->Find(5, &d));
    CHECK(dl->Find(6, &d));
    CHECK(dl->Find(20, &d));
    std::unique_ptr<mega::DedupIndex> keys;
    REQUIRE(mega::DedupIndex::Open(c, budget, nullptr, &keys).ok());
    CHECK(keys->size() == 19);
    CHECK(keys->recovery_counts().corrupt_records == 1);
    CHECK_FALSE(keys->Seen("key-5", 2000));
    CHECK(keys->Seen("key-6", 2000));
    CHECK(keys->Seen("key-20", 2000));
}
