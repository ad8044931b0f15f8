// MegaClient: a client for the Mega-Wechat wire protocol over one TCP connection.
// Blocking calls (Push, Send, Tset) wait for their own reply; pipelined calls (Submit +
// Pump) keep up to `window` requests in flight, write each accumulated batch with one
// send(), and match replies to callbacks by opaque, so out-of-order replies are fine.
// Single-threaded: one thread uses a MegaClient at a time. Transport failures are
// Statuses; the server's answer (200 / 400 / 500 and its text) is a Reply.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "base/Status.h"
#include "base/UniqueFd.h"
#include "protocol/Frame.h"

namespace mega::client {

// The server's answer to one request: a `result CODE` frame.
struct Reply {
    uint32_t code = 0;    // 200 ok, 400 rejected, 500 server error (0: no reply received)
    std::string message;  // empty on success; WeChat's JSON or the reason otherwise
    uint32_t opaque = 0;  // the request's opaque, echoed by the server
};

struct ClientOptions {
    int connect_timeout_ms = 5000;
    int io_timeout_ms = 30000;  // blocking calls: longest wait for a reply (send waits for WeChat)
    size_t window = 64;         // pipelined requests in flight (written or buffered) at most
    size_t max_frame_bytes = 2465792;
};

class MegaClient {
  public:
    // Called exactly once per accepted Submit: with an OK status and the reply, or with the
    // transport error that lost the reply (then reply.code is 0). Callbacks run inside Pump,
    // Drain, Close and the blocking calls; they may call Submit and Close, not Pump.
    using Callback = std::function<void(const Status& status, const Reply& reply)>;

    explicit MegaClient(ClientOptions options = {});
    // Drops pending callbacks without calling them (what they capture may be gone).
    ~MegaClient();
    MegaClient(const MegaClient&) = delete;
    MegaClient& operator=(const MegaClient&) = delete;

    // "host:port", "[v6addr]:port". A wildcard host (0.0.0.0, ::, empty) means this machine,
    // so a server's own listen address can be used as is.
    Status Connect(std::string_view address);
    Status Connect(const std::string& host, uint16_t port);
    // Fails every pending request with "closed by client" (their callbacks run) and closes.
    void Close();
    bool connected() const { return static_cast<bool>(fd_); }

    // Blocking calls. `data_json` is the body ("null" when there is none, as PHP clients
    // send); `options` the extension words ("priority=high msgkey=x"), passed through.
    // A non-OK Status means no reply was received; otherwise *reply holds it.
    Status Push(std::string_view openid, std::string_view key, std::string_view data_json,
                std::string_view options, Reply* reply);
    Status Send(std::string_view openid, std::string_view key, std::string_view data_json,
                std::string_view options, Reply* reply);
    Status Tset(std::string_view key, Reply* reply);
    Status Call(protocol::Command command, std::string_view openid, std::string_view key,
                std::string_view data_json, std::string_view options, Reply* reply);

    // Pipelined calls. Submit encodes the request into the output buffer and assigns it an
    // opaque (returned in *opaque); nothing is written until Pump. Refuses with kFull when
    // the window is full (Pump first) and with the connection's error when it is broken.
    Status Submit(protocol::Command command, std::string_view openid, std::string_view key,
                  std::string_view data_json, std::string_view options, Callback callback,
                  uint32_t* opaque = nullptr);
    bool CanSubmit() const { return connected() && pending_.size() < options_.window; }
    size_t in_flight() const { return pending_.size(); }

    // Writes buffered requests and waits up to `timeout_ms` (0: just poll) for replies,
    // running their callbacks; returns once at least one reply was handled or on timeout.
    // A transport failure fails every pending request (callbacks run) and is returned.
    // *replies (optional) gets the number of replies handled.
    Status Pump(int timeout_ms, size_t* replies = nullptr);
    // Pumps until nothing is in flight; Unavailable if that takes longer than `timeout_ms`.
    Status Drain(int timeout_ms);

    // Replies whose opaque matched no pending request (e.g. after a blocking call timed out).
    uint64_t stray_replies() const { return stray_replies_; }
    const ClientOptions& options() const { return options_; }

  private:
    Status Broken() const;
    Status Fail(Status why);
    Status WriteSome(size_t* replies);
    Status ReadAvailable(size_t* replies);
    Status Dispatch(const protocol::Frame& frame, size_t* replies);

    ClientOptions options_;
    UniqueFd fd_;
    std::string peer_;     // "host:port" for messages
    Status broken_;        // why the connection is gone (OK before the first Connect)
    std::string out_;      // encoded requests not yet written
    size_t out_sent_ = 0;  // bytes of out_ already written
    protocol::FrameDecoder decoder_;
    std::map<uint32_t, Callback> pending_;  // by opaque
    uint32_t next_opaque_ = 1;
    bool in_pump_ = false;
    uint64_t stray_replies_ = 0;
};

// Splits "host:port" / "[v6]:port"; Invalid if the port is missing or not a number.
Status ParseHostPort(std::string_view address, std::string* host, uint16_t* port);

}  // namespace mega::client
