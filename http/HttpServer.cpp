// HttpServer implementation: accepting (by hand, with a connection cap), per-connection
// parsing with HttpRequestParser, the ordered response queue (one slot per request, flushed as
// a ready prefix), the write path (uv_try_write first, uv_write for what the socket did not
// take), back-pressure and timeouts.
//
// Timers: one uv_timer per connection. libuv keeps timers in a binary min-heap, so arming or
// stopping one costs O(log n) (about 15 steps at 20,000 connections), and the loop reads the
// earliest deadline in O(1); nothing sweeps all connections and nothing wakes up
// periodically. A connection re-arms only when its deadline changes (accept, a request begins
// or completes, a response is produced or written), never per byte read, and the deadline is
// computed from the connection's state (NextDeadline), so a timer that fires finds out for
// itself whether it is still due.
#include "http/HttpServer.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <exception>

namespace mega {

namespace {

constexpr uint64_t kWarningIntervalMs = 10000;
constexpr uint64_t kAcceptRetryMs = 100;  // after running out of descriptors
constexpr int kAcceptsPerWakeup = 128;    // then other work gets its turn
constexpr uint64_t kNever = UINT64_MAX;

bool HasLineBreak(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
}

std::string FormatResponse(const HttpResponse& response, bool close_after) {
    std::string out;
    out.reserve(response.body.size() + 160);
    out += "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += HttpReason(response.status);
    out += "\r\nContent-Type: ";
    out += response.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(response.body.size());
    for (const auto& [name, value] : response.headers) {
        if (name.empty() || HasLineBreak(name) || HasLineBreak(value)) continue;
        out += "\r\n";
        out += name;
        out += ": ";
        out += value;
    }
    out += close_after ? "\r\nConnection: close\r\n\r\n" : "\r\nConnection: keep-alive\r\n\r\n";
    out += response.body;
    return out;
}

HttpResponse PlainError(int status, std::string message) {
    HttpResponse error;
    error.status = status;
    error.content_type = "text/plain; charset=utf-8";
    error.body = std::move(message) + "\n";
    return error;
}

// The IP literal and port of a socket address.
void DescribeAddress(const sockaddr_storage& address, std::string* host, int* port) {
    char text[INET6_ADDRSTRLEN] = "";
    if (address.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
        uv_ip6_name(in6, text, sizeof(text));
        *port = ntohs(in6->sin6_port);
    } else {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
        uv_ip4_name(in, text, sizeof(text));
        *port = ntohs(in->sin_port);
    }
    *host = text;
}

}  // namespace

std::string_view HttpReason(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Payload Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 417:
            return "Expectation Failed";
        case 421:
            return "Misdirected Request";
        case 422:
            return "Unprocessable Entity";
        case 425:
            return "Too Early";
        case 426:
            return "Upgrade Required";
        case 428:
            return "Precondition Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

// One accepted TCP connection. Owned by HttpServer::connections_ (shared, so that a
// callback running on it can keep it alive while it closes itself); responders hold weak
// references.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
  public:
    HttpConnection(HttpServer* server, uv_loop_t* loop)
        : server_(server),
          loop_(loop),
          tcp_(loop, uv_tcp_init),
          timer_(loop, uv_timer_init),
          parser_(server->limits_.request) {
        tcp_.get()->data = this;
        timer_.get()->data = this;
    }

    uv_tcp_t* tcp() const { return tcp_.get(); }

    bool Start() {
        uv_tcp_nodelay(tcp_.get(), 1);
        sockaddr_storage local{};
        int length = sizeof(local);
        if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&local), &length) == 0)
            DescribeAddress(local, &local_address_, &local_port_);
        accepted_ms_ = last_progress_ms_ = Now();
        if (uv_read_start(tcp_.stream(), &HttpConnection::OnAlloc, &HttpConnection::OnReadCb) != 0)
            return false;
        UpdateTimer();
        return true;
    }

    void Respond(uint64_t slot, HttpResponse response) {
        if (closed_ || slot < first_slot_) return;
        uint64_t index = slot - first_slot_;
        if (index >= slots_.size() || slots_[index].ready) return;
        Slot& s = slots_[index];
        s.bytes = FormatResponse(response, s.close_after);
        s.ready = true;
        unsent_bytes_ += s.bytes.size();
        --unanswered_;
        Flush();
        ScheduleResumeIfDrained();
        UpdateTimer();
    }

    // Closes the socket now and forgets the connection. The caller must hold a shared_ptr
    // to this connection (every entry point does).
    void Close() {
        if (closed_) return;
        closed_ = true;
        slots_.clear();
        pending_input_.clear();
        timer_.Close();
        tcp_.Close();
        server_->Forget(this);
    }

  private:
    struct Slot {
        bool ready = false;
        bool close_after = false;  // the connection ends after this response
        std::string bytes;
    };
    struct WriteRequest {
        uv_write_t req;
        std::string bytes;
        std::weak_ptr<HttpConnection> connection;
    };
    // What the connection's timer is for when it fires.
    enum class Expiry { kNone, kResume, kStalledOutput, kRequestTimeout, kIdle };
    struct Deadline {
        uint64_t at_ms = kNever;
        Expiry what = Expiry::kNone;
    };

    uint64_t Now() const { return uv_now(loop_); }
    const HttpServerLimits& limits() const { return server_->limits_; }

    static void OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
        auto* self = static_cast<HttpConnection*>(handle->data);
        if (self == nullptr) {
            *buf = uv_buf_init(nullptr, 0);
            return;
        }
        std::vector<char>& shared = self->server_->read_buffer_;
        *buf = uv_buf_init(shared.data(), static_cast<unsigned>(shared.size()));
    }

    static void OnReadCb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto* self = static_cast<HttpConnection*>(stream->data);
        if (self != nullptr) self->OnRead(nread, buf);
    }

    static void OnTimerCb(uv_timer_t* timer) {
        auto* self = static_cast<HttpConnection*>(timer->data);
        if (self != nullptr) self->OnTimer();
    }

    void OnRead(ssize_t nread, const uv_buf_t* buf) {
        std::shared_ptr<HttpConnection> guard = shared_from_this();
        if (nread < 0) {  // EOF or error: a client that stops sending has given up on us
            Close();
            return;
        }
        if (nread == 0 || no_more_requests_ || reading_paused_) return;
        Consume(std::string_view(buf->base, static_cast<size_t>(nread)));
        UpdateTimer();
    }

    // Parses `input` request by request; stops (keeping the rest) while over the bounds.
    void Consume(std::string_view input) {
        while (!input.empty() && !closed_ && !no_more_requests_) {
            if (OverBound()) {
                PauseReading(input);
                return;
            }
            const bool between = parser_.stage() == HttpRequestParser::Stage::kBetweenRequests;
            const size_t used = parser_.Feed(input);
            input.remove_prefix(used);
            const bool begun = parser_.stage() != HttpRequestParser::Stage::kBetweenRequests;
            if (between && begun) message_begin_ms_ = Now();
            any_request_ = any_request_ || begun || parser_.has_request();
            if (parser_.TakeContinueRequest()) QueueReady("HTTP/1.1 100 Continue\r\n\r\n", false);
            if (parser_.error_status() != 0) {
                RefuseAndClose(parser_.error_status(), parser_.error_message());
                return;
            }
            if (parser_.has_request()) {
                DispatchNext();
            } else if (used == 0) {
                return;
            }
        }
    }

    bool OverBound() const {
        return unsent_bytes_ >= limits().max_unsent_bytes ||
               slots_.size() >= limits().max_pending_requests;
    }

    void PauseReading(std::string_view rest) {
        pending_input_.assign(rest.data(), rest.size());  // at most one read's worth
        if (!reading_paused_) uv_read_stop(tcp_.stream());
        reading_paused_ = true;
    }

    void ScheduleResumeIfDrained() {
        if (reading_paused_ && !closed_ && !no_more_requests_ && !OverBound()) resume_due_ = true;
    }

    // Runs from the timer, never inside a handler's call stack: the parked bytes first, then
    // the socket again.
    void Resume() {
        reading_paused_ = false;
        std::string input = std::move(pending_input_);
        pending_input_.clear();
        if (!input.empty()) Consume(input);
        if (reading_paused_ || closed_ || no_more_requests_) return;
        if (uv_read_start(tcp_.stream(), &HttpConnection::OnAlloc, &HttpConnection::OnReadCb) != 0)
            Close();
    }

    void DispatchNext() {
        HttpRequest request = parser_.TakeRequest();
        request.local_address = local_address_;
        request.local_port = local_port_;
        const uint64_t slot = next_slot_++;
        slots_.emplace_back().close_after = !request.keep_alive;
        ++unanswered_;
        last_progress_ms_ = Now();
        if (!request.keep_alive) StopReading();  // nothing after a closing request is served
        server_->Dispatch(std::move(request), HttpResponder(weak_from_this(), slot));
    }

    // Queues an answer of the server's own (after the requests before it) and flushes.
    void QueueReady(std::string bytes, bool close_after) {
        Slot& s = slots_.emplace_back();
        s.ready = true;
        s.close_after = close_after;
        s.bytes = std::move(bytes);
        unsent_bytes_ += s.bytes.size();
        ++next_slot_;
        Flush();
    }

    void RefuseAndClose(int status, std::string message) {
        StopReading();
        pending_input_.clear();
        QueueReady(FormatResponse(PlainError(status, std::move(message)), true), true);
    }

    void StopReading() {
        no_more_requests_ = true;
        reading_paused_ = false;
        resume_due_ = false;
        if (!closed_) uv_read_stop(tcp_.stream());
    }

    // Writes the ready prefix of the response queue, in order.
    void Flush() {
        std::string out;
        bool close_after = false;
        while (!slots_.empty() && slots_.front().ready) {
            Slot& front = slots_.front();
            if (out.empty())
                out = std::move(front.bytes);
            else
                out += front.bytes;
            close_after = front.close_after;
            slots_.pop_front();
            ++first_slot_;
            if (close_after) break;
        }
        if (close_after) {
            closing_after_writes_ = true;
            for (const Slot& s : slots_) {  // nothing is answered after a closing response
                if (s.ready)
                    unsent_bytes_ -= s.bytes.size();
                else
                    --unanswered_;
            }
            slots_.clear();
            StopReading();
        }
        if (!out.empty()) Write(std::move(out));
        if (!closed_ && closing_after_writes_ && writes_pending_ == 0) Close();
    }

    void Write(std::string out) {
        if (closed_) return;
        uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
        int n = uv_try_write(tcp_.stream(), &buf, 1);  // UV_EAGAIN while earlier writes queue
        if (n < 0 && n != UV_EAGAIN) {
            Close();
            return;
        }
        if (n > 0) {
            unsent_bytes_ -= static_cast<size_t>(n);
            last_progress_ms_ = Now();
        }
        if (n == static_cast<int>(out.size())) return;
        auto request = std::make_unique<WriteRequest>();
        request->bytes = n > 0 ? out.substr(static_cast<size_t>(n)) : std::move(out);
        request->connection = weak_from_this();
        request->req.data = request.get();
        buf = uv_buf_init(request->bytes.data(), static_cast<unsigned>(request->bytes.size()));
        if (uv_write(&request->req, tcp_.stream(), &buf, 1, &HttpConnection::OnWriteCb) != 0) {
            Close();
            return;
        }
        request.release();  // freed by OnWriteCb, which libuv always calls
        ++writes_pending_;
    }

    static void OnWriteCb(uv_write_t* req, int status) {
        std::unique_ptr<WriteRequest> owned(static_cast<WriteRequest*>(req->data));
        if (std::shared_ptr<HttpConnection> self = owned->connection.lock())
            self->OnWriteDone(status, owned->bytes.size());
    }

    void OnWriteDone(int status, size_t bytes) {
        if (closed_) return;
        --writes_pending_;
        unsent_bytes_ -= bytes;
        last_progress_ms_ = Now();
        if (status < 0 || (closing_after_writes_ && writes_pending_ == 0)) {
            Close();
            return;
        }
        ScheduleResumeIfDrained();
        UpdateTimer();
    }

    // When the timer must fire next, and why, from the connection's state alone.
    Deadline NextDeadline() const {
        const HttpServerLimits& l = limits();
        auto after = [](uint64_t since, uint64_t timeout, Expiry what) {
            return timeout == 0 ? Deadline{} : Deadline{since + timeout, what};
        };
        if (closed_) return {};
        if (resume_due_) return {Now(), Expiry::kResume};
        if (unanswered_ > 0) return {};  // a handler works: its time is not the client's
        if (unsent_bytes_ > 0 || writes_pending_ > 0)
            return after(last_progress_ms_, l.idle_timeout_ms, Expiry::kStalledOutput);
        if (no_more_requests_) return {};
        switch (parser_.stage()) {
            case HttpRequestParser::Stage::kHeaders:
                return after(message_begin_ms_, l.header_timeout_ms, Expiry::kRequestTimeout);
            case HttpRequestParser::Stage::kBody:
                return after(message_begin_ms_, l.request_timeout_ms, Expiry::kRequestTimeout);
            case HttpRequestParser::Stage::kBetweenRequests:
                if (!any_request_) return after(accepted_ms_, l.header_timeout_ms, Expiry::kIdle);
                return after(last_progress_ms_, l.idle_timeout_ms, Expiry::kIdle);
        }
        return {};
    }

    void UpdateTimer() {
        if (closed_) return;
        const Deadline next = NextDeadline();
        if (next.at_ms == armed_ms_) return;
        armed_ms_ = next.at_ms;
        if (next.what == Expiry::kNone) {
            uv_timer_stop(timer_.get());
            return;
        }
        const uint64_t now = Now();
        uv_timer_start(timer_.get(), &HttpConnection::OnTimerCb,
                       next.at_ms > now ? next.at_ms - now : 0, 0);
    }

    void OnTimer() {
        std::shared_ptr<HttpConnection> guard = shared_from_this();
        armed_ms_ = kNever;
        const Deadline due = NextDeadline();
        if (due.what != Expiry::kNone && due.at_ms <= Now()) {
            switch (due.what) {
                case Expiry::kResume:
                    resume_due_ = false;
                    Resume();
                    break;
                case Expiry::kRequestTimeout:
                    RefuseAndClose(408, "request timeout: the request did not arrive in time");
                    break;
                case Expiry::kStalledOutput:
                case Expiry::kIdle:
                case Expiry::kNone:
                    Close();
                    return;
            }
        }
        UpdateTimer();
    }

    HttpServer* server_;
    uv_loop_t* loop_;
    UvHandle<uv_tcp_t> tcp_;
    UvHandle<uv_timer_t> timer_;
    HttpRequestParser parser_;
    std::string local_address_;
    int local_port_ = 0;
    bool no_more_requests_ = false;      // reading stopped for good: a closing request, an error
    bool closing_after_writes_ = false;  // the last response is queued: close once written
    bool closed_ = false;
    bool reading_paused_ = false;  // back-pressure: pending_input_ waits, socket not read
    bool resume_due_ = false;      // back under the bounds: resume from the timer
    bool any_request_ = false;     // a request has begun on this connection
    std::string pending_input_;    // read but not parsed while paused
    std::deque<Slot> slots_;       // slots_[i] answers request number first_slot_ + i
    uint64_t first_slot_ = 0;
    uint64_t next_slot_ = 0;
    size_t unanswered_ = 0;    // dispatched requests whose handler has not responded
    size_t unsent_bytes_ = 0;  // in ready slots and in write requests
    size_t writes_pending_ = 0;
    uint64_t accepted_ms_ = 0;
    uint64_t message_begin_ms_ = 0;
    uint64_t last_progress_ms_ = 0;  // a request completed or output was written
    uint64_t armed_ms_ = kNever;
};

void HttpResponder::Send(HttpResponse response) const {
    if (std::shared_ptr<HttpConnection> connection = connection_.lock())
        connection->Respond(slot_, std::move(response));
}

void HttpResponder::CloseConnection() const {
    if (std::shared_ptr<HttpConnection> connection = connection_.lock()) connection->Close();
}

void HttpServer::Warn(ThrottledWarning* warning, std::string detail) {
    ++warning->unreported;
    warning->detail = std::move(detail);
    const uint64_t now = uv_now(loop_);
    if (!warning->logged_once || now - warning->last_ms >= kWarningIntervalMs) {
        LogWarning(warning);
    } else if (!uv_is_active(warning_timer_.handle())) {
        uv_timer_start(
            warning_timer_.get(),
            [](uv_timer_t* t) {
                if (t->data != nullptr) static_cast<HttpServer*>(t->data)->OnWarningTimer();
            },
            warning->last_ms + kWarningIntervalMs - now, 0);
    }
}

void HttpServer::LogWarning(ThrottledWarning* warning) {
    const uint64_t now = uv_now(loop_);
    const uint64_t since_s = (now - warning->last_ms + 999) / 1000;
    if (warning->logged_once)
        spdlog::warn("{}: {}: {} in the last {} s; the latest: {}", name_, warning->what,
                     warning->unreported, since_s, warning->detail);
    else
        spdlog::warn("{}: {}: {} (the next are counted, logged at most every {} s)", name_,
                     warning->what, warning->detail, kWarningIntervalMs / 1000);
    warning->logged_once = true;
    warning->last_ms = now;
    warning->unreported = 0;
}

void HttpServer::OnWarningTimer() {
    for (ThrottledWarning* warning : {&refused_warning_, &accept_warning_})
        if (warning->unreported > 0) LogWarning(warning);
}

HttpServer::HttpServer(uv_loop_t* loop, Handler handler, HttpServerLimits limits, std::string name)
    : loop_(loop),
      handler_(std::move(handler)),
      limits_(limits),
      name_(std::move(name)),
      warning_timer_(loop, uv_timer_init),
      accept_timer_(loop, uv_timer_init),
      read_buffer_(64 * 1024) {
    warning_timer_.get()->data = this;
    uv_unref(warning_timer_.handle());
    accept_timer_.get()->data = this;
}

HttpServer::~HttpServer() {
    Shutdown();
}

// The listening socket, accepted from by hand rather than with uv_listen: out of descriptors,
// libuv accepts and drops pending connections silently (its reserve-descriptor trick); here
// the failure is logged and the connections wait in the backlog until descriptors free up.
struct HttpServer::Listener {
    explicit Listener(int socket_fd) : fd(socket_fd) {}
    ~Listener() {
        poll.reset();  // out of epoll before the descriptor goes
        ::close(fd);
    }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    int fd;
    std::unique_ptr<UvHandle<uv_poll_t>> poll;
};

mega::Status HttpServer::Listen(const std::string& host, int port) {
    sockaddr_storage address{};
    socklen_t length = sizeof(sockaddr_in);
    if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&address)) != 0) {
        if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&address)) != 0)
            return mega::Status::Invalid("not an IP address: " + host);
        length = sizeof(sockaddr_in6);
    }
    auto failed = [&](const char* what) {
        return mega::Status::IoError(std::string(what) + " " + host + ":" + std::to_string(port) +
                                     ": " + uv_strerror(uv_translate_sys_error(errno)));
    };
    const int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return failed("socket for");
    auto listener = std::make_unique<Listener>(fd);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0 ||
        ::listen(fd, limits_.listen_backlog) != 0)
        return failed("listen on");
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof(bound);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
    std::string bound_host;
    DescribeAddress(bound, &bound_host, &port_);
    listener->poll = std::make_unique<UvHandle<uv_poll_t>>(
        loop_, [fd](uv_loop_t* loop, uv_poll_t* poll) { return uv_poll_init(loop, poll, fd); });
    if (!listener->poll->init_status().ok())
        return mega::Status::IoError("listen on " + host + ":" + std::to_string(port) + ": " +
                                     listener->poll->init_status().message());
    listener->poll->get()->data = this;
    listener_ = std::move(listener);
    OnAcceptTimer();  // starts watching
    return mega::Status::Ok();
}

void HttpServer::OnAcceptTimer() {
    if (!listener_) return;
    uv_poll_start(listener_->poll->get(), UV_READABLE, [](uv_poll_t* poll, int, int) {
        if (poll->data != nullptr) static_cast<HttpServer*>(poll->data)->OnAcceptable();
    });
}

void HttpServer::Shutdown() {
    uv_timer_stop(accept_timer_.get());
    listener_.reset();
    auto connections = std::move(connections_);
    connections_.clear();
    connections.clear();  // each connection's socket is closed by its UvHandle
}

void HttpServer::OnAcceptable() {
    for (int i = 0; i < kAcceptsPerWakeup && listener_; ++i) {
        const int fd = ::accept4(listener_->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (limits_.max_connections > 0 && connections_.size() >= limits_.max_connections)
                Refuse(fd);
            else
                Adopt(fd);
            continue;
        }
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) return;
        if (error == EINTR || error == ECONNABORTED) continue;
        Warn(&accept_warning_, std::string(uv_strerror(uv_translate_sys_error(error))) + ", " +
                                   std::to_string(connections_.size()) + " connections open");
        PauseAccepting();  // EMFILE, ENFILE, ENOBUFS, ENOMEM: the backlog keeps them meanwhile
        return;
    }
}

void HttpServer::PauseAccepting() {
    uv_poll_stop(listener_->poll->get());
    uv_timer_start(
        accept_timer_.get(),
        [](uv_timer_t* t) {
            if (t->data != nullptr) static_cast<HttpServer*>(t->data)->OnAcceptTimer();
        },
        kAcceptRetryMs, 0);
}

void HttpServer::Adopt(int fd) {
    auto connection = std::make_shared<HttpConnection>(this, loop_);
    if (uv_tcp_open(connection->tcp(), fd) != 0) {
        ::close(fd);
        return;
    }
    if (!connection->Start()) return;
    connections_.emplace(connection.get(), std::move(connection));
}

void HttpServer::Refuse(int fd) {
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 39\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
        "too many connections: try again later\r\n";
    static_assert(kBusy.size() - kBusy.find("\r\n\r\n") - 4 == 39);
    ++connections_refused_;
    // One try: a client that cannot take it at once loses it.
    [[maybe_unused]] const ssize_t sent =
        ::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    Warn(&refused_warning_, std::to_string(connections_.size()) + " connections open, " +
                                std::to_string(connections_refused_) + " refused in all");
}

void HttpServer::Forget(HttpConnection* connection) {
    connections_.erase(connection);
}

void HttpServer::Dispatch(HttpRequest&& request, HttpResponder responder) {
    ++requests_parsed_;
    try {
        handler_(std::move(request), responder);
    } catch (const std::exception& e) {
        HttpResponse failure;
        failure.status = 500;
        failure.content_type = "text/plain";
        failure.body = std::string("handler failed: ") + e.what() + "\n";
        responder.Send(std::move(failure));
    }
}

}  // namespace mega
