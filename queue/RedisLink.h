// RedisLink: one asynchronous connection to Redis on the loop thread (hiredis and its libuv
// adapter), for the Redis queue backend. Commands are pipelined; while the link is down they
// wait in a backlog and go out, in order, once it is back. It reconnects by itself with a
// backoff (100 ms doubling to 5 s). With sentinels ([redis] sentinels, master_name), each
// (re)connect first asks them in turn where the primary is, so the link follows a failover;
// a READONLY answer (the primary became a replica) makes it reconnect. Loop thread only;
// nothing here blocks.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/Status.h"

struct redisAsyncContext;
struct redisContext;
struct redisReply;

namespace mega {

// Where Redis is: redis://[:password@]host:port/db or unix:///path[?db=N].
struct RedisAddress {
    std::string host, unix_path, password;
    int port = 6379, db = 0;
    // Redis Sentinel: where to ask for the primary of `master_name` (host, port), in turn.
    std::vector<std::pair<std::string, int>> sentinels;
    std::string master_name;
    static Status Parse(const std::string& url, RedisAddress* out);
    // "host:port,host:port" into `sentinels`.
    static Status ParseSentinels(const std::string& list, RedisAddress* out);
};

// At start (blocking, before the loop serves): asks the sentinels in turn for the primary and
// sets address->host/port. Unavailable when none answers with one.
Status FindPrimaryBlocking(RedisAddress* address);

// --- Blocking connections: at start, before the loop serves, or on a thread not the loop's.
using RedisContextPtr = std::unique_ptr<redisContext, void (*)(redisContext*)>;
using RedisReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;
// Connects to `address` (host or unix socket) within `connect_ms`, gives every later command
// `command_ms` (0: no limit), then AUTH and SELECT as the address says. Unavailable, with the
// reason, when Redis cannot be reached or refuses.
Status ConnectBlocking(const RedisAddress& address, int connect_ms, int command_ms,
                       RedisContextPtr* out);
// One command, binary-safe; null when the connection failed.
RedisReplyPtr RunBlocking(redisContext* c, const std::vector<std::string>& argv);

class RedisLink {
  public:
    // The reply, or null when the link went down before it came (the command may or may not
    // have run).
    using Reply = std::function<void(redisReply* reply)>;
    // `on_state(up)` is called on every connect and every loss.
    RedisLink(uv_loop_t* loop, RedisAddress address, std::string name,
              std::function<void(bool up)> on_state);
    ~RedisLink();
    RedisLink(const RedisLink&) = delete;
    RedisLink& operator=(const RedisLink&) = delete;

    void Connect();
    // Sends now if up, else after the next connect. `done` may be empty.
    void Send(std::vector<std::string> argv, Reply done = {});
    bool up() const { return up_; }
    // Lost, or never reached, and not back yet (not while the first connect is under way).
    bool down() const { return failed_ && !up_; }
    // Stops reconnecting; lets the answers already asked for come in, then disconnects.
    // With `now`, drops the connection at once (the unanswered get null replies).
    void Close(bool now);

  private:
    struct Command {
        std::vector<std::string> argv;
        Reply done;
    };
    void Issue(Command c);
    void ConnectToPrimary();
    void AskSentinel(size_t index);
    void Reconnect(const char* why);
    static void OnSentinelReply(redisAsyncContext* ac, void* reply, void* privdata);
    static void OnSentinelTimeout(uv_timer_t* t);
    void Lost(const char* why);
    static void OnConnect(const redisAsyncContext* ac, int status);
    static void OnDisconnect(const redisAsyncContext* ac, int status);
    static void OnReply(redisAsyncContext* ac, void* reply, void* privdata);
    static void OnRetryTimer(uv_timer_t* t);

    uv_loop_t* loop_;
    RedisAddress address_;
    std::string name_;
    std::function<void(bool)> on_state_;
    redisAsyncContext* ctx_ = nullptr;       // owned by hiredis once connected; freed by it on loss
    redisAsyncContext* sentinel_ = nullptr;  // asking a sentinel; freed by hiredis when done
    size_t sentinel_index_ = 0;
    bool up_ = false, closing_ = false, failed_ = false;
    int backoff_ms_ = 100;
    std::unique_ptr<uv_timer_t> retry_timer_;
    std::unique_ptr<uv_timer_t> sentinel_timer_;  // a sentinel that does not answer is skipped
    std::deque<Command> backlog_;
};

}  // namespace mega
