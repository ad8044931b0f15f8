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
namespace {
// Added to a robot's window: the sends of one window may reach WeCom later than those of
// the next (a new connection, a slow thread), and WeCom counts when they arrive.
constexpr int64_t kNetMarginMs = 500;
}  // namespace

Dispatcher::Dispatcher(uv_loop_t* loop, const Config& config, QueueBackend* backend,
                       TemplateCache* templates, SenderPool* senders, MessageLog* log,
                       FinalCallback on_final)
    : config_(config),
      backend_(backend),
      templates_(templates),
      senders_(senders),
      log_(log),
      on_final_(std::move(on_final)),
      loop_(loop),
      retries_(config.retry_backoff) {
    // The senders report straight here.
    senders_->SetResultsCallback([this](std::vector<DeliveryResult>& r) { OnResults(r); });
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    std::vector<AccountConfig> one = {AllAccounts(config).front()};
    for (const AccountConfig& a : one) {
        lanes_.push_back(std::make_unique<AccountLane>(a.name, a.rate_limit_per_second,
                                                       a.rate_burst, a.quota_probe_s, NowMs()));
        lanes_.back()->lease = backend_->LeaseRate(a.name);
        uv_timer_init(loop, lanes_.back()->pause_timer.get());
        lanes_.back()->pause_timer->data = this;
    }
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::SetAccounts(SendingAccounts* accounts) {
    accounts_ = accounts;
    if (SharedTokens* shared = backend_->shared_tokens())  // Redis: one fetch for all nodes
        for (size_t i = 0; i < accounts->size(); ++i)
            accounts->at(i).tokens->ShareThrough(shared, accounts->at(i).account.name);
    for (size_t i = 1; i < accounts->size(); ++i) {
        const AccountConfig& a = accounts->at(i).account;
        lanes_.push_back(std::make_unique<AccountLane>(a.name, a.rate_limit_per_second,
                                                       a.rate_burst, a.quota_probe_s, NowMs()));
        lanes_.back()->lease = backend_->LeaseRate(a.name);
        if (a.type == "wecom_robot")  // WeCom's limit, built in
            lanes_.back()->window =
                WindowLimit(20, int64_t(a.robot_window_s) * 1000 + kNetMarginMs);
        uv_timer_init(loop_, lanes_.back()->pause_timer.get());
        lanes_.back()->pause_timer->data = this;
    }
}

int Dispatcher::FindLane(std::string_view name) const {
    for (size_t i = 0; i < lanes_.size(); ++i)
        if (lanes_[i]->name == name) return int(i);
    return -1;
}

void Dispatcher::CloseHandles() {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    for (auto& lane : lanes_) {
        uv_timer_stop(lane->pause_timer.get());
        uv_close(reinterpret_cast<uv_handle_t*>(lane->pause_timer.get()), nullptr);
    }
}

int Dispatcher::PickLevel() {
    std::array<bool, 3> ready;
    for (int l = 0; l < kPriorityLevels; l++) ready[size_t(l)] = backend_->HasUnread(l);
    return picker_.Pick(ready);
}

void Dispatcher::Pump() {
    if (stopped_) return;
    if (backend_->pause_changes() != seen_pause_changes_) FollowSharedPause();
    const int64_t now = NowMs();
    const size_t capacity = senders_->capacity();
    size_t budget = capacity > inflight_ ? capacity - inflight_ : 0;
    for (auto& lane : lanes_) DrainHeld(*lane, now, &budget);
    while (budget > 0 && !heap_.empty() && heap_.front().at_ms <= now) {
        if (Prepare(PopDue(), now, &batch_)) budget--;
    }
    // Records are read from the queues only while some account may send: held records of
    // paused or rate-limited accounts stay bounded.
    const size_t max_held = std::max<size_t>(1024, 4 * capacity);
    while (budget > 0 && held_ < max_held && AnyLaneOpen(now)) {
        const int level = PickLevel();
        if (level < 0) break;
        RecordTag tag;
        if (!backend_->Next(level, &tag)) break;
        if (Prepare(tag, now, &batch_)) budget--;
    }
    if (!batch_.empty()) {
        inflight_ += batch_.size();
        senders_->Submit(&batch_);
        batch_.clear();
    }
    ArmTimer(RateWaitMs(now));
}

bool Dispatcher::TakeTurn(AccountLane& lane, int64_t now_ms, bool* probe) {
    *probe = false;
    if (!lane.pause.paused) {
        if (!lane.window.Ready(now_ms) || !TakeToken(lane, now_ms)) return false;
        lane.window.Record(now_ms);
        return true;
    }
    if (!lane.probe_allowed || lane.probe_inflight) return false;
    lane.probe_allowed = false;
    lane.probe_inflight = true;
    *probe = true;
    spdlog::info("account {} paused: sending one probe message", lane.name);
    return true;
}

bool Dispatcher::TakeToken(AccountLane& lane, int64_t now_ms) {
    if (!lane.lease || !lane.bucket.limited()) return lane.bucket.Take(now_ms);
    lane.lease->SetRate(lane.bucket.rate_at(now_ms), lane.bucket.cap());
    return lane.lease->Take();
}

bool Dispatcher::TokenReady(AccountLane& lane, int64_t now_ms) {
    if (!lane.lease || !lane.bucket.limited()) return lane.bucket.Ready(now_ms);
    lane.lease->SetRate(lane.bucket.rate_at(now_ms), lane.bucket.cap());
    return lane.lease->Ready();
}

bool Dispatcher::AnyLaneOpen(int64_t now_ms) {
    for (auto& lane : lanes_) {
        if (lane->pause.paused ? lane->probe_allowed && !lane->probe_inflight
                               : lane->window.Ready(now_ms) && TokenReady(*lane, now_ms))
            return true;
    }
    return false;
}

void Dispatcher::DrainHeld(AccountLane& lane, int64_t now_ms, size_t* budget) {
    while (*budget > 0 && !lane.held.empty()) {
        bool probe = false;
        if (!TakeTurn(lane, now_ms, &probe)) return;
        const RecordTag tag = lane.held.front();
        lane.held.pop_front();
        held_--;
        if (Prepare(tag, now_ms, &batch_, true)) {
            flight_[batch_.back().flight].probe = probe;
            (*budget)--;
        } else if (probe) {
            lane.probe_inflight = false;
            lane.probe_allowed = true;
        }
    }
}

int64_t Dispatcher::RateWaitMs(int64_t now_ms) {
    // A lane out of tokens may have records held or still in the queues: come back when its
    // next token has accrued (a full bucket needs no timer).
    int64_t wait = -1;
    for (auto& lane : lanes_) {
        if (lane->pause.paused) continue;
        const bool window = lane->window.Ready(now_ms), bucket = TokenReady(*lane, now_ms);
        if (window && bucket) continue;
        // A lease's tokens come with the backend's wake: only its window needs a timer.
        if (window && lane->lease && lane->bucket.limited()) continue;
        const int64_t w =
            std::max<int64_t>({int64_t(1), window ? 0 : lane->window.WaitMs(now_ms),
                               bucket || lane->lease ? 0 : lane->bucket.WaitMs(now_ms)});
        wait = wait < 0 ? w : std::min(wait, w);
    }
    return wait;
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

bool Dispatcher::Route(const Template& tmpl, DeliveryJob* job, uint32_t* lane,
                       std::string* error) const {
    *lane = 0;
    if (!accounts_) return tmpl.account() == "default" || (*error = "unknown account", false);
    const int i = accounts_->Find(tmpl.account());
    if (i < 0) {
        *error = "unknown account " + tmpl.account();
        return false;
    }
    job->channel = accounts_->ChannelFor(size_t(i), tmpl.kind(), error);
    if (!job->channel) return false;
    job->tokens = accounts_->at(size_t(i)).tokens.get();
    *lane = uint32_t(i);
    return true;
}

// A subscribe message to an openid that rejected its template (subscribe_msg_change_event).
bool Dispatcher::SubscribeRefused(const Template& tmpl, const Message& m,
                                  std::string* error) const {
    if (!choices_ || tmpl.kind() != "subscribe" || tmpl.template_id().empty()) return false;
    if (!choices_->Rejected(m.openid, tmpl.template_id())) return false;
    *error = "local: the user rejected subscribe template " + tmpl.template_id() +
             " (subscribe_msg_change_event): not sent";
    return true;
}

bool Dispatcher::Prepare(uint64_t tag, int64_t now_ms, std::vector<DeliveryJob>* jobs, bool held) {
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
    std::string route_error;
    if (!Route(*tmpl, &job, &d.lane, &route_error) || SubscribeRefused(*tmpl, m, &route_error)) {
        const Decoded ended = d;
        FreeFlightSlot(slot);
        Settle(ended, Ending::kFailed, nullptr, route_error);
        return false;
    }
    AccountLane& lane = *lanes_[d.lane];
    d.probe = false;
    if (!held && (!lane.held.empty() || !TakeTurn(lane, now_ms, &d.probe))) {
        FreeFlightSlot(slot);
        lane.held.push_back(tag);  // its turn comes in order, when the account may send
        held_++;
        return false;
    }
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
        // A copy (views and numbers): what follows may hand out messages, and so slots.
        const Decoded d = flight_[r.flight];
        FreeFlightSlot(r.flight);
        AccountLane& lane = *lanes_[d.lane];
        lane.counters.attempts++;
        const bool was_probe = d.probe;
        if (was_probe) lane.probe_inflight = false;
        if (r.outcome == Outcome::kSent) {
            if (was_probe && lane.pause.paused && !lane.pause.by_operator)
                Resume(d.lane, "a probe message went through");
            Settle(d, Ending::kSent, &r, {});
            continue;
        }
        if (r.outcome == Outcome::kQuota) {
            // Not the message's fault: it waits, unchanged, until the account may send again.
            counters_.quota_hits++;
            lane.counters.quota_hits++;
            if (!lane.pause.paused || was_probe)
                Pause(d.lane, "daily API quota reached (45009)", false, NextQuotaResetMs(now));
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
        if (r.errcode == 45011) lane.bucket.SlowUntil(now + 60000);  // half rate for a minute
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
        lane.counters.retried++;
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
    for (const auto& lane : lanes_)
        for (RecordTag tag : lane->held) sorted.push_back({0, tag});  // due now
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
    for (auto& lane : lanes_) {
        for (auto it = lane->held.begin(); it != lane->held.end(); ++it) {
            Decoded d;
            if (!Decode(*it, &d) || d.message.id != id) continue;
            lane->held.erase(it);
            held_--;
            counters_.cancelled++;
            Settle(d, Ending::kCancelled, nullptr, "cancelled by an operator");
            return true;
        }
    }
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
    AccountCounters& lane = lanes_[d.lane]->counters;
    if (ending == Ending::kSent) {
        counters_.sent++;
        lane.sent++;
    } else if (ending == Ending::kCancelled) {
        spdlog::info("message {} to {} ({}) cancelled by an operator", m.id, LogText(m.openid),
                     LogText(m.key));
    } else {
        counters_.failed++;
        lane.failed++;
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
    f.key = m.key;
    f.created_ms = m.created_ms;
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
        e.remote_msgid = r->remote_msgid;
        e.errmsg = status != LogStatus::kSent ? std::string_view(r->reply) : r->note;
    } else {
        e.errcode = error.empty() ? 0 : -1;
        e.errmsg = error;
    }
    log_->Add(std::move(e));
}

void Dispatcher::Pause(size_t i, const std::string& reason, bool by_operator, int64_t until_ms) {
    AccountLane& lane = *lanes_[i];
    PauseState& pause = lane.pause;
    const bool was = pause.paused;
    pause.paused = true;
    pause.by_operator = by_operator;
    pause.reason = reason;
    if (!was) pause.since_ms = NowMs();
    pause.until_ms = until_ms;
    lane.probe_allowed = false;
    spdlog::warn("account {} paused: {}{}", i == 0 ? config_.app_id : lane.name, reason,
                 until_ms ? " (until the quota resets at midnight UTC+8)" : "");
    // While paused by the quota, wake every probe interval (and at the reset).
    SavePause(i);
    uv_timer_stop(lane.pause_timer.get());
    if (!by_operator) {
        const int64_t probe_ms = lane.quota_probe_s > 0 ? lane.quota_probe_s * 1000ll : 0;
        const int64_t to_reset = std::max<int64_t>(0, until_ms - NowMs());
        const int64_t first = probe_ms > 0 ? std::min(probe_ms, to_reset) : to_reset;
        uv_timer_start(lane.pause_timer.get(), OnPauseTimer, uint64_t(first), uint64_t(probe_ms));
    }
}

void Dispatcher::Resume(size_t i, const std::string& why) {
    AccountLane& lane = *lanes_[i];
    if (!lane.pause.paused) return;
    spdlog::warn("account {} resumed: {} (paused {} s: {})", i == 0 ? config_.app_id : lane.name,
                 why, (NowMs() - lane.pause.since_ms) / 1000, lane.pause.reason);
    lane.pause = PauseState{};
    lane.probe_allowed = false;
    SavePause(i);
    uv_timer_stop(lane.pause_timer.get());
    Pump();
}

void Dispatcher::SavePause(size_t i) {
    if (following_) return;  // another node's: saved already
    Status s = backend_->SavePause(lanes_[i]->name, lanes_[i]->pause);
    if (!s.ok()) spdlog::error("pause not kept across a restart: {}", s.message());
}

void Dispatcher::RestorePause() {
    for (size_t i = 0; i < lanes_.size(); ++i) RestorePause(i);
}

void Dispatcher::RestorePause(size_t i) {
    PauseState kept;
    Status s = backend_->LoadPause(lanes_[i]->name, &kept);
    if (!s.ok() && s.code() != Status::Code::kNotFound)
        spdlog::error("{} (sending is not paused)", s.message());
    if (!s.ok() || !kept.paused) return;
    if (!kept.by_operator && kept.until_ms <= NowMs()) {
        spdlog::info("the quota pause from before the restart is over ({})", kept.reason);
        lanes_[i]->pause = PauseState{};
        SavePause(i);
        return;
    }
    spdlog::warn("kept from before the restart: sending paused{} since {} ms ago: {}",
                 kept.by_operator ? " by an operator" : "", NowMs() - kept.since_ms, kept.reason);
    Pause(i, kept.reason, kept.by_operator, kept.by_operator ? 0 : kept.until_ms);
    lanes_[i]->pause.since_ms = kept.since_ms;
}

void Dispatcher::FollowSharedPause() {
    seen_pause_changes_ = backend_->pause_changes();
    for (size_t i = 0; i < lanes_.size(); ++i) FollowSharedPause(i);
}

void Dispatcher::FollowSharedPause(size_t i) {
    PauseState shared;
    if (!backend_->LoadPause(lanes_[i]->name, &shared).ok()) return;
    const PauseState& mine = lanes_[i]->pause;
    const bool over =
        !shared.paused || (!shared.by_operator && shared.until_ms && shared.until_ms <= NowMs());
    following_ = true;
    if (over) {
        Resume(i, "resumed on another node");
    } else if (!mine.paused || mine.by_operator != shared.by_operator ||
               mine.reason != shared.reason || mine.until_ms != shared.until_ms) {
        Pause(i, shared.reason + " (on another node)", shared.by_operator,
              shared.by_operator ? 0 : shared.until_ms);
        lanes_[i]->pause.reason = shared.reason;
        lanes_[i]->pause.since_ms = shared.since_ms;
    }
    following_ = false;
}

void Dispatcher::OnPauseTimer(uv_timer_t* t) {
    auto* d = static_cast<Dispatcher*>(t->data);
    for (size_t i = 0; i < d->lanes_.size(); ++i) {
        AccountLane& lane = *d->lanes_[i];
        if (lane.pause_timer.get() != t || !lane.pause.paused) continue;
        if (lane.pause.until_ms && NowMs() >= lane.pause.until_ms) {
            d->Resume(i, "the daily quota reset (midnight UTC+8)");
            return;
        }
        lane.probe_allowed = true;
        d->Pump();
        return;
    }
}

void Dispatcher::Stop() {
    stopped_ = true;
    uv_timer_stop(&timer_);
    for (auto& lane : lanes_) uv_timer_stop(lane->pause_timer.get());
}

void Dispatcher::ArmTimer(int64_t rate_wait_ms) {
    const int64_t now = NowMs();
    // The top is due but the senders are full: their results pump.
    const bool heap_waits =
        !heap_.empty() && !(heap_.front().at_ms <= now && inflight_ >= senders_->capacity());
    if (stopped_ || (!heap_waits && rate_wait_ms < 0)) {
        uv_timer_stop(&timer_);
        timer_at_ms_ = 0;
        return;
    }
    int64_t at = heap_waits ? heap_.front().at_ms : now + rate_wait_ms;
    if (rate_wait_ms >= 0) at = std::min(at, now + rate_wait_ms);
    if (timer_at_ms_ == at && uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_))) return;
    timer_at_ms_ = at;
    const int64_t wait = std::max<int64_t>(0, at - now);
    uv_timer_start(&timer_, OnTimer, uint64_t(wait), 0);
}

void Dispatcher::OnTimer(uv_timer_t* t) {
    auto* d = static_cast<Dispatcher*>(t->data);
    d->timer_at_ms_ = 0;
    d->Pump();
}

}  // namespace mega
