// Server: frame handling, acknowledgements and shutdown. Per loop iteration the check
// handle does the batched work: one sync request per queue for the pushes waiting on
// fsync = always (group commit), one Pump of the dispatcher, one write per connection.
#include "server/Server.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "base/Clock.h"
#include "base/LogText.h"
#include "base/OffLoop.h"
#include "config/StatusFile.h"
#include "delivery/MessageOptions.h"
#include "protocol/JsonCheck.h"
#include "queue/FileBackend.h"
#include "queue/RedisBackend.h"
#include "server/TaskRunner.h"
#include "store/Migrations.h"
#include "store/MysqlSession.h"
#include "store/Receipts.h"

namespace mega {
namespace {

// The status callback of a message whose delivery ended (sent, failed, cancelled).
CallbackEvent FinalCallbackEvent(const FinalOutcome& f) {
    CallbackEvent e;
    e.id = f.id;
    e.msgkey = f.options->msgkey;
    e.source = f.options->source;
    e.key = f.key;
    e.openid = f.openid;
    e.status = f.sent ? "sent" : f.cancelled ? "cancelled" : "failed";
    if (f.result) {
        e.errcode = f.result->errcode;
        e.msgid = f.result->msgid;
        if (!f.sent) e.errmsg = f.result->reply;
    } else if (!f.sent) {
        e.errcode = -1;
        e.errmsg = f.local_error;
    }
    e.at_ms = NowMs();
    e.created_ms = f.created_ms;
    return e;
}

// Receipts that end a message with a callback=NAME go to that callback (writer thread).
ReceiptWriter::OnEnded ReceiptCallbacks(CallbackSender* callbacks) {
    if (!callbacks) return {};
    return [callbacks](const ReceiptMessage& m, ReceiptStatus status, uint64_t msgid, int64_t at) {
        if (m.callback.empty()) return;
        CallbackEvent e;
        e.id = m.id;
        e.msgkey = m.msgkey;
        e.source = m.source;
        e.key = m.key;
        e.openid = m.openid;
        e.status = ReceiptStatusName(status);
        e.msgid = msgid;
        e.at_ms = at;
        e.created_ms = m.created_ms;
        callbacks->Post(m.callback, e);
    };
}

constexpr size_t kMaxOpenid = 128;

// A recipient as every channel writes one: printable ASCII, no space or control character
// (WeChat openids are [A-Za-z0-9_-], WeCom user ids similar, lists joined by '|').
bool IsRecipient(std::string_view openid) {
    if (openid.empty() || openid.size() > kMaxOpenid) return false;
    for (char c : openid)
        if (c <= ' ' || c >= 0x7F) return false;
    return true;
}

// WeChat's error JSON with the recipient added, as the original answered a failed send.
std::string FailureJson(const FinalOutcome& f) {
    rapidjson::Document d;
    if (f.result && protocol::JsonDepthWithin(f.result->reply))
        d.Parse(f.result->reply.data(), f.result->reply.size());
    if (!f.result || !d.IsObject()) {
        d.SetObject();
        d.AddMember("errcode", f.result ? f.result->errcode : -1, d.GetAllocator());
        std::string_view msg = f.result ? std::string_view(f.result->reply) : f.local_error;
        d.AddMember("errmsg",
                    rapidjson::Value(msg.data(), rapidjson::SizeType(msg.size()), d.GetAllocator()),
                    d.GetAllocator());
    }
    d.RemoveMember("openid");
    d.AddMember(
        "openid",
        rapidjson::Value(f.openid.data(), rapidjson::SizeType(f.openid.size()), d.GetAllocator()),
        d.GetAllocator());
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    return std::string(sb.GetString(), sb.GetSize());
}

// The port a bound listener got (the one asked for, or the OS's pick for port 0).
int BoundPort(const uv_tcp_t* tcp) {
    sockaddr_storage sa{};
    int len = sizeof sa;
    if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return 0;
    return sa.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
}

// The names of the settings read only at start whose value differs in `fresh` (values are
// never logged: some are secrets).
std::vector<std::string> KeysNeedingRestart(const Config& now, const Config& fresh) {
    std::vector<std::string> changed;
    auto note = [&](const char* name, bool differs) {
        if (differs) changed.push_back(name);
    };
    note("[server] listen[]", now.listen != fresh.listen);
    note("[server] queue_file_path", now.queue_file_path != fresh.queue_file_path);
    note("[server] fsync",
         now.fsync != fresh.fsync || now.fsync_interval_ms != fresh.fsync_interval_ms);
    note("[server] queue_max_bytes", now.queue_max_bytes != fresh.queue_max_bytes);
    note("[server] max_connections", now.max_connections != fresh.max_connections);
    note("[server] idle_timeout_s", now.idle_timeout_s != fresh.idle_timeout_s);
    note("[server] frame_timeout_s", now.frame_timeout_s != fresh.frame_timeout_s);
    note("[setting] task_worker_num", now.task_worker_num != fresh.task_worker_num);
    note("[setting] max_inflight", now.max_inflight != fresh.max_inflight);
    note("[setting] sender_threads", now.sender_threads != fresh.sender_threads);
    note("[setting] package_max_length", now.package_max_length != fresh.package_max_length);
    note("[pdo]", now.mysql_host != fresh.mysql_host || now.mysql_port != fresh.mysql_port ||
                      now.mysql_db != fresh.mysql_db || now.mysql_user != fresh.mysql_user ||
                      now.mysql_password != fresh.mysql_password);
    note("[wechat] app_id/app_secret",
         now.app_id != fresh.app_id || now.app_secret != fresh.app_secret);
    note("[wechat] api_base", now.api_base != fresh.api_base);
    note("[retry]", now.retry_tries != fresh.retry_tries ||
                        now.retry_backoff != fresh.retry_backoff ||
                        now.dedup_window_s != fresh.dedup_window_s);
    note("[admin]", now.admin_listen != fresh.admin_listen || now.admin_token != fresh.admin_token);
    note("[http]", now.http_listen != fresh.http_listen ||
                       now.http_max_batch != fresh.http_max_batch ||
                       now.http_max_body_bytes != fresh.http_max_body_bytes ||
                       now.http_keys.size() != fresh.http_keys.size());
    note("[log] log_file", now.log_file != fresh.log_file);
    note("[log] message_log", now.message_log != fresh.message_log);
    return changed;
}

}  // namespace

Server::Server(const Config& config, uv_loop_t* loop, Endpoints endpoints)
    : config_(config),
      loop_(loop),
      store_(config),
      templates_(size_t(config.table_size), size_t(config.template_size)),
      reloads_(loop, store_, templates_) {
    make_endpoints_ = std::move(endpoints);
    applied_log_level_ = config.log_level;
    applied_rate_ = config.rate_limit_per_second;
    applied_burst_ = config.rate_burst;
    uv_check_init(loop_, &check_);
    check_.data = this;
    uv_async_init(loop_, &durable_async_, OnDurable);
    durable_async_.data = this;
    for (uv_signal_t* sig : {&sigterm_, &sigint_, &sighup_, &sigusr1_}) {
        uv_signal_init(loop_, sig);
        sig->data = this;
    }
    uv_timer_init(loop_, &status_timer_);
    uv_timer_init(loop_, &shutdown_timer_);
    status_timer_.data = shutdown_timer_.data = this;
}

Server::~Server() {
    if (status_fd_ >= 0) ::close(status_fd_);
}

Status Server::Start() {
    // Templates first: without MySQL the server cannot know what it may send.
    Status s = CheckSchema(config_);
    if (!s.ok())
        return s.code() == Status::Code::kUnavailable
                   ? Status::Unavailable("cannot reach MySQL: " + s.message())
                   : s;
    std::vector<TemplateStore::Row> rows;
    s = store_.LoadAll(config_.table_size, &rows);
    if (!s.ok()) return Status::Unavailable("cannot load templates: " + s.message());
    for (const auto& row : rows) {
        Status put = templates_.Put(row.key, row.text, row.account, row.kind);
        if (!put.ok()) spdlog::error("template {} refused: {}", row.key, put.message());
    }
    spdlog::info("{} templates loaded", templates_.size());

    auto wake = [this] { uv_async_send(&durable_async_); };
    if (config_.queue_redis) {  // [queue] backend = redis: one queue for several nodes
        std::unique_ptr<RedisBackend> shared;
        s = RedisBackend::Open(config_, loop_, wake, &shared);
        if (!s.ok()) return s;
        backend_ = std::move(shared);
    } else {
        std::unique_ptr<FileBackend> files;
        s = FileBackend::Open(config_, wake, &files);
        if (!s.ok()) return s;
        backend_ = std::move(files);
    }
    const std::string status_path = config_.queue_file_path + "/status";
    // Truncated: nothing of a previous server's file may show after this one's lines.
    status_fd_ = ::open(status_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (config_.message_log) {
        log_ = std::make_unique<MessageLog>(config_);
        log_->SetRunStart(uint64_t(NowMs()) << 20);  // NextMessageId() gives nothing lower
    }
    accounts_ = std::make_unique<SendingAccounts>(config_);
    if (!accounts_->status().ok()) return accounts_->status();
    tokens_ = accounts_->at(0).tokens.get();
    senders_ = std::make_unique<SenderPool>(loop_, config_, tokens_, &channel_);
    if (!senders_->status().ok())
        return Status::Unavailable("cannot start the sender threads: " +
                                   senders_->status().message());
    dispatcher_ =
        std::make_unique<Dispatcher>(loop_, config_, backend_.get(), &templates_, senders_.get(),
                                     log_.get(), [this](const FinalOutcome& f) { OnFinal(f); });
    dispatcher_->SetAccounts(accounts_.get());
    LoadSubscribeChoices();
    dispatcher_->SetSubscribeChoices(&subscribe_choices_);
    dispatcher_->RestorePause();

    tasks_ = std::make_unique<TaskRunner>(loop_, this);
    s = tasks_->Load();
    if (!s.ok()) return Status::Unavailable("cannot load tasks: " + s.message());

    if (!config_.admin_listen.empty() && make_endpoints_.admin) {
        admin_ = make_endpoints_.admin(this);
        s = admin_->Listen(config_.admin_listen);
        if (!s.ok() && !config_.admin_listen_set) {
            // The default address of a config that does not ask for the API (the original's
            // file): a busy port must not stop a drop-in replacement from starting.
            spdlog::warn("{}; running without the admin API (set [admin] listen)", s.message());
            admin_->Shutdown();
            admin_.reset();
        } else if (!s.ok()) {
            return s;
        }
    }
    if (!config_.http_listen.empty() && make_endpoints_.api) {
        api_ = make_endpoints_.api(this);
        s = api_->Listen(config_.http_listen);
        if (!s.ok()) return s;
    }
    if (!config_.outbox_dsn.empty() && make_endpoints_.outbox) {
        outbox_ = make_endpoints_.outbox(this);
        if (s = outbox_->Start(); !s.ok()) return s;
    }
    if (!config_.callbacks.empty()) {  // [callback.NAME]: signed status events to senders
        callbacks_ = std::make_unique<CallbackSender>(config_);
        s = callbacks_->Start();
        if (!s.ok()) return s;
    }
    if (!config_.events_listen.empty()) {  // WeChat's pushes: receipts, subscribe choices
        events_ = std::make_unique<EventEndpoint>(
            loop_, config_, ReceiptCallbacks(callbacks_.get()),
            [this](const std::string& openid, const std::string& template_id, bool rejected) {
                subscribe_choices_.Set(openid, template_id, rejected);
            });
        s = events_->Start(config_.events_listen);
        if (!s.ok()) return s;
    }

    for (const std::string& addr : config_.listen) {
        const size_t colon = addr.rfind(':');
        std::string host = addr.substr(0, colon);
        const int port = std::atoi(addr.c_str() + colon + 1);
        if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
        sockaddr_storage sa{};
        if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&sa)) != 0 &&
            uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&sa)) != 0)
            return Status::Invalid("listen address " + addr + " is not an IP address and port");
        auto tcp = std::make_unique<uv_tcp_t>();
        uv_tcp_init(loop_, tcp.get());
        tcp->data = this;
        int rc = uv_tcp_bind(tcp.get(), reinterpret_cast<sockaddr*>(&sa), 0);
        if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp.get()), 1024, OnConnection);
        if (rc != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(tcp.release()), [](uv_handle_t* h) {
                std::unique_ptr<uv_tcp_t>(reinterpret_cast<uv_tcp_t*>(h));
            });
            return Status::IoError("cannot listen on " + addr + ": " + uv_strerror(rc));
        }
        const int bound = BoundPort(tcp.get());  // the OS's pick for port 0
        listen_ports_.push_back(bound);
        spdlog::info("listening on {}", WithPort(addr, bound));
        listeners_.push_back(std::move(tcp));
    }

    max_connections_ = ConnectionLimit();
    uv_check_start(&check_, OnCheck);
    started_ = true;
    uv_signal_start(&sigterm_, OnSignal, SIGTERM);
    uv_signal_start(&sigint_, OnSignal, SIGINT);
    uv_signal_start(&sighup_, OnSignal, SIGHUP);
    uv_signal_start(&sigusr1_, OnSignal, SIGUSR1);
    uv_timer_start(&status_timer_, OnStatusTimer, 0, 1000);
    return Status::Ok();
}

// Connections allowed at once: [server] max_connections, within what the descriptor limit
// leaves after the queue files, MySQL, the admin API and every sender's HTTP connections.
size_t Server::ConnectionLimit() const {
    rlimit rl{};
    size_t limit = size_t(config_.max_connections);
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        const size_t reserved = 2048 + size_t(config_.task_worker_num) * config_.max_inflight;
        const size_t room = rl.rlim_cur > reserved + 64 ? size_t(rl.rlim_cur) - reserved : 64;
        if (room < limit) {
            spdlog::info("max_connections {} lowered to {}: the open-file limit is {}",
                         config_.max_connections, room, rl.rlim_cur);
            limit = room;
        }
    }
    return limit;
}

void Server::OnConnection(uv_stream_t* listener, int status) {
    auto* self = static_cast<Server*>(listener->data);
    if (status < 0) {
        // EMFILE/ENFILE: libuv keeps a spare descriptor to accept and close the waiting
        // client, so the listener does not spin; say why clients are being turned away.
        self->accept_errors_++;
        const uint64_t now = uv_now(self->loop_);
        if (self->limit_logged_ms_ == 0 || now - self->limit_logged_ms_ >= 10000) {
            self->limit_logged_ms_ = now;
            spdlog::warn("accept failed: {} ({} so far)", uv_strerror(status),
                         self->accept_errors_);
        }
        return;
    }
    if (self->stopping_) return;
    if (self->connections_.size() >= self->max_connections_) {
        self->RefuseConnection(listener);
        return;
    }
    const uint64_t id = self->next_conn_id_++;
    auto conn =
        std::make_unique<Connection>(self->loop_, id, self->config_.package_max_length, self);
    if (uv_accept(listener, conn->stream()) != 0) {
        conn->Close();  // freed in OnClosed
        self->connections_.emplace(id, std::move(conn));
        return;
    }
    conn->StartReading();
    self->connections_.emplace(id, std::move(conn));
}

// Over the limit: the client is accepted only to be told why, then closed.
void Server::RefuseConnection(uv_stream_t* listener) {
    const uint64_t id = next_conn_id_++;
    auto conn = std::make_unique<Connection>(loop_, id, config_.package_max_length, this);
    if (uv_accept(listener, conn->stream()) == 0) {
        conn->Reply(503, 0, "too many connections");
        conn->CloseAfterFlush();
    } else {
        conn->Close();
    }
    connections_.emplace(id, std::move(conn));  // freed in OnClosed
    connections_refused_++;
    const uint64_t now = uv_now(loop_);
    if (limit_logged_ms_ == 0 || now - limit_logged_ms_ >= 10000) {
        limit_logged_ms_ = now;
        spdlog::warn("connection limit {} reached: {} clients refused so far", max_connections_,
                     connections_refused_);
    }
}

// Once a second: closes clients past the frame or idle timeout, and frees the read buffers
// of connections that have nothing partly received.
void Server::SweepConnections() {
    const uint64_t now = uv_now(loop_);
    const uint64_t frame_ms = uint64_t(config_.frame_timeout_s) * 1000;
    const uint64_t idle_ms = uint64_t(config_.idle_timeout_s) * 1000;
    for (auto& [id, c] : connections_) {
        if (!c->open()) continue;
        const uint64_t since = c->partial_since_ms();
        if (frame_ms && since && !c->reading_paused() && now - since >= frame_ms) {
            spdlog::info("connection {}: frame incomplete after {} s, closing", id,
                         config_.frame_timeout_s);
            connections_timed_out_++;
            c->Close();
        } else if (idle_ms && c->awaiting_outcomes == 0 && now - c->last_active_ms() >= idle_ms) {
            spdlog::debug("connection {}: idle for {} s, closing", id, config_.idle_timeout_s);
            connections_timed_out_++;
            c->Close();
        } else if (now - c->last_active_ms() >= 1000) {
            c->ReleaseIdleBuffer();
        }
    }
}

Connection* Server::FindConnection(uint64_t id) {
    auto it = connections_.find(id);
    return it == connections_.end() || !it->second->open() ? nullptr : it->second.get();
}

void Server::OnFrame(Connection& conn, const protocol::Frame& f) {
    switch (f.command) {
        case protocol::Command::kPush:
        case protocol::Command::kSend:
            HandleMessage(conn, f);
            break;
        case protocol::Command::kTset:
            HandleTset(conn, f);
            break;
        case protocol::Command::kResult:  // only the server sends results
            conn.Reply(500, 0, "Unknown command");
            conn.CloseAfterFlush();
            break;
    }
}

void Server::HandleMessage(Connection& conn, const protocol::Frame& f) {
    const MessageKind kind =
        f.command == protocol::Command::kSend ? MessageKind::kSend : MessageKind::kPush;
    Accepted a;
    Status s = Accept(kind, f.openid, f.key, f.body, f.options, &a);
    if (!s.ok()) {
        if (s.code() == Status::Code::kFull || s.code() == Status::Code::kUnavailable) {
            conn.Reply(503, f.opaque, s.message());
        } else if (s.code() == Status::Code::kInvalid) {
            conn.Reply(400, f.opaque, s.message());
        } else {
            conn.Reply(500, f.opaque, "queue write failed");
            conn.CloseAfterFlush();
        }
    } else if (a.duplicate) {
        conn.Reply(200, f.opaque, "duplicate");
    } else if (kind == MessageKind::kSend) {
        waiters_[a.id] = SendWaiter{conn.id(), f.opaque};
        conn.awaiting_outcomes++;
        // On Redis, a msgkey pushed on another node is a duplicate once Redis answers: no outcome
        if (config_.queue_redis) WhenDurable(a.ticket, [this, a] { EndDuplicateSend(a); });
    } else if (config_.fsync == FsyncPolicy::kAlways || config_.queue_redis) {
        pending_acks_[a.ticket.level].push_back({conn.id(), f.opaque, a.ticket});
        sync_wanted_ = true;
    } else {
        conn.Reply(200, f.opaque, {});
    }
}

Status Server::Check(std::string_view openid, std::string_view key, std::string_view data,
                     std::string_view options) {
    MessageOptions opts;
    std::shared_ptr<const Template> tmpl;
    return Check(openid, key, data, options, NowMs(), &opts, &tmpl);
}

Status Server::Check(std::string_view openid, std::string_view key, std::string_view data,
                     std::string_view options, int64_t now, MessageOptions* opts,
                     std::shared_ptr<const Template>* tmpl) {
    if (Status s = ParseMessageOptions(options, now, opts); !s.ok()) return s;
    if (!opts->callback.empty() && !config_.FindCallback(opts->callback))
        return Status::Invalid("unknown callback " + std::string(opts->callback));
    if (!IsRecipient(openid)) return Status::Invalid("invalid openid");
    *tmpl = templates_.Find(key);
    if (!*tmpl) return Status::Invalid("template key not exists");
    if (!protocol::IsJsonText(data, &json_scratch_))
        return Status::Invalid("data is not valid JSON");
    return Status::Ok();
}

Status Server::Accept(MessageKind kind, std::string_view openid, std::string_view key,
                      std::string_view data, std::string_view options, Accepted* out) {
    const int64_t now = NowMs();
    MessageOptions opts;
    std::shared_ptr<const Template> tmpl;
    if (Status s = Check(openid, key, data, options, now, &opts, &tmpl); !s.ok()) return s;
    *out = Accepted{};
    if (!opts.msgkey.empty() && backend_->KeySeen(opts.msgkey, now)) {
        out->duplicate = true;
        return Status::Ok();
    }
    Message m;
    m.priority = opts.priority;
    m.not_before_ms = opts.not_before_ms;
    m.id = NextMessageId();
    m.created_ms = now;
    m.kind = kind;
    m.openid = openid;
    m.key = key;
    m.data = data;
    m.options = options;
    Status s = backend_->Append(m, opts.msgkey, now, &out->ticket);
    if (!s.ok()) {
        if (s.code() != Status::Code::kFull && s.code() != Status::Code::kInvalid)
            spdlog::error("queue append failed: {}", s.message());
        return s;
    }
    out->id = m.id;
    if (log_ && log_->Behind()) {
        log_->Drop(m.id);
    } else if (log_) {
        LogEvent e;
        e.id = m.id;
        e.status = LogStatus::kQueued;
        e.priority = uint8_t(m.priority);
        e.at_ms = e.created_ms = now;
        e.openid = m.openid;
        e.key = m.key;
        e.source = opts.source;
        e.tmpl = std::move(tmpl);
        e.data = m.data;
        e.msgkey = opts.msgkey;
        e.callback = opts.callback;
        log_->Add(std::move(e));
    }
    return Status::Ok();
}

// The subscribe rejections recorded so far (blocking, at start: the loop does not run yet).
void Server::LoadSubscribeChoices() {
    MysqlSession db;
    std::vector<std::pair<std::string, std::string>> rejected;
    Status s = db.Connect(config_);
    if (s.ok()) s = LoadSubscribeRejections(db, &rejected);
    if (!s.ok())
        return spdlog::warn(
            "subscribe choices not loaded ({}): rejections are known only as "
            "WeChat pushes them from now on",
            s.message());
    for (const auto& [openid, template_id] : rejected)
        subscribe_choices_.Set(openid, template_id, true);
    if (!rejected.empty()) spdlog::info("{} subscribe rejections known", rejected.size());
}

void Server::HandleTset(Connection& conn, const protocol::Frame& f) {
    const uint64_t conn_id = conn.id();
    const uint32_t opaque = f.opaque;
    ReloadTemplate(std::string(f.key), [this, conn_id, opaque](Status s) {
        Connection* c = FindConnection(conn_id);
        if (!c) return;
        if (s.ok()) {
            c->Reply(200, opaque, {});
        } else if (s.code() == Status::Code::kUnavailable) {
            // "template store unavailable" / "busy": the database's details are in the log
            c->Reply(500, opaque, s.message());  // the original closes after a 500
            c->CloseAfterFlush();
        } else {
            c->Reply(400, opaque, s.message());
        }
    });
}

void Server::ReloadTemplate(const std::string& key, std::function<void(Status)> done) {
    reloads_.Reload(key, std::move(done));
}

void Server::WhenDurable(const AppendTicket& ticket, std::function<void()> done) {
    // On Redis a push is acknowledged once Redis has answered it, whatever fsync says.
    if ((config_.fsync != FsyncPolicy::kAlways && !config_.queue_redis) ||
        backend_->Durable(ticket))
        return done();
    durable_waiters_[size_t(ticket.level)].push_back({ticket, std::move(done)});
    sync_wanted_ = true;
}

void Server::WhenFinal(uint64_t id, std::function<void(const FinalOutcome&)> done) {
    final_waiters_[id] = std::move(done);
}

void Server::OnFinal(const FinalOutcome& f) {
    if (!f.cancelled) throughput_.Record(NowMs() / 1000, f.sent);
    if (callbacks_ && f.options && !f.options->callback.empty())
        callbacks_->Post(f.options->callback, FinalCallbackEvent(f));
    if (f.options && f.options->task) tasks_->OnFinal(f.options->task, f.options->msgkey, f.sent);
    if (auto w = final_waiters_.find(f.id); w != final_waiters_.end()) {
        auto done = std::move(w->second);
        final_waiters_.erase(w);
        done(f);
    }
    auto it = waiters_.find(f.id);
    if (it == waiters_.end()) return;
    Connection* conn = FindConnection(it->second.conn_id);
    const uint32_t opaque = it->second.opaque;
    waiters_.erase(it);
    if (!conn) return;
    if (conn->awaiting_outcomes > 0) conn->awaiting_outcomes--;
    if (f.sent) {
        conn->Reply(200, opaque, {});
    } else {  // failed or cancelled: WeChat's error (or ours) with the openid
        conn->Reply(400, opaque, FailureJson(f));
    }
}

void Server::AckDurable() {
    if (!backend_) return;
    for (auto& acks : pending_acks_) {
        // In order: a push waits for its key too, and the ones after it wait with it.
        while (!acks.empty() && backend_->Durable(acks.front().ticket)) {
            if (Connection* c = FindConnection(acks.front().conn_id))
                c->Reply(200, acks.front().opaque,
                         backend_->Duplicate(acks.front().ticket) ? "duplicate" : "");
            acks.pop_front();
        }
    }
    for (auto& waiters : durable_waiters_) {
        while (!waiters.empty() && backend_->Durable(waiters.front().ticket)) {
            auto done = std::move(waiters.front().done);
            waiters.pop_front();
            done();
        }
    }
}

// A send whose msgkey Redis found pushed on another node: answered as a duplicate at once.
void Server::EndDuplicateSend(const Accepted& a) {
    auto w = waiters_.find(a.id);
    if (w == waiters_.end() || !backend_->Duplicate(a.ticket)) return;
    if (Connection* c = FindConnection(w->second.conn_id)) {
        if (c->awaiting_outcomes > 0) c->awaiting_outcomes--;
        c->Reply(200, w->second.opaque, "duplicate");
    }
    waiters_.erase(w);
}

void Server::OnDurable(uv_async_t* h) {
    static_cast<Server*>(h->data)->AckDurable();
}

void Server::OnReplyQueued(Connection& conn) {
    to_flush_.push_back(conn.id());
}

void Server::OnClosed(Connection& conn) {
    connections_.erase(conn.id());
}

void Server::PublishQueues() {
    if (backend_) backend_->Publish();
}

void Server::OnCheck(uv_check_t* h) {
    auto* self = static_cast<Server*>(h->data);
    // This iteration's pushes go into the queue files (one pwrite per queue) before any
    // reply below can acknowledge them.
    self->PublishQueues();
    if (self->sync_wanted_) {
        self->sync_wanted_ = false;
        for (int l = 0; l < kPriorityLevels; l++)
            if (!self->pending_acks_[l].empty() || !self->durable_waiters_[l].empty())
                self->backend_->RequestSync(l);
    }
    if (!self->stopping_) self->dispatcher_->Pump();
    if (self->log_) self->log_->Flush();
    if (self->stopping_ && !self->finished_ && self->dispatcher_->inflight() == 0)
        self->FinishShutdown();
    // Flushing can close a connection, which only schedules its OnClosed: ids stay valid.
    std::vector<uint64_t> ids;
    ids.swap(self->to_flush_);
    for (uint64_t id : ids)
        if (Connection* c = self->FindConnection(id)) c->Flush();
}

void Server::OnSignal(uv_signal_t* h, int signum) {
    auto* self = static_cast<Server*>(h->data);
    if (signum == SIGUSR1) return self->ReopenLogs();
    if (signum == SIGHUP) return self->Reload();
    spdlog::info("signal {}: stopping", signum);
    self->Shutdown();
}

void Server::ReopenLogs() {
    std::string error;
    if (!reopen_logs_) return;
    if (reopen_logs_(&error))
        spdlog::info("log file reopened");
    else
        spdlog::error("cannot reopen the log file {}: {} (still writing to the old one)",
                      config_.log_file, error);
}

void Server::Reload() {
    if (stopping_) return;
    ReopenLogs();
    spdlog::info("SIGHUP: reloading {}", config_.source_path);
    struct Read {
        Config fresh;
        Status status;
    };
    auto read = std::make_shared<Read>();
    OffLoop(
        loop_,
        [path = config_.source_path, read] { read->status = Config::Load(path, &read->fresh); },
        [this, read] {
            for (const std::string& warning : read->fresh.warnings)
                spdlog::warn("SIGHUP: {}", warning);
            if (!read->status.ok())
                return spdlog::error("SIGHUP: {} not reloaded: {}", config_.source_path,
                                     read->status.message());
            ApplyReload(read->fresh);
        });
}

// What a reload applies: the log level, the rate limit and the templates. The rest is read
// once at start; a change to it is named (never its value) as needing a restart.
void Server::ApplyReload(const Config& fresh) {
    if (stopping_) return;
    if (fresh.log_level != applied_log_level_) {
        spdlog::set_level(spdlog::level::from_str(fresh.log_level));
        applied_log_level_ = fresh.log_level;
        spdlog::info("SIGHUP: log level {}", fresh.log_level);
    }
    if (fresh.rate_limit_per_second != applied_rate_ || fresh.rate_burst != applied_burst_) {
        applied_rate_ = fresh.rate_limit_per_second;
        applied_burst_ = fresh.rate_burst;
        dispatcher_->SetRate(applied_rate_, applied_burst_);
        spdlog::info("SIGHUP: rate_limit_per_second {} (0: unlimited), rate_burst {}",
                     applied_rate_, applied_burst_);
    }
    std::vector<std::string> keys;
    templates_.ForEach([&keys](const Template& t) { keys.push_back(t.key()); });
    for (const std::string& key : keys) reloads_.Reload(key, [](Status) {});
    spdlog::info("SIGHUP: reloading {} templates from MySQL (new ones still need tset)",
                 keys.size());
    const std::vector<std::string> restart = KeysNeedingRestart(config_, fresh);
    if (!restart.empty()) {
        std::string names;
        for (const auto& k : restart) names += (names.empty() ? "" : ", ") + k;
        spdlog::warn("SIGHUP: changed in the file, applied only after a restart: {}", names);
    }
}

void Server::SampleAttempts() {
    if (!dispatcher_) return;
    const auto& c = dispatcher_->counters();
    attempt_samples_[samples_taken_++ % attempt_samples_.size()] = {
        c.attempts, c.by_outcome[int(Outcome::kSent)]};
}

uint64_t Server::NextMessageId() {
    // Unique across restarts without any state: the wall clock in ms, 20 bits of counter.
    last_id_ = std::max(last_id_ + 1, uint64_t(NowMs()) << 20);
    return last_id_;
}

void Server::WriteStatusFile() {
    if (status_fd_ < 0 || !dispatcher_) return;
    uint64_t depth = 0;
    for (uint64_t d : backend_->Stats().depth) depth += d;
    const auto& c = dispatcher_->counters();
    char buf[512];
    int n = std::snprintf(
        buf, sizeof buf,
        "pid %d\ndepth %llu\ninflight %zu\nwaiting %zu\nsent %llu\nfailed %llu\n"
        "retried %llu\nconnections %zu\nadmin %d\n",
        int(::getpid()), static_cast<unsigned long long>(depth), dispatcher_->inflight(),
        dispatcher_->waiting(), static_cast<unsigned long long>(c.sent),
        static_cast<unsigned long long>(c.failed), static_cast<unsigned long long>(c.retried),
        connections_.size(), admin_port());
    std::string text(buf, size_t(std::max(n, 0)));
    if (api_) text += "http " + std::to_string(api_port()) + "\n";
    if (events_) text += "events " + std::to_string(events_->port()) + "\n";
    for (int port : listen_ports_) text += "port " + std::to_string(port) + "\n";
    // A few hundred bytes into the page cache once a second: no fsync, never waits on disk.
    if (::pwrite(status_fd_, text.data(), text.size(), 0) == ssize_t(text.size()))
        (void)::ftruncate(status_fd_, off_t(text.size()));
}

void Server::OnStatusTimer(uv_timer_t* h) {
    auto* self = static_cast<Server*>(h->data);
    if (self->backend_) self->backend_->Tick(NowMs());
    self->SweepConnections();
    self->SampleAttempts();
    self->WriteStatusFile();
}

Server::Snapshot Server::Stats() const {
    Snapshot s;
    const BackendStats q = backend_->Stats();
    std::copy(std::begin(q.depth), std::end(q.depth), s.depth);
    s.disk_bytes = q.disk_bytes;
    s.scanning_segments = q.scanning_segments;
    s.syncs = q.syncs;
    s.queue_writable = q.writable;
    s.recovery = q.recovery;
    s.inflight = dispatcher_->inflight();
    s.waiting = dispatcher_->waiting();
    s.dead_letters = q.dead_letters;
    s.connections = connections_.size();
    s.connections_refused = connections_refused_;
    s.connections_timed_out = connections_timed_out_;
    s.templates = templates_.size();
    s.dedup_keys = q.msgkeys;
    s.token_refreshes = tokens_->refreshes();
    s.base_switches = tokens_->bases().switches();
    s.token_error = tokens_->LastError();
    s.counters = dispatcher_->counters();
    s.pause = dispatcher_->pause_state();
    for (size_t i = 0; i < dispatcher_->lane_count(); ++i) {
        const AccountLane& lane = dispatcher_->lane(i);
        const SendingAccount& a = accounts_->at(i);
        s.accounts.push_back({lane.name, a.account.type, lane.pause.paused, lane.counters,
                              lane.held.size(), a.tokens->refreshes()});
    }
    const int64_t now_s = NowMs() / 1000;
    s.rate_1m = throughput_.SentRate(now_s, 60);
    s.rate_5m = throughput_.SentRate(now_s, 300);
    s.rate_60m = throughput_.SentRate(now_s, 3600);
    if (samples_taken_ > 0) {
        const size_t n = attempt_samples_.size();
        const auto& [old_attempts, old_sent] =
            attempt_samples_[samples_taken_ >= n ? samples_taken_ % n : 0];
        const uint64_t sent = s.counters.by_outcome[int(Outcome::kSent)];
        s.attempts_1m = s.counters.attempts - old_attempts;
        s.failed_attempts_1m = s.attempts_1m - (sent - old_sent);
    }
    s.listening = !stopping_;
    s.log_backlog_limit = uint64_t(config_.message_log_backlog);
    if (log_) {
        s.log_written = log_->written();
        s.log_dropped = log_->dropped();
        s.log_rejected = log_->rejected();
        s.log_pending = log_->pending();
        s.log_healthy = log_->healthy();
    }
    if (events_) s.receipts = events_->Counts();
    if (callbacks_) s.callbacks = callbacks_->Counts();
    return s;
}

Status Server::RetryDeadLetter(uint64_t id) {
    Status s = backend_->RequeueDeadLetter(id);
    if (s.ok()) spdlog::info("dead letter {} queued again", id);
    return s;
}

int Server::admin_port() const {
    return admin_ ? admin_->port() : 0;
}

int Server::api_port() const {
    return api_ ? api_->port() : 0;
}

void Server::Shutdown() {
    if (stopping_) return;
    stopping_ = true;
    spdlog::info("stopping: {} sends in flight", dispatcher_ ? dispatcher_->inflight() : 0);
    for (auto& l : listeners_) {
        uv_close(reinterpret_cast<uv_handle_t*>(l.release()),
                 [](uv_handle_t* h) { std::unique_ptr<uv_tcp_t>(reinterpret_cast<uv_tcp_t*>(h)); });
    }
    listeners_.clear();
    if (admin_) admin_->Shutdown();
    if (api_) api_->Shutdown();
    if (outbox_) outbox_->Shutdown();
    if (events_) events_->Shutdown();
    if (tasks_) tasks_->Close();
    reloads_.Close();
    for (auto& [id, c] : connections_)
        if (c->open() && c->reading_) uv_read_stop(c->stream());
    if (!started_) {  // a failed start: nothing was accepted, nothing is in flight
        FinishShutdown();
        return;
    }
    dispatcher_->Stop();
    uv_timer_start(&shutdown_timer_, OnShutdownTimer, uint64_t(config_.shutdown_timeout_ms), 0);
    uv_async_send(&durable_async_);  // make sure the loop turns and the check runs
}

void Server::OnShutdownTimer(uv_timer_t* h) {
    auto* self = static_cast<Server*>(h->data);
    spdlog::warn("stop: {} sends still in flight after {} ms, abandoning them (they stay queued)",
                 self->dispatcher_->inflight(), self->config_.shutdown_timeout_ms);
    self->FinishShutdown();
}

void Server::FinishShutdown() {
    if (finished_) return;
    finished_ = true;
    if (senders_) senders_->Stop(0);  // late results are settled synchronously
    if (backend_) {
        Status closed = backend_->Close();  // every appended record is durable now
        if (!closed.ok()) spdlog::error("queue close: {}", closed.message());
    }
    if (log_) log_->Flush();
    if (tasks_) tasks_->SaveAll();
    AckDurable();
    WriteStatusFile();
    for (auto& [id, c] : connections_) {
        if (!c->open()) continue;
        c->Flush();
        c->CloseAfterFlush();
        c->Flush();
    }
    to_flush_.clear();
    if (dispatcher_) dispatcher_->CloseHandles();
    auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
    uv_timer_stop(&shutdown_timer_);
    close(&check_);
    close(&durable_async_);
    close(&sigterm_);
    close(&sigint_);
    close(&sighup_);
    close(&sigusr1_);
    close(&status_timer_);
    close(&shutdown_timer_);
    spdlog::info("stopped");
}

}  // namespace mega
