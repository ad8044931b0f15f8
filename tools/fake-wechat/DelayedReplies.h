// DelayedReplies: sends HTTP responses after a delay without blocking the loop. One uv timer
// serves every pending reply: entries sit in a min-heap by due time and the timer is always
// armed for the earliest, so thousands of delayed replies cost one timer.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "http/HttpServer.h"
#include "http/UvHandle.h"

// The http/ layer's names, used unqualified across fake-wechat.
namespace fakewechat {
using mega::HttpReason;
using mega::HttpRequest;
using mega::HttpResponder;
using mega::HttpResponse;
using mega::HttpServer;
using mega::HttpServerLimits;
using mega::UvHandle;
}  // namespace fakewechat

namespace fakewechat {

class DelayedReplies {
  public:
    explicit DelayedReplies(uv_loop_t* loop);

    // delay_ms 0 answers at once. Replies due at the same millisecond leave in schedule order.
    void Schedule(uint64_t delay_ms, HttpResponder responder, HttpResponse response);
    size_t pending() const { return heap_.size(); }

  private:
    struct Entry {
        uint64_t due_ms;
        uint64_t sequence;
        HttpResponder responder;
        HttpResponse response;
    };
    // std::push_heap builds a max-heap; "later" first makes the earliest entry the top.
    static bool Later(const Entry& a, const Entry& b) {
        return a.due_ms != b.due_ms ? a.due_ms > b.due_ms : a.sequence > b.sequence;
    }
    void Arm();
    void OnTimer();

    uv_loop_t* loop_;
    UvHandle<uv_timer_t> timer_;
    std::vector<Entry> heap_;
    uint64_t next_sequence_ = 0;
    uint64_t armed_due_ms_ = UINT64_MAX;  // due time the timer is set for; MAX: stopped
};

}  // namespace fakewechat
