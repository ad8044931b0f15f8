// FileBackend: a thin layer over the file queues, the dead letters and the msgkey journal.
// A RecordTag is the priority level in the top bits and the FileQueue's RecordRef below.
#include "queue/FileBackend.h"

#include <spdlog/spdlog.h>

#include "base/Clock.h"
#include "queue/PauseFile.h"

namespace mega {
namespace {

constexpr const char* kLevelNames[kPriorityLevels] = {"high", "normal", "low"};
constexpr int kLevelShift = 60;

RecordTag MakeTag(int level, RecordRef ref) {
    return (uint64_t(level) << kLevelShift) | ref;
}
int TagLevel(RecordTag tag) {
    return int(tag >> kLevelShift);
}
RecordRef TagRef(RecordTag tag) {
    return tag & ((uint64_t(1) << kLevelShift) - 1);
}

}  // namespace

Status FileBackend::Open(const Config& config, std::function<void()> wake,
                         std::unique_ptr<FileBackend>* out) {
    auto b = std::make_unique<FileBackend>(config);
    // queue_max_bytes caps all the queue files together: the priorities, the dead letters and
    // the msgkey journal draw on one budget. Pushes leave a segment of it to the dead letters.
    auto budget = std::make_shared<DiskBudget>(config.queue_max_bytes);
    Status s = b->OpenQueues(config, budget, wake);
    if (!s.ok()) return s;
    s = DeadLetters::Open(config, budget, &b->dead_letters_);
    if (!s.ok()) return s;
    s = DedupIndex::Open(config, budget, wake, &b->keys_);
    if (!s.ok()) return s;
    b->keys_->Expire(NowMs());
    spdlog::info("{} dead letters, {} message keys remembered", b->dead_letters_->size(),
                 b->keys_->size());
    *out = std::move(b);
    return Status::Ok();
}

Status FileBackend::OpenQueues(const Config& config, const std::shared_ptr<DiskBudget>& budget,
                               const std::function<void()>& wake) {
    uint64_t live = 0, scanning = 0;
    for (int l = 0; l < kPriorityLevels; l++) {
        QueueOptions qo;
        qo.dir = config.queue_file_path + "/" + kLevelNames[l];
        qo.segment_bytes = config.queue_segment_bytes;
        qo.budget = budget;
        qo.budget_keep_free = config.queue_segment_bytes;
        qo.fsync = config.fsync;
        qo.fsync_interval_ms = config.fsync_interval_ms;
        qo.on_durable = wake;
        qo.scan_in_background = true;  // the port opens without reading the whole backlog
        RecoveryReport report;
        Status s = FileQueue::Open(qo, &queues_[size_t(l)], &report);
        if (!s.ok()) return s;
        for (const auto& p : report.problems) spdlog::warn("queue {}: {}", kLevelNames[l], p);
        if (report.dropped_bytes)
            spdlog::warn("queue {}: recovery dropped {} bytes", kLevelNames[l],
                         report.dropped_bytes);
        live += report.live_records;
        scanning += report.segments_scanning;
    }
    if (scanning > 0)
        spdlog::info(
            "queue recovered: {} messages to deliver, {} older segments being checked "
            "in the background",
            live, scanning);
    else
        spdlog::info("queue recovered: {} messages to deliver", live);
    return Status::Ok();
}

FileBackend::~FileBackend() {
    (void)Close();
}

FileQueue& FileBackend::QueueOf(RecordTag tag) const {
    return *queues_[size_t(TagLevel(tag))];
}

bool FileBackend::KeySeen(std::string_view msgkey, int64_t now_ms) const {
    return keys_->Seen(msgkey, now_ms);
}

Status FileBackend::AppendRecord(const Message& m, uint64_t* seq) {
    char header[kMessageHeaderBytes];
    EncodeMessageHeader(m, header);
    RecordRef ref;
    return queues_[size_t(m.priority)]->Append(
        {std::string_view(header, sizeof header), m.openid, m.key, m.data, m.options}, &ref, seq);
}

Status FileBackend::Append(const Message& m, std::string_view msgkey, int64_t now_ms,
                           AppendTicket* ticket) {
    *ticket = AppendTicket{};
    ticket->level = int(m.priority);
    Status s = AppendRecord(m, &ticket->seq);
    if (!s.ok()) return s;
    if (msgkey.empty()) return Status::Ok();
    // The message is queued whatever happens to its key: a lost key only risks a duplicate.
    Status k = keys_->Add(msgkey, now_ms, &ticket->key_seq);
    if (!k.ok()) spdlog::error("msgkey journal: {} (a key not remembered)", k.message());
    return Status::Ok();
}

void FileBackend::Publish() {
    for (auto& q : queues_) q->Publish();
    keys_->Publish();
}

void FileBackend::RequestSync(int level) {
    queues_[size_t(level)]->RequestSync();
    keys_->RequestSync();  // no-op when no key is pending
}

bool FileBackend::Durable(const AppendTicket& t) const {
    return t.seq <= queues_[size_t(t.level)]->durable_seq() && t.key_seq <= keys_->durable_seq();
}

bool FileBackend::HasUnread(int level) const {
    return queues_[size_t(level)]->unread_records() > 0;
}

bool FileBackend::Next(int level, RecordTag* tag) {
    RecordRef ref;
    std::string_view payload;
    if (!queues_[size_t(level)]->Next(&ref, &payload)) return false;
    *tag = MakeTag(level, ref);
    return true;
}

std::string_view FileBackend::Payload(RecordTag tag) const {
    return QueueOf(tag).Payload(TagRef(tag));
}

RecordState FileBackend::State(RecordTag tag) const {
    const FileQueue::RecordState st = QueueOf(tag).State(TagRef(tag));
    return RecordState{st.attempts, st.retry_at};
}

void FileBackend::SetState(RecordTag tag, RecordState state) {
    QueueOf(tag).SetState(TagRef(tag), FileQueue::RecordState{state.attempts, state.retry_at});
}

void FileBackend::Done(RecordTag tag) {
    QueueOf(tag).Done(TagRef(tag));
}

Status FileBackend::AddDeadLetter(int errcode, uint16_t attempts, std::string_view error,
                                  std::string_view payload) {
    return dead_letters_->Add(errcode, attempts, error, payload);
}

bool FileBackend::FindDeadLetter(uint64_t id, DeadLetter* out) const {
    return dead_letters_->Find(id, out);
}

bool FileBackend::RemoveDeadLetter(uint64_t id) {
    return dead_letters_->Remove(id);
}

void FileBackend::ForEachDeadLetter(
    const std::function<bool(uint64_t id, const DeadLetter&)>& fn) const {
    dead_letters_->ForEach(fn);
}

std::vector<uint64_t> FileBackend::DeadLetterIds() const {
    return dead_letters_->Ids();
}

Status FileBackend::RequeueDeadLetter(uint64_t id) {
    DeadLetter d;
    Message m;
    if (!dead_letters_->Find(id, &d) || !DecodeMessage(d.message, &m))
        return Status::NotFound("no dead letter " + std::to_string(id));
    m.not_before_ms = 0;
    uint64_t seq;
    Status s = AppendRecord(m, &seq);
    if (!s.ok()) return s;
    queues_[size_t(m.priority)]->Publish();  // in the file before its dead letter goes
    dead_letters_->Remove(id);
    return Status::Ok();
}

Status FileBackend::SavePause(std::string_view account, const PauseState& state) {
    return SavePauseFile(pause_dir_ + "/" + PauseFileName(account), state);
}

Status FileBackend::LoadPause(std::string_view account, PauseState* state) {
    return LoadPauseFile(pause_dir_ + "/" + PauseFileName(account), state);
}

void FileBackend::Tick(int64_t now_ms) {
    keys_->Expire(now_ms);
}

BackendStats FileBackend::Stats() const {
    BackendStats s;
    for (int l = 0; l < kPriorityLevels; l++) {
        const FileQueue& q = *queues_[size_t(l)];
        s.depth[l] = q.live_records();
        s.disk_bytes += q.disk_bytes();
        s.scanning_segments += q.segments_scanning();
        s.syncs.Add(q.sync_times());
        s.writable = s.writable && q.writable();
        s.recovery.Add(q.recovery_counts());
    }
    s.recovery.Add(dead_letters_->recovery_counts());
    s.recovery.Add(keys_->recovery_counts());
    s.dead_letters = dead_letters_->size();
    s.msgkeys = keys_->size();
    return s;
}

Status FileBackend::Close() {
    Status first;
    auto keep = [&first](Status s) {
        if (first.ok() && !s.ok()) first = s;
    };
    for (auto& q : queues_)
        if (q) keep(q->Close());  // final fdatasync: every appended record is durable now
    if (dead_letters_) keep(dead_letters_->Close());
    if (keys_) keep(keys_->Close());
    return first;
}

}  // namespace mega
