// Dispatcher. The priority rule (PickLevel): strict high > normal > low, except that in
// every cycle of 20 picks the 10th pick offers normal the first turn and the 20th offers
// low the first turn. Under sustained high load normal and low therefore still get at
// least 5% of the sends each, and each level stays FIFO.
#include "server/Dispatcher.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace mega {
namespace {

constexpr int kLevelShift = 60;
inline uint64_t MakeTag(int level, RecordRef ref) { return (uint64_t(level) << kLevelShift) | ref; }
inline int TagLevel(uint64_t tag) { return int(tag >> kLevelShift); }
inline RecordRef TagRef(uint64_t tag) { return tag & ((uint64_t(1) << kLevelShift) - 1); }

int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Dispatcher::Dispatcher(uv_loop_t* loop, const Config& config,
                       std::array<FileQueue*, kPriorityLevels> queues, TemplateCache* templates,
                       SenderPool* senders, FinalCallback on_final)
    : config_(config),
      queues_(queues),
      templates_(templates),
      senders_(senders),
      on_final_(std::move(on_final)) {
    uv_timer_init(loop, &timer_);
    timer_.data = this;
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::CloseHandles() {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

int Dispatcher::PickLevel() {
    turn_ = (turn_ + 1) % 20;
    int first = turn_ == 9 ? 1 : turn_ == 19 ? 2 : 0;
    if (queues_[first]->unread_records() > 0) return first;
    for (int l = 0; l < kPriorityLevels; l++)
        if (queues_[l]->unread_records() > 0) return l;
    return -1;
}

void Dispatcher::Pump() {
    if (stopped_) return;
    const int64_t now = NowMs();
    const size_t capacity = senders_->capacity();
    while (!heap_.empty() && heap_.top().at_ms <= now && inflight_ + batch_.size() < capacity) {
        const uint64_t tag = heap_.top().tag;
        heap_.pop();
        Prepare(tag, now, &batch_);
    }
    while (inflight_ + batch_.size() < capacity) {
        const int level = PickLevel();
        if (level < 0) break;
        RecordRef ref;
        std::string_view payload;
        if (!queues_[level]->Next(&ref, &payload)) break;
        Prepare(MakeTag(level, ref), now, &batch_);
    }
    if (!batch_.empty()) {
        inflight_ += batch_.size();
        senders_->Submit(&batch_);
        batch_.clear();
    }
    ArmTimer();
}

bool Dispatcher::Prepare(uint64_t tag, int64_t now_ms, std::vector<DeliveryJob>* jobs) {
    FileQueue* q = queues_[TagLevel(tag)];
    const RecordRef ref = TagRef(tag);
    Message m;
    if (!DecodeMessage(q->Payload(ref), &m)) {
        spdlog::error("queue: undecodable message record dropped");
        q->Done(ref);
        return false;
    }
    const FileQueue::RecordState st = q->State(ref);
    const int64_t due = std::max<int64_t>(m.not_before_ms, int64_t(st.retry_at) * 1000);
    if (due > now_ms) {
        heap_.push({due, tag});
        return false;
    }
    auto tmpl = templates_->Find(m.key);
    if (!tmpl) {
        Settle(tag, false, nullptr, "template key not exists");
        return false;
    }
    DeliveryJob job;
    job.id = m.id;
    job.tag = tag;
    job.tmpl = std::move(tmpl);
    job.openid = m.openid;
    job.data = m.data;
    job.attempt = st.attempts + 1u;
    jobs->push_back(std::move(job));
    return true;
}

void Dispatcher::OnResults(std::vector<DeliveryResult>& results) {
    const int64_t now = NowMs();
    for (const DeliveryResult& r : results) {
        inflight_--;
        counters_.attempts++;
        if (r.outcome == Outcome::kSent) {
            Settle(r.tag, true, &r, {});
            continue;
        }
        FileQueue* q = queues_[TagLevel(r.tag)];
        const RecordRef ref = TagRef(r.tag);
        FileQueue::RecordState st = q->State(ref);
        st.attempts++;
        const bool retry = r.outcome != Outcome::kPermanent && st.attempts < config_.retry_tries;
        if (!retry) {
            Settle(r.tag, false, &r, {});
            continue;
        }
        const auto& steps = config_.retry_backoff;
        int delay = steps[std::min<size_t>(st.attempts - 1, steps.size() - 1)];
        delay = std::max(delay, MinRetryDelaySeconds(r.errcode));
        // Up to 20% jitter, so a burst of failures does not come back as a burst.
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        const int64_t due_ms = now + int64_t(delay) * 1000 + int64_t(rng_ % (uint64_t(delay) * 200 + 1));
        st.retry_at = uint32_t((due_ms + 999) / 1000);
        q->SetState(ref, st);
        heap_.push({int64_t(st.retry_at) * 1000, r.tag});
        counters_.retried++;
        spdlog::info("message {} attempt {} failed ({}, {}): retry in {} s", r.id, st.attempts,
                     OutcomeName(r.outcome), r.errcode, (due_ms - now) / 1000);
    }
    Pump();
}

void Dispatcher::Settle(uint64_t tag, bool sent, const DeliveryResult* r,
                        std::string_view local_error) {
    FileQueue* q = queues_[TagLevel(tag)];
    const RecordRef ref = TagRef(tag);
    Message m;
    DecodeMessage(q->Payload(ref), &m);
    if (sent) {
        counters_.sent++;
    } else {
        counters_.failed++;
        spdlog::warn("message {} to {} ({}) failed: {}", m.id, m.openid, m.key,
                     r ? std::string_view(r->reply) : local_error);
    }
    FinalOutcome f;
    f.id = m.id;
    f.sent = sent;
    f.openid = m.openid;
    f.result = r;
    f.local_error = local_error;
    if (on_final_) on_final_(f);
    q->Done(ref);
}

void Dispatcher::Stop() {
    stopped_ = true;
    uv_timer_stop(&timer_);
}

void Dispatcher::ArmTimer() {
    // Nothing to wait for, or the top is due but the senders are full: their results pump.
    if (heap_.empty() || stopped_ ||
        (heap_.top().at_ms <= NowMs() && inflight_ >= senders_->capacity())) {
        uv_timer_stop(&timer_);
        timer_at_ms_ = 0;
        return;
    }
    const int64_t at = heap_.top().at_ms;
    if (timer_at_ms_ == at && uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_))) return;
    timer_at_ms_ = at;
    const int64_t wait = std::max<int64_t>(0, at - NowMs());
    uv_timer_start(&timer_, OnTimer, uint64_t(wait), 0);
}

void Dispatcher::OnTimer(uv_timer_t* t) {
    auto* d = static_cast<Dispatcher*>(t->data);
    d->timer_at_ms_ = 0;
    d->Pump();
}

}  // namespace mega
