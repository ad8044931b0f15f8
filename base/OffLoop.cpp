// OffLoop: the request owns its two closures; the after-work callback frees it.
#include "base/OffLoop.h"

#include <memory>

namespace mega {
namespace {

struct OffLoopCall {
    uv_work_t req;
    std::function<void()> work, done;
};

}  // namespace

void OffLoop(uv_loop_t* loop, std::function<void()> work, std::function<void()> done) {
    auto call = std::make_unique<OffLoopCall>();
    call->work = std::move(work);
    call->done = std::move(done);
    call->req.data = call.get();
    int rc = uv_queue_work(
        loop, &call->req, [](uv_work_t* r) { static_cast<OffLoopCall*>(r->data)->work(); },
        [](uv_work_t* r, int) {
            std::unique_ptr<OffLoopCall> owned(static_cast<OffLoopCall*>(r->data));
            owned->done();
        });
    if (rc == 0) {
        call.release();  // owned by the request until the after-work callback
    } else {
        call->work();
        call->done();
    }
}

}  // namespace mega
