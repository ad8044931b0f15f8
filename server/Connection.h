// One client connection on the event loop: reads straight into its FrameDecoder's buffer,
// hands each decoded frame to a FrameSink, and batches replies: Reply() only appends to an
// output buffer; Flush() (once per loop iteration, from the server) writes it with one
// uv_try_write, falling back to uv_write for what the socket did not take.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/Frame.h"

namespace mega {

class Connection;

class FrameSink {
  public:
    virtual ~FrameSink() = default;
    virtual void OnFrame(Connection& conn, const protocol::Frame& frame) = 0;
    virtual void OnReplyQueued(Connection& conn) = 0;  // schedule a Flush()
    // Replies are about to be written outside the scheduled flush: whatever they
    // acknowledge must be in the queue files first.
    virtual void BeforeDirectFlush() = 0;
    virtual void OnClosed(Connection& conn) = 0;  // the handle is closed: free it
};

class Connection {
  public:
    Connection(uv_loop_t* loop, uint64_t id, size_t max_frame_bytes, FrameSink* sink);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
    uint64_t id() const { return id_; }
    bool open() const { return !closing_; }

    void StartReading();
    // What the server's once-a-second sweep reads: when bytes last moved either way, and
    // since when an incomplete frame has been waiting (0: none). Times are uv_now() ms.
    uint64_t last_active_ms() const { return last_active_ms_; }
    uint64_t partial_since_ms() const { return partial_since_ms_; }
    bool reading_paused() const { return paused_; }
    // `send` frames of this connection still waiting for their delivery's outcome.
    uint32_t awaiting_outcomes = 0;
    // Frees the read buffer while no frame is partly received.
    void ReleaseIdleBuffer() { decoder_.ReleaseIfEmpty(); }
    void Reply(uint32_t code, uint32_t opaque, std::string_view message);
    void Flush();
    // Stops reading; closes once every queued reply is written.
    void CloseAfterFlush();
    void Close();

  private:
    static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
    static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void OnWrite(uv_write_t* req, int status);
    static void OnClose(uv_handle_t* h);
    void HandleFrames();
    void UpdateBackpressure();

    uv_tcp_t tcp_;
    uv_write_t write_req_;
    uint64_t id_;
    FrameSink* sink_;
    protocol::FrameDecoder decoder_;
    std::string out_;      // replies not written yet
    std::string writing_;  // the bytes of the uv_write under way
    bool write_pending_ = false;
    bool reading_ = false, paused_ = false;
    bool close_after_flush_ = false, closing_ = false;
    bool flush_scheduled_ = false;
    uint64_t last_active_ms_ = 0, partial_since_ms_ = 0;
    friend class Server;
};

}  // namespace mega
