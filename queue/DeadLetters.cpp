// Dead-letter records: [i32 errcode][i64 failed_ms][u16 attempts][u16 error length]
// [error bytes][message payload]. Every record is handed out of its FileQueue at load, so
// the queue's `done` bit means "forgotten or queued again" and the file space is reclaimed
// segment by segment like any queue.
#include "queue/DeadLetters.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

namespace mega {
namespace {
constexpr size_t kFixed = 16;
}

Status DeadLetters::Open(const Config& config, std::shared_ptr<DiskBudget> budget,
                         std::unique_ptr<DeadLetters>* out) {
    auto d = std::make_unique<DeadLetters>();
    QueueOptions qo;
    qo.dir = config.queue_file_path + "/failed";
    qo.segment_bytes = config.queue_segment_bytes;
    qo.budget = std::move(budget);
    qo.fsync = config.fsync == FsyncPolicy::kNone ? FsyncPolicy::kNone : FsyncPolicy::kInterval;
    qo.fsync_interval_ms = config.fsync_interval_ms;
    RecoveryReport report;
    Status s = FileQueue::Open(qo, &d->queue_, &report);
    if (!s.ok()) return s;
    for (const auto& p : report.problems) spdlog::warn("failed store: {}", p);
    RecordRef ref;
    std::string_view payload;
    while (d->queue_->Next(&ref, &payload)) {
        DeadLetter letter;
        Message m;
        if (!Decode(payload, &letter) || !DecodeMessage(letter.message, &m)) {
            d->queue_->Done(ref);
            continue;
        }
        d->index_[m.id] = ref;
    }
    *out = std::move(d);
    return Status::Ok();
}

bool DeadLetters::Decode(std::string_view p, DeadLetter* d) {
    if (p.size() < kFixed) return false;
    uint16_t elen;
    std::memcpy(&d->errcode, p.data(), 4);
    std::memcpy(&d->failed_ms, p.data() + 4, 8);
    std::memcpy(&d->attempts, p.data() + 12, 2);
    std::memcpy(&elen, p.data() + 14, 2);
    if (p.size() < kFixed + elen) return false;
    d->error = p.substr(kFixed, elen);
    d->message = p.substr(kFixed + elen);
    return true;
}

Status DeadLetters::Add(int errcode, uint16_t attempts, std::string_view error,
                        std::string_view message) {
    Message m;
    if (!DecodeMessage(message, &m)) return Status::Invalid("not a message");
    if (error.size() > 4096) error = error.substr(0, 4096);
    char fixed[kFixed];
    const int64_t now = int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
    const uint16_t elen = uint16_t(error.size());
    std::memcpy(fixed, &errcode, 4);
    std::memcpy(fixed + 4, &now, 8);
    std::memcpy(fixed + 12, &attempts, 2);
    std::memcpy(fixed + 14, &elen, 2);
    RecordRef ref;
    uint64_t seq;
    Status s = queue_->Append({std::string_view(fixed, kFixed), error, message}, &ref, &seq);
    if (!s.ok()) return s;
    std::string_view payload;
    queue_->Next(&ref, &payload);  // hand it out at once: it lives in the index now
    auto [it, inserted] = index_.emplace(m.id, ref);
    if (!inserted) {  // the same message failed again: keep the newest record only
        queue_->Done(it->second);
        it->second = ref;
    }
    return Status::Ok();
}

bool DeadLetters::Find(uint64_t id, DeadLetter* out) const {
    auto it = index_.find(id);
    return it != index_.end() && Decode(queue_->Payload(it->second), out);
}

bool DeadLetters::Remove(uint64_t id) {
    auto it = index_.find(id);
    if (it == index_.end()) return false;
    queue_->Done(it->second);
    index_.erase(it);
    return true;
}

std::vector<uint64_t> DeadLetters::Ids() const {
    std::vector<uint64_t> ids;
    ids.reserve(index_.size());
    for (const auto& [id, ref] : index_) ids.push_back(id);
    return ids;
}

}  // namespace mega
