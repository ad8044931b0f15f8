// Runs blocking work (MySQL, file I/O) on the libuv thread pool and its continuation back
// on the event loop: the one way the loop thread hands off anything that may block.
#pragma once

#include <uv.h>

#include <functional>

namespace mega {

// `work` runs on a pool thread, then `done` on the loop thread. If the pool refuses the
// request (the loop is closing), both run at once on the calling thread.
void OffLoop(uv_loop_t* loop, std::function<void()> work, std::function<void()> done);

}  // namespace mega
