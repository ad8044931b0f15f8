// Journal records: [i64 at_ms][key bytes].
#include "queue/DedupIndex.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace mega {

Status DedupIndex::Open(const Config& config, std::shared_ptr<DiskBudget> budget,
                        std::function<void()> on_durable, std::unique_ptr<DedupIndex>* out) {
    auto d = std::make_unique<DedupIndex>();
    d->window_ms_ = int64_t(config.dedup_window_s) * 1000;
    QueueOptions qo;
    qo.dir = config.queue_file_path + "/keys";
    qo.segment_bytes = std::min<uint64_t>(config.queue_segment_bytes, 16ull << 20);
    qo.budget = std::move(budget);
    qo.fsync = config.fsync;
    qo.fsync_interval_ms = config.fsync_interval_ms;
    qo.on_durable = std::move(on_durable);
    RecoveryReport report;
    Status s = FileQueue::Open(qo, &d->journal_, &report);
    if (!s.ok()) return s;
    for (const auto& p : report.problems) spdlog::warn("msgkey journal: {}", p);
    RecordRef ref;
    std::string_view payload;
    while (d->journal_->Next(&ref, &payload)) {
        if (payload.size() < 8) {
            d->journal_->Done(ref);
            continue;
        }
        int64_t at;
        std::memcpy(&at, payload.data(), 8);
        std::string key(payload.substr(8));
        d->keys_[key] = at;
        d->order_.push_back({at, ref, std::move(key)});
    }
    *out = std::move(d);
    return Status::Ok();
}

bool DedupIndex::Seen(std::string_view key, int64_t now_ms) const {
    auto it = keys_.find(key);
    return it != keys_.end() && now_ms - it->second < window_ms_;
}

Status DedupIndex::Add(std::string_view key, int64_t now_ms, uint64_t* seq) {
    auto it = keys_.find(key);
    char at[8];
    std::memcpy(at, &now_ms, 8);
    RecordRef ref;
    uint64_t appended = 0;
    Status s = journal_->Append({std::string_view(at, 8), key}, &ref, &appended);
    if (!s.ok()) return s;
    if (seq) *seq = appended;
    if (it != keys_.end()) {
        it->second = now_ms;  // an expired key seen again: the old entry expires by itself
    } else {
        keys_.emplace(std::string(key), now_ms);
    }
    order_.push_back({now_ms, ref, std::string(key)});
    return Status::Ok();
}

void DedupIndex::Expire(int64_t now_ms) {
    // Hand out the journal records appended since (Done needs them handed out; Add leaves
    // that to here so that it costs no write of its own).
    RecordRef ref;
    std::string_view payload;
    while (journal_->Next(&ref, &payload)) {
    }
    while (!order_.empty() && now_ms - order_.front().at_ms >= window_ms_) {
        Entry& e = order_.front();
        auto it = keys_.find(e.key);
        if (it != keys_.end() && it->second == e.at_ms) keys_.erase(it);
        journal_->Done(e.ref);
        order_.pop_front();
    }
}

}  // namespace mega
