// The server: one libuv event loop that accepts connections on every listen[] address,
// decodes frames, appends messages to the durable priority queues and answers; the
// Dispatcher feeds the sender threads from the queues. Blocking work stays off the loop:
// MySQL (tset) runs on the libuv thread pool, fsync on the queue's flusher threads, HTTP
// on the sender threads.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/Status.h"
#include "callbacks/CallbackSender.h"
#include "config/Config.h"
#include "delivery/Dispatcher.h"
#include "delivery/SenderPool.h"
#include "delivery/SendingAccounts.h"
#include "delivery/SubscribeChoices.h"
#include "delivery/Throughput.h"
#include "delivery/TokenCache.h"
#include "delivery/WechatTemplateChannel.h"
#include "events/EventEndpoint.h"
#include "queue/Message.h"
#include "queue/QueueBackend.h"
#include "server/Connection.h"
#include "server/TemplateReloads.h"
#include "store/TemplateStore.h"
#include "templates/TemplateCache.h"

namespace mega {

class TaskRunner;
class Server;

// What the server needs of an HTTP API it runs (the admin API, the submit API). Each sits
// above the server (admin/ and api/ use server/), so main makes them through factories and
// the server never includes them.
class HttpEndpoint {
  public:
    virtual ~HttpEndpoint() = default;
    virtual Status Listen(const std::string& address) = 0;  // "host:port"
    virtual int port() const = 0;
    virtual void Shutdown() = 0;
};
using EndpointFactory = std::function<std::unique_ptr<HttpEndpoint>(Server*)>;
// A source of messages that runs beside the listeners (the outbox relay): started last,
// stopped first.
class MessageFeed {
  public:
    virtual ~MessageFeed() = default;
    virtual Status Start() = 0;
    virtual void Shutdown() = 0;
};
using FeedFactory = std::function<std::unique_ptr<MessageFeed>(Server*)>;
struct Endpoints {
    EndpointFactory admin;  // built when [admin] listen is set
    EndpointFactory api;    // built when [http] listen is set
    FeedFactory outbox;     // built when [outbox] dsn is set
};

class Server : public FrameSink {
  public:
    // `endpoints` builds the HTTP APIs the config asks for (none when empty).
    Server(const Config& config, uv_loop_t* loop, Endpoints endpoints = {});
    ~Server() override;

    // Loads templates (MySQL must answer), recovers the queues, binds every listen[]
    // address, starts the sender threads. Blocking; runs before the loop does.
    Status Start();
    // Graceful stop: no new connections or frames, in-flight sends finish (up to
    // shutdown_timeout_ms), queues flushed, replies written, then the loop ends.
    void Shutdown();
    // How to reopen the log file (main owns it): SIGUSR1 does only that; SIGHUP does it and
    // then reloads what can change at run time (Reload).
    using LogReopener = std::function<bool(std::string* error)>;
    void SetLogReopener(LogReopener reopen) { reopen_logs_ = std::move(reopen); }
    // SIGHUP: reads the ini again and applies the log level and the rate limit, reloads the
    // cached templates from MySQL, and logs what changed and what needs a restart.
    void Reload();

    // Operations for the admin API (loop thread).
    struct Snapshot {
        uint64_t depth[kPriorityLevels] = {};
        uint64_t inflight = 0, waiting = 0, dead_letters = 0, connections = 0, templates = 0;
        uint64_t disk_bytes = 0, dedup_keys = 0, token_refreshes = 0, base_switches = 0;
        uint64_t scanning_segments = 0;      // after a restart: older segments not checked yet
        uint64_t connections_refused = 0;    // over max_connections
        uint64_t connections_timed_out = 0;  // frame or idle timeout
        // What queue recovery skipped: corrupt records, segments moved aside (all queue files).
        RecoveryCounts recovery;
        SyncTimes syncs;  // the queues' flushes, all priorities
        uint64_t log_written = 0, log_dropped = 0, log_pending = 0, log_rejected = 0;
        bool log_healthy = true;
        DispatchCounters counters;
        PauseState pause;
        struct Account {  // one per account (config/Accounts.h), `default` first
            std::string name, type;
            bool paused = false;
            AccountCounters counters;
            uint64_t held = 0, token_refreshes = 0;
        };
        std::vector<Account> accounts;
        bool queue_writable = true;
        std::string token_error;  // why no access_token can be had, if so
        double rate_1m = 0, rate_5m = 0, rate_60m = 0;
        uint64_t attempts_1m = 0, failed_attempts_1m = 0;  // WeChat calls in the last minute
        bool listening = true;                             // false once stopping
        uint64_t log_backlog_limit = 0;                    // [log] message_log_backlog
        ReceiptCounts receipts;  // WeChat's pushes ([events] listen), all zero when off
        std::vector<CallbackCounts> callbacks;  // one per [callback.NAME]
    };
    Snapshot Stats() const;
    // What Accept did with a message.
    struct Accepted {
        uint64_t id = 0;
        AppendTicket ticket;     // durable once backend().Durable(ticket)
        bool duplicate = false;  // a msgkey seen within the window: nothing was queued
    };
    // Validates and queues one message (the path of push/send frames, test messages and
    // tasks). Invalid → the 400 reply text; Full → 503; anything else → 500.
    Status Accept(MessageKind kind, std::string_view openid, std::string_view key,
                  std::string_view data, std::string_view options, Accepted* out);
    // Accept's checks alone, nothing queued: for a batch that is queued whole or not at all.
    Status Check(std::string_view openid, std::string_view key, std::string_view data,
                 std::string_view options);
    // Runs `done` once the accepted message's record (and msgkey) is durable: at once unless
    // fsync = always. `done` may run during Shutdown.
    void WhenDurable(const AppendTicket& ticket, std::function<void()> done);
    // Once durable: did the shared queue (Redis) find its msgkey pushed on another node, so
    // that nothing was queued after all? Always false on the file queue.
    bool TurnedDuplicate(const Accepted& a) const {
        return !a.duplicate && config_.queue_redis && backend_->Duplicate(a.ticket);
    }
    // Runs `done` when the message's delivery ends (sent, failed or cancelled), once; the
    // outcome's views are valid only during the call. ForgetFinal drops the wait.
    void WhenFinal(uint64_t id, std::function<void(const FinalOutcome&)> done);
    void ForgetFinal(uint64_t id) { final_waiters_.erase(id); }
    // Writes the staged pushes into the queue (QueueBackend::Publish). Called before
    // replies go out, and before anything else records a push as done (task progress).
    void PublishQueues();
    // Queues a dead letter again as a new attempt series; NotFound if there is no such id.
    Status RetryDeadLetter(uint64_t id);
    // Where messages wait: the queue, the dead letters, the msgkeys, the pause.
    QueueBackend& backend() { return *backend_; }
    Dispatcher& dispatcher() { return *dispatcher_; }
    SendingAccounts& sending_accounts() { return *accounts_; }  // token caches (recall)
    TaskRunner& tasks() { return *tasks_; }
    const TemplateCache& templates() const { return templates_; }
    // Reloads one template from MySQL off the loop (paced and coalesced: TemplateReloads);
    // `done` runs on the loop with the result.
    void ReloadTemplate(const std::string& key, std::function<void(Status)> done);
    const Config& config() const { return config_; }
    const Throughput& throughput() const { return throughput_; }
    uv_loop_t* loop() const { return loop_; }
    int admin_port() const;
    int api_port() const;

    // FrameSink
    void OnFrame(Connection& conn, const protocol::Frame& frame) override;
    void OnReplyQueued(Connection& conn) override;
    void BeforeDirectFlush() override { PublishQueues(); }
    void OnClosed(Connection& conn) override;

  private:
    struct PendingAck {  // a push acknowledged once its record is durable (fsync = always)
        uint64_t conn_id;
        uint32_t opaque;
        AppendTicket ticket;
    };
    struct SendWaiter {  // a `send` answered when its delivery ends
        uint64_t conn_id;
        uint32_t opaque;
    };

    Status Check(std::string_view openid, std::string_view key, std::string_view data,
                 std::string_view options, int64_t now, MessageOptions* opts,
                 std::shared_ptr<const Template>* tmpl);
    void LoadSubscribeChoices();
    void HandleMessage(Connection& conn, const protocol::Frame& f);
    void HandleTset(Connection& conn, const protocol::Frame& f);
    void OnFinal(const FinalOutcome& outcome);
    void AckDurable();
    void EndDuplicateSend(const Accepted& a);
    void WriteStatusFile();
    void FinishShutdown();
    uint64_t NextMessageId();
    Connection* FindConnection(uint64_t id);
    size_t ConnectionLimit() const;
    void RefuseConnection(uv_stream_t* listener);
    void SweepConnections();

    static void OnConnection(uv_stream_t* server, int status);
    static void OnCheck(uv_check_t* h);
    static void OnDurable(uv_async_t* h);
    static void OnSignal(uv_signal_t* h, int signum);
    void ReopenLogs();
    void SampleAttempts();
    void ApplyReload(const Config& fresh);
    static void OnStatusTimer(uv_timer_t* h);
    static void OnShutdownTimer(uv_timer_t* h);

    const Config& config_;
    uv_loop_t* loop_;
    TemplateStore store_;
    TemplateCache templates_;
    TemplateReloads reloads_;  // tset and the admin API's reloads: paced, coalesced
    std::unique_ptr<QueueBackend> backend_;
    std::unique_ptr<SendingAccounts> accounts_;  // one token cache per account
    TokenCache* tokens_ = nullptr;               // the account `default`'s
    WechatTemplateChannel channel_;              // the one channel until accounts bring more
    std::unique_ptr<SenderPool> senders_;
    std::unique_ptr<Dispatcher> dispatcher_;
    std::unique_ptr<MessageLog> log_;
    std::unique_ptr<TaskRunner> tasks_;
    SubscribeChoices subscribe_choices_;  // who rejected which subscribe template
    Endpoints make_endpoints_;
    std::unique_ptr<HttpEndpoint> admin_, api_;
    std::unique_ptr<MessageFeed> outbox_;
    std::unique_ptr<CallbackSender> callbacks_;  // [callback.NAME] sections
    std::unique_ptr<EventEndpoint> events_;      // [events] listen

    std::vector<std::unique_ptr<uv_tcp_t>> listeners_;
    std::vector<int> listen_ports_;  // the port each listen[] address got (status file)
    std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
    std::vector<uint64_t> to_flush_;  // connections with replies queued this iteration
    uint64_t next_conn_id_ = 1;
    size_t max_connections_ = 0;  // [server] max_connections within the descriptor limit
    uint64_t accept_errors_ = 0, connections_refused_ = 0, connections_timed_out_ = 0;
    uint64_t limit_logged_ms_ = 0;  // the last "limit reached" line: at most one per 10 s
    std::string json_scratch_;      // Accept(): the body being checked, NUL-terminated
    std::array<std::deque<PendingAck>, kPriorityLevels> pending_acks_;
    std::unordered_map<uint64_t, SendWaiter> waiters_;  // by message id
    std::unordered_map<uint64_t, std::function<void(const FinalOutcome&)>> final_waiters_;
    struct DurableWaiter {
        AppendTicket ticket;
        std::function<void()> done;
    };
    std::array<std::deque<DurableWaiter>, kPriorityLevels> durable_waiters_;
    Throughput throughput_;
    // Once a second (attempts, sent attempts) of the dispatcher's counters: the last minute's
    // failure rate for /api/health is the difference to the sample 60 s ago.
    std::array<std::pair<uint64_t, uint64_t>, 61> attempt_samples_{};
    uint64_t samples_taken_ = 0;
    uint64_t last_id_ = 0;
    bool sync_wanted_ = false;
    bool started_ = false, stopping_ = false, finished_ = false;
    int status_fd_ = -1;

    uv_check_t check_;
    uv_async_t durable_async_;
    uv_signal_t sigterm_, sigint_, sighup_, sigusr1_;
    LogReopener reopen_logs_;
    std::string applied_log_level_;  // what SIGHUP last applied (the config's at start)
    double applied_rate_ = 0;
    int applied_burst_ = 0;
    uv_timer_t status_timer_, shutdown_timer_;
};

}  // namespace mega
