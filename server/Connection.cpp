// Connection I/O. Back-pressure: a client that does not read its replies stops being read
// from once 4 MiB of replies wait for it, and is read again when they are written.
#include "server/Connection.h"

namespace mega {
namespace {
constexpr size_t kMaxPendingReplyBytes = 4 << 20;
}

Connection::Connection(uv_loop_t* loop, uint64_t id, size_t max_frame_bytes, FrameSink* sink)
    : id_(id), sink_(sink), decoder_(max_frame_bytes) {
    uv_tcp_init(loop, &tcp_);
    tcp_.data = this;
    write_req_.data = this;
}

void Connection::StartReading() {
    last_active_ms_ = uv_now(tcp_.loop);
    uv_tcp_nodelay(&tcp_, 1);
    reading_ = true;
    uv_read_start(stream(), OnAlloc, OnRead);
}

void Connection::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(h->data);
    size_t len = 0;
    char* p = c->decoder_.Writable(&len);
    *buf = uv_buf_init(p, unsigned(len));
}

void Connection::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<Connection*>(s->data);
    if (nread > 0) {
        c->last_active_ms_ = uv_now(s->loop);
        c->decoder_.Commit(size_t(nread));
        c->HandleFrames();
    } else if (nread < 0) {
        // EOF or error: a client that vanished mid-frame loses only its partial frame.
        c->Close();
    }
}

void Connection::HandleFrames() {
    protocol::Frame frame;
    bool progress = false;
    while (!close_after_flush_ && !closing_) {
        auto r = decoder_.Next(&frame);
        if (r == protocol::FrameDecoder::Result::kNeedMore) break;
        if (r == protocol::FrameDecoder::Result::kError) {
            Reply(500, 0, decoder_.error());
            CloseAfterFlush();
            break;
        }
        progress = true;
        sink_->OnFrame(*this, frame);
    }
    // The frame timeout runs from the first byte of a frame that is still incomplete.
    if (decoder_.buffered() == 0)
        partial_since_ms_ = 0;
    else if (progress || partial_since_ms_ == 0)
        partial_since_ms_ = last_active_ms_;
}

void Connection::Reply(uint32_t code, uint32_t opaque, std::string_view message) {
    if (closing_) return;
    protocol::AppendResult(&out_, code, opaque, message);
    if (!flush_scheduled_) {
        flush_scheduled_ = true;
        sink_->OnReplyQueued(*this);
    }
}

void Connection::Flush() {
    flush_scheduled_ = false;
    if (closing_) return;
    if (!write_pending_ && !out_.empty()) {
        uv_buf_t b = uv_buf_init(out_.data(), unsigned(out_.size()));
        int n = uv_try_write(stream(), &b, 1);
        if (n == int(out_.size())) {
            out_.clear();
        } else if (n >= 0 || n == UV_EAGAIN) {
            writing_.swap(out_);
            out_.clear();
            if (n > 0) writing_.erase(0, size_t(n));
            b = uv_buf_init(writing_.data(), unsigned(writing_.size()));
            write_pending_ = true;
            uv_write(&write_req_, stream(), &b, 1, OnWrite);
        } else {
            Close();
            return;
        }
    }
    UpdateBackpressure();
    if (close_after_flush_ && !write_pending_ && out_.empty()) Close();
}

void Connection::OnWrite(uv_write_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    c->write_pending_ = false;
    c->last_active_ms_ = uv_now(req->handle->loop);
    c->writing_.clear();
    if (status < 0) {
        c->Close();
        return;
    }
    if (!c->out_.empty()) c->sink_->BeforeDirectFlush();  // replies queued meanwhile
    c->Flush();
}

void Connection::UpdateBackpressure() {
    if (!reading_ || closing_) return;
    const size_t pending = out_.size() + writing_.size();
    if (!paused_ && pending > kMaxPendingReplyBytes) {
        paused_ = true;
        uv_read_stop(stream());
    } else if (paused_ && pending == 0 && !close_after_flush_) {
        paused_ = false;
        uv_read_start(stream(), OnAlloc, OnRead);
    }
}

void Connection::CloseAfterFlush() {
    if (closing_) return;
    close_after_flush_ = true;
    if (reading_) uv_read_stop(stream());
    if (!flush_scheduled_) {
        flush_scheduled_ = true;
        sink_->OnReplyQueued(*this);
    }
}

void Connection::Close() {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClose);
}

void Connection::OnClose(uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    c->sink_->OnClosed(*c);  // may free c
}

}  // namespace mega
