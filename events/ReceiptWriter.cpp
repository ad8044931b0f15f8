// ReceiptWriter: takes what arrived, applies it with one MySQL session (reconnecting after a
// failure, 1 s later), keeps the not-yet-found ones aside and marks the journal applied up
// to the first receipt that is not done.
#include "events/ReceiptWriter.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "base/Clock.h"
#include "base/LogText.h"

namespace mega {
namespace {

constexpr int64_t kRetryMs = 500;  // a receipt waiting for its message's row is tried this often

}  // namespace

ReceiptWriter::ReceiptWriter(const Config& config, ReceiptJournal* journal, OnEnded on_ended,
                             OnChoice on_choice)
    : config_(config),
      journal_(journal),
      on_ended_(std::move(on_ended)),
      on_choice_(std::move(on_choice)) {}

ReceiptWriter::~ReceiptWriter() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ReceiptWriter::Start() {
    thread_ = std::thread([this] { Main(); });
}

void ReceiptWriter::Add(Receipt&& receipt, uint64_t end) {
    {
        std::lock_guard lock(mu_);
        incoming_.push_back({std::move(receipt), end, next_seq_++, 0, 0});
    }
    pending_++;
    cv_.notify_one();
}

void ReceiptWriter::Counts(ReceiptCounts* out) const {
    out->delivered = delivered_;
    out->blocked = blocked_;
    out->undelivered = undelivered_;
    out->repeats = repeats_;
    out->unknown = unknown_;
    out->choices = choices_;
    out->pending = pending_;
}

void ReceiptWriter::Main() {
    MysqlSession db;
    std::unique_lock lock(mu_);
    while (!stop_) {
        const bool idle = incoming_.empty();
        cv_.wait_for(lock, std::chrono::milliseconds(idle && !held_.empty() ? kRetryMs : 1000),
                     [this] { return stop_ || !incoming_.empty(); });
        if (stop_) break;
        std::deque<Item> batch;
        batch.swap(incoming_);
        lock.unlock();
        const int64_t now = NowMs();
        for (Item& item : batch) {
            item.first_ms = now;
            order_.emplace_back(item.end, false);
            held_.push_back(std::move(item));
        }
        std::vector<Item> waiting;
        for (Item& item : held_) {
            if (item.next_ms > now || !Apply(db, item, now)) waiting.push_back(std::move(item));
        }
        held_.swap(waiting);
        lock.lock();
    }
}

bool ReceiptWriter::Apply(MysqlSession& db, Item& item, int64_t now_ms) {
    if (!db.connected() && !db.Connect(config_).ok()) {
        item.next_ms = now_ms + 1000;
        return false;
    }
    const Receipt& r = item.receipt;
    Status s;
    if (r.kind == Receipt::Kind::kChoice) {
        s = RecordSubscribeChoice(db, r.openid, r.template_id, r.status, r.scene, now_ms);
        if (s.ok() || s.code() == Status::Code::kInvalid) {
            if (s.ok()) choices_++;
            if (s.ok() && on_choice_) on_choice_(r.openid, r.template_id, r.status == "reject");
            Finish(item.seq);
            return true;
        }
    } else {
        ReceiptStatus status;
        if (!ReceiptStatusOf(r.status, &status)) {
            spdlog::warn("receipt for msgid {} with an unknown status {}", r.msgid,
                         LogText(r.status));
            unknown_++;
            Finish(item.seq);
            return true;
        }
        ReceiptResult result;
        ReceiptMessage message;
        s = ApplyReceipt(db, config_, r.msgid, status, now_ms, &result, &message);
        if (s.ok() && result == ReceiptResult::kNotYet &&
            now_ms - item.first_ms < int64_t(config_.receipt_wait_s) * 1000) {
            item.next_ms = now_ms + kRetryMs;
            return false;
        }
        if (s.ok()) {
            if (result == ReceiptResult::kApplied) {
                (status == ReceiptStatus::kDelivered ? delivered_
                 : status == ReceiptStatus::kBlocked ? blocked_
                                                     : undelivered_)++;
                if (on_ended_) on_ended_(message, status, r.msgid, now_ms);
            } else if (result == ReceiptResult::kRepeat) {
                repeats_++;
            } else {
                spdlog::info("receipt for unknown msgid {} ({})", r.msgid, LogText(r.status));
                unknown_++;
            }
            Finish(item.seq);
            return true;
        }
    }
    spdlog::warn("receipt writer: {}", s.message());
    db.Reset();
    item.next_ms = now_ms + 1000;
    return false;
}

void ReceiptWriter::Finish(uint64_t seq) {
    pending_--;
    order_[seq - order_base_].second = true;
    uint64_t end = 0;
    bool moved = false;
    while (!order_.empty() && order_.front().second) {
        end = order_.front().first;
        order_.pop_front();
        order_base_++;
        moved = true;
    }
    if (moved) journal_->Applied(end);
}

}  // namespace mega
