// UvHandle: owns one libuv handle (uv_tcp_t, uv_timer_t, uv_signal_t, ...) for its whole life.
// The handle lives on the heap; the destructor hands it to uv_close, whose callback frees it,
// so the memory stays valid for as long as libuv may still touch it. An init that fails leaves
// no handle (closed() is true) and says why in init_status(): check it where the init can
// fail (uv_poll_init on a descriptor); uv_timer_init and uv_tcp_init without flags cannot.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "base/Status.h"

namespace mega {

template <typename T>
class UvHandle {
  public:
    // init is the handle's uv_*_init function, e.g. UvHandle<uv_timer_t>(loop, uv_timer_init).
    template <typename Init>
    UvHandle(uv_loop_t* loop, Init init) : handle_(std::make_unique<T>()) {
        const int rc = init(loop, handle_.get());
        if (rc != 0) {  // never initialized: nothing for uv_close to do
            handle_.reset();
            init_status_ = Status::IoError(std::string("uv handle init: ") + uv_strerror(rc));
        }
    }
    ~UvHandle() { Close(); }

    UvHandle(const UvHandle&) = delete;
    UvHandle& operator=(const UvHandle&) = delete;

    T* get() const { return handle_.get(); }
    uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(handle_.get()); }
    uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(handle_.get()); }
    bool closed() const { return handle_ == nullptr; }
    const Status& init_status() const { return init_status_; }

    // Idempotent. After this no callback of the handle sees its old data pointer.
    void Close() {
        if (!handle_) return;
        T* raw = handle_.release();
        raw->data = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(raw),
                 [](uv_handle_t* h) { std::unique_ptr<T> owned(reinterpret_cast<T*>(h)); });
    }

  private:
    std::unique_ptr<T> handle_;
    Status init_status_;
};

}  // namespace mega
