// TemplateReloads: a token bucket paces the loads; a key that gets a reload while its load
// runs waits for the next one (the running load may have read the row before the change
// the new reload is about).
#include "server/TemplateReloads.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "base/LogText.h"
#include "base/OffLoop.h"

namespace mega {

struct TemplateReloads::Load {
    std::string key;
    TemplateStore::Row row;
    std::vector<Done> waiters;
    Status status;
};

TemplateReloads::TemplateReloads(uv_loop_t* loop, TemplateStore& store, TemplateCache& cache)
    : loop_(loop), store_(store), cache_(cache) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    refilled_ms_ = uv_now(loop_);
}

void TemplateReloads::Reload(const std::string& key, Done done) {
    if (closed_) return done(Status::Unavailable("server stopping"));
    if (waiting_count_ >= kMaxWaiting) return done(Status::Unavailable("template store busy"));
    auto [it, fresh] = waiting_.try_emplace(key);
    if (fresh) order_.push_back(key);
    it->second.push_back(std::move(done));
    waiting_count_++;
    StartNext();
}

bool TemplateReloads::TakeToken() {
    const uint64_t now = uv_now(loop_);
    tokens_ =
        std::min(kLoadsPerSecond, tokens_ + double(now - refilled_ms_) * kLoadsPerSecond / 1000.0);
    refilled_ms_ = now;
    if (tokens_ >= 1) {
        tokens_ -= 1;
        return true;
    }
    const auto wait_ms = uint64_t(std::ceil((1 - tokens_) * 1000.0 / kLoadsPerSecond));
    uv_timer_start(&timer_, OnTimer, std::max<uint64_t>(wait_ms, 1), 0);
    return false;
}

void TemplateReloads::StartNext() {
    if (loading_ || closed_ || order_.empty() || !TakeToken()) return;
    auto load = std::make_shared<Load>();
    load->key = std::move(order_.front());
    order_.pop_front();
    auto node = waiting_.extract(load->key);
    load->waiters = std::move(node.mapped());
    waiting_count_ -= load->waiters.size();
    loading_ = true;
    OffLoop(
        loop_, [this, load] { load->status = store_.LoadOne(load->key, &load->row); },
        [this, load] { Finish(*load); });
}

void TemplateReloads::Finish(Load& load) {
    Status s = load.status;
    if (s.ok()) s = cache_.Put(load.key, load.row.text, load.row.account, load.row.kind);
    if (s.ok()) {
        spdlog::info("template {} reloaded", LogText(load.key));
    } else if (s.code() == Status::Code::kUnavailable) {
        spdlog::error("template {}: {}", LogText(load.key), s.message());
        s = Status::Unavailable("template store unavailable");
    } else if (s.code() == Status::Code::kInvalid) {
        spdlog::error("template {} refused: {}", LogText(load.key), s.message());
    }
    loading_ = false;
    for (auto& done : load.waiters) done(s);
    StartNext();
}

void TemplateReloads::OnTimer(uv_timer_t* t) {
    static_cast<TemplateReloads*>(t->data)->StartNext();
}

void TemplateReloads::Close() {
    if (closed_) return;
    closed_ = true;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    std::vector<Done> left;
    for (auto& [key, waiters] : waiting_)
        for (auto& done : waiters) left.push_back(std::move(done));
    waiting_.clear();
    order_.clear();
    waiting_count_ = 0;
    for (auto& done : left) done(Status::Unavailable("server stopping"));
}

}  // namespace mega
