// Dispatcher: the loop-thread side of delivery. The rules it applies are the plain classes
// of delivery/Policies.h (priority pick, rate bucket, retry schedule, quota day); here they
// meet the queues, the timers and the senders. The quota pause: after 45009 nothing is sent
// until midnight Beijing time (UTC+8), an operator's resume, or a successful probe (one
// message every [wechat] quota_probe_s).
#include "delivery/Dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "base/Clock.h"
#include "base/LogText.h"
#include "delivery/MessageOptions.h"

namespace mega {
Dispatcher::Dispatcher(uv_loop_t* loop, const Config& config, QueueBackend* backend,
                       TemplateCache* templates, SenderPool* senders, MessageLog* log,
                       FinalCallback on_final)
    : config_(config),
      backend_(backend),
      templates_(templates),
      senders_(senders),
      log_(log),
      on_final_(std::move(on_final)),
      bucket_(config.rate_limit_per_second, config.rate_burst, NowMs()),
      retries_(config.retry_backoff) {
    // The senders report straight here.
    senders_->SetResultsCallback([this](std::vector<DeliveryResult>& r) { OnResults(r); });
    uv_timer_init(loop, &timer_);
    uv_timer_init(loop, &pause_timer_);
    timer_.data = pause_timer_.data = this;
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::CloseHandles() {
    uv_timer_stop(&timer_);
    uv_timer_stop(&pause_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&pause_timer_), nullptr);
}

int Dispatcher::PickLevel() {
    std::array<bool, 3> ready;
    for (int l = 0; l < kPriorityLevels; l++) ready[size_t(l)] = backend_->HasUnread(l);
    return picker_.Pick(ready);
}

void Dispatcher::Pump() {
    if (stopped_) return;
    const int64_t now = NowMs();
    const size_t capacity =
        pause_.paused ? (probe_allowed_ && !probe_inflight_ ? 1 : 0) : senders_->capacity();
    size_t budget = capacity > inflight_ ? capacity - inflight_ : 0;
    bool rate_limited = false;
    auto take = [&](uint64_t tag) {
        if (Prepare(tag, now, &batch_)) budget--;
    };
    while (budget > 0 && !heap_.empty() && heap_.front().at_ms <= now) {
        if (!bucket_.Take(now)) {
            rate_limited = true;
            break;
        }
        take(PopDue());
    }
    while (budget > 0 && !rate_limited) {
        const int level = PickLevel();
        if (level < 0) break;
        if (!bucket_.Take(now)) {
            rate_limited = true;
            break;
        }
        RecordTag tag;
        if (!backend_->Next(level, &tag)) break;
        take(tag);
    }
    if (!batch_.empty()) {
        if (pause_.paused) {
            probe_inflight_ = true;
            probe_allowed_ = false;
            spdlog::info("account paused: sending one probe message");
        }
        inflight_ += batch_.size();
        senders_->Submit(&batch_);
        batch_.clear();
    }
    if (rate_limited) {
        // Come back when the next token has accrued.
        const int64_t wait = bucket_.WaitMs(now);
        timer_at_ms_ = now + wait;
        uv_timer_start(&timer_, OnTimer, uint64_t(wait), 0);
        return;
    }
    ArmTimer();
}

bool Dispatcher::Decode(uint64_t tag, Decoded* out) const {
    out->tag = tag;
    out->options = MessageOptions{};
    if (!DecodeMessage(backend_->Payload(tag), &out->message)) return false;
    const Message& m = out->message;
    if (m.options.empty()) return true;
    (void)ParseMessageOptions(m.options, m.created_ms, &out->options);  // checked at accept
    return true;
}

uint32_t Dispatcher::TakeFlightSlot() {
    if (free_flight_.empty()) {
        flight_.emplace_back();
        return uint32_t(flight_.size() - 1);
    }
    const uint32_t slot = free_flight_.back();
    free_flight_.pop_back();
    return slot;
}

bool Dispatcher::Prepare(uint64_t tag, int64_t now_ms, std::vector<DeliveryJob>* jobs) {
    const uint32_t slot = TakeFlightSlot();
    Decoded& d = flight_[slot];
    if (!Decode(tag, &d)) {
        spdlog::error("queue: undecodable message record dropped");
        FreeFlightSlot(slot);
        backend_->Done(tag);
        return false;
    }
    const Message& m = d.message;
    const RecordState st = backend_->State(tag);
    const int64_t due = std::max<int64_t>(m.not_before_ms, int64_t(st.retry_at) * 1000);
    if (due > now_ms) {
        FreeFlightSlot(slot);
        PushDue(due, tag);
        return false;
    }
    auto tmpl = templates_->Find(m.key);
    if (!tmpl) {
        const Decoded ended = d;
        FreeFlightSlot(slot);
        Settle(ended, Ending::kFailed, nullptr, "template key not exists");
        return false;
    }
    DeliveryJob job;
    job.id = m.id;
    job.tag = tag;
    job.flight = slot;
    job.tmpl = std::move(tmpl);
    job.openid = m.openid;
    job.data = m.data;
    job.msgkey = d.options.msgkey;
    job.attempt = st.attempts + 1u;
    jobs->push_back(std::move(job));
    return true;
}

void Dispatcher::OnResults(std::vector<DeliveryResult>& results) {
    const int64_t now = NowMs();
    for (const DeliveryResult& r : results) {
        inflight_--;
        counters_.attempts++;
        counters_.by_outcome[int(r.outcome)]++;
        if (r.transport_ok) counters_.latency.Observe(r.latency_us / 1e6);
        const bool was_probe = probe_inflight_;
        probe_inflight_ = false;
        // A copy (views and numbers): what follows may hand out messages, and so slots.
        const Decoded d = flight_[r.flight];
        FreeFlightSlot(r.flight);
        if (r.outcome == Outcome::kSent) {
            if (was_probe && pause_.paused && !pause_.by_operator)
                Resume("a probe message went through");
            Settle(d, Ending::kSent, &r, {});
            continue;
        }
        if (r.outcome == Outcome::kQuota) {
            // Not the message's fault: it waits, unchanged, until the account may send again.
            counters_.quota_hits++;
            if (!pause_.paused || was_probe)
                Pause("daily API quota reached (45009)", false, NextQuotaResetMs(now));
            PushDue(now, r.tag);
            continue;
        }
        if (r.errcode == kErrcodeNoToken && r.credentials_refused &&
            d.message.kind == MessageKind::kSend) {
            // A client waits on this send: tell it now that the credentials are refused,
            // rather than retrying until it gives up. (A push waits for the fix instead.)
            Settle(d, Ending::kFailed, &r, {});
            continue;
        }
        if (r.errcode == kErrcodeNoToken || r.errcode == kErrcodeNotSent) {
            // Never sent: no access_token (WeChat refused the credentials or cannot be
            // reached), or the senders were stopping. Not an attempt; wait and try again.
            PushDue(now + (r.errcode == kErrcodeNoToken ? 5000 : 0), r.tag);
            continue;
        }
        const Message& m = d.message;
        const MessageOptions& opts = d.options;
        const int tries = opts.tries > 0 ? opts.tries : config_.retry_tries;
        RecordState st = backend_->State(r.tag);
        st.attempts++;
        if (r.errcode == 45011) bucket_.SlowUntil(now + 60000);  // half rate for a minute
        const bool retry = r.outcome != Outcome::kPermanent && st.attempts < tries;
        if (!retry) {
            backend_->SetState(r.tag, st);
            Settle(d, Ending::kFailed, &r, {});
            continue;
        }
        const int64_t due_ms = retries_.DueMs(st.attempts, MinRetryDelaySeconds(r.errcode), now);
        st.retry_at = uint32_t(due_ms / 1000);
        backend_->SetState(r.tag, st);
        counters_.retried++;
        LogStatusChange(d, LogStatus::kRetrying, st.attempts, &r, {}, now);
        spdlog::info("message {} to {} ({}{}{}) attempt {}/{} failed ({} {}): retry in {} s", m.id,
                     LogText(m.openid), LogText(m.key), opts.source.empty() ? "" : ", source ",
                     LogText(opts.source), st.attempts, tries, OutcomeName(r.outcome), r.errcode,
                     (int64_t(st.retry_at) * 1000 - now + 999) / 1000);
        // Last: `d`'s views point into the record, which a backend that takes it back frees.
        if (!backend_->Requeue(r.tag, st)) PushDue(int64_t(st.retry_at) * 1000, r.tag);
    }
    Pump();
}

void Dispatcher::PushDue(int64_t at_ms, uint64_t tag) {
    heap_.push_back({at_ms, tag});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
}

uint64_t Dispatcher::PopDue() {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    const uint64_t tag = heap_.back().tag;
    heap_.pop_back();
    return tag;
}

std::vector<Dispatcher::WaitingMessage> Dispatcher::Waiting(size_t limit) const {
    std::vector<Due> sorted(heap_);
    std::sort(sorted.begin(), sorted.end(),
              [](const Due& a, const Due& b) { return a.at_ms < b.at_ms; });
    std::vector<WaitingMessage> out;
    for (const Due& d : sorted) {
        if (out.size() >= limit) break;
        Message m;
        if (!DecodeMessage(backend_->Payload(d.tag), &m)) continue;
        out.push_back({m.id, std::string(m.openid), std::string(m.key),
                       backend_->State(d.tag).attempts, d.at_ms});
    }
    return out;
}

bool Dispatcher::Cancel(uint64_t id) {
    for (size_t i = 0; i < heap_.size(); i++) {
        Decoded d;
        if (!Decode(heap_[i].tag, &d) || d.message.id != id) continue;
        heap_.erase(heap_.begin() + long(i));
        std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
        counters_.cancelled++;
        Settle(d, Ending::kCancelled, nullptr, "cancelled by an operator");
        ArmTimer();
        return true;
    }
    return false;
}

void Dispatcher::Settle(const Decoded& d, Ending ending, const DeliveryResult* r,
                        std::string_view local_error) {
    const Message& m = d.message;
    const bool sent = ending == Ending::kSent;
    const uint16_t attempts = backend_->State(d.tag).attempts;
    if (ending == Ending::kSent) {
        counters_.sent++;
    } else if (ending == Ending::kCancelled) {
        spdlog::info("message {} to {} ({}) cancelled by an operator", m.id, LogText(m.openid),
                     LogText(m.key));
    } else {
        counters_.failed++;
        const std::string_view error = r ? std::string_view(r->reply) : local_error;
        spdlog::warn("message {} to {} ({}) failed after {} attempts: {}", m.id, LogText(m.openid),
                     LogText(m.key), attempts, LogText(error));
        Status s =
            backend_->AddDeadLetter(r ? r->errcode : -1, attempts, error, backend_->Payload(d.tag));
        if (!s.ok()) spdlog::error("failed store: cannot keep message {}: {}", m.id, s.message());
    }
    const LogStatus status = sent                           ? LogStatus::kSent
                             : ending == Ending::kCancelled ? LogStatus::kCancelled
                                                            : LogStatus::kFailed;
    LogStatusChange(d, status, attempts + (sent ? 1 : 0), r, local_error, NowMs());
    FinalOutcome f;
    f.id = m.id;
    f.sent = sent;
    f.cancelled = ending == Ending::kCancelled;
    f.openid = m.openid;
    f.options = &d.options;
    f.result = r;
    f.local_error = local_error;
    if (on_final_) on_final_(f);
    backend_->Done(d.tag);
}

void Dispatcher::LogStatusChange(const Decoded& d, LogStatus status, uint16_t attempts,
                                 const DeliveryResult* r, std::string_view error, int64_t now_ms) {
    if (!log_) return;
    const Message& m = d.message;
    LogEvent e;
    e.id = m.id;
    e.status = status;
    e.priority = uint8_t(m.priority);
    e.attempts = attempts;
    e.at_ms = now_ms;
    e.created_ms = m.created_ms;
    e.openid = m.openid;
    e.key = m.key;
    e.source = d.options.source;
    if (log_->Missed(m.id)) {  // no "queued" row: this event brings the body
        e.tmpl = templates_->Find(m.key);
        e.data = m.data;
        e.msgkey = d.options.msgkey;
    }
    if (r) {
        e.errcode = r->errcode;
        e.msgid = r->msgid;
        e.latency_us = r->latency_us;
        if (status != LogStatus::kSent) e.errmsg = r->reply;
    } else {
        e.errcode = error.empty() ? 0 : -1;
        e.errmsg = error;
    }
    log_->Add(std::move(e));
}

void Dispatcher::Pause(const std::string& reason, bool by_operator, int64_t until_ms) {
    const bool was = pause_.paused;
    pause_.paused = true;
    pause_.by_operator = by_operator;
    pause_.reason = reason;
    if (!was) pause_.since_ms = NowMs();
    pause_.until_ms = until_ms;
    probe_allowed_ = false;
    spdlog::warn("account {} paused: {}{}", config_.app_id, reason,
                 until_ms ? " (until the quota resets at midnight UTC+8)" : "");
    // While paused by the quota, wake every probe interval (and at the reset).
    SavePause();
    uv_timer_stop(&pause_timer_);
    if (!by_operator) {
        const int64_t probe_ms = config_.quota_probe_s > 0 ? config_.quota_probe_s * 1000ll : 0;
        const int64_t to_reset = std::max<int64_t>(0, until_ms - NowMs());
        const int64_t first = probe_ms > 0 ? std::min(probe_ms, to_reset) : to_reset;
        uv_timer_start(&pause_timer_, OnPauseTimer, uint64_t(first), uint64_t(probe_ms));
    }
}

void Dispatcher::Resume(const std::string& why) {
    if (!pause_.paused) return;
    spdlog::warn("account {} resumed: {} (paused {} s: {})", config_.app_id, why,
                 (NowMs() - pause_.since_ms) / 1000, pause_.reason);
    pause_ = PauseState{};
    probe_allowed_ = false;
    SavePause();
    uv_timer_stop(&pause_timer_);
    Pump();
}

void Dispatcher::SavePause() {
    Status s = backend_->SavePause(pause_);
    if (!s.ok()) spdlog::error("pause not kept across a restart: {}", s.message());
}

void Dispatcher::RestorePause() {
    PauseState kept;
    Status s = backend_->LoadPause(&kept);
    if (!s.ok() && s.code() != Status::Code::kNotFound)
        spdlog::error("{} (sending is not paused)", s.message());
    if (!s.ok() || !kept.paused) return;
    if (!kept.by_operator && kept.until_ms <= NowMs()) {
        spdlog::info("the quota pause from before the restart is over ({})", kept.reason);
        pause_ = PauseState{};
        SavePause();
        return;
    }
    spdlog::warn("kept from before the restart: sending paused{} since {} ms ago: {}",
                 kept.by_operator ? " by an operator" : "", NowMs() - kept.since_ms, kept.reason);
    Pause(kept.reason, kept.by_operator, kept.by_operator ? 0 : kept.until_ms);
    pause_.since_ms = kept.since_ms;
}

void Dispatcher::OnPauseTimer(uv_timer_t* t) {
    auto* d = static_cast<Dispatcher*>(t->data);
    if (!d->pause_.paused) return;
    if (d->pause_.until_ms && NowMs() >= d->pause_.until_ms) {
        d->Resume("the daily quota reset (midnight UTC+8)");
        return;
    }
    d->probe_allowed_ = true;
    d->Pump();
}

void Dispatcher::Stop() {
    stopped_ = true;
    uv_timer_stop(&timer_);
    uv_timer_stop(&pause_timer_);
}

void Dispatcher::ArmTimer() {
    // Nothing to wait for, or the top is due but sending is blocked: results or a resume pump.
    if (heap_.empty() || stopped_ ||
        (heap_.front().at_ms <= NowMs() && (pause_.paused || inflight_ >= senders_->capacity()))) {
        uv_timer_stop(&timer_);
        timer_at_ms_ = 0;
        return;
    }
    const int64_t at = heap_.front().at_ms;
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
