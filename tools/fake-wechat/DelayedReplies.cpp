// DelayedReplies implementation: heap maintenance and the single timer's re-arming.
// Due times use the loop clock (uv_now, milliseconds, monotonic).
#include "tools/fake-wechat/DelayedReplies.h"

#include <algorithm>
#include <utility>

namespace fakewechat {

DelayedReplies::DelayedReplies(uv_loop_t* loop) : loop_(loop), timer_(loop, uv_timer_init) {
    timer_.get()->data = this;
}

void DelayedReplies::Schedule(uint64_t delay_ms, HttpResponder responder, HttpResponse response) {
    if (delay_ms == 0) {
        responder.Send(std::move(response));
        return;
    }
    heap_.push_back(Entry{uv_now(loop_) + delay_ms, next_sequence_++, std::move(responder),
                          std::move(response)});
    std::push_heap(heap_.begin(), heap_.end(), &DelayedReplies::Later);
    Arm();
}

void DelayedReplies::Arm() {
    if (heap_.empty()) {
        uv_timer_stop(timer_.get());
        armed_due_ms_ = UINT64_MAX;
        return;
    }
    uint64_t due = heap_.front().due_ms;
    if (due == armed_due_ms_) return;
    uint64_t now = uv_now(loop_);
    armed_due_ms_ = due;
    uv_timer_start(
        timer_.get(),
        [](uv_timer_t* t) {
            if (t->data != nullptr) static_cast<DelayedReplies*>(t->data)->OnTimer();
        },
        due > now ? due - now : 0, 0);
}

void DelayedReplies::OnTimer() {
    armed_due_ms_ = UINT64_MAX;
    uint64_t now = uv_now(loop_);
    while (!heap_.empty() && heap_.front().due_ms <= now) {
        std::pop_heap(heap_.begin(), heap_.end(), &DelayedReplies::Later);
        Entry entry = std::move(heap_.back());
        heap_.pop_back();
        entry.responder.Send(std::move(entry.response));
    }
    Arm();
}

}  // namespace fakewechat
