// HttpServer: a small generic HTTP/1.1 server on one libuv loop, parsing with
// HttpRequestParser (http_parser underneath). Keep-alive and pipelining: every request gets a
// slot in its connection's response queue and responses leave in request order, however late
// each is produced (a reply may come from a timer long after the handler returned, or never,
// until the client gives up and closes). Bounded: a connection cap, header/request/idle
// timeouts and back-pressure (reading stops while too much output waits), see HttpServerLimits.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/Status.h"
#include "http/HttpRequestParser.h"
#include "http/UvHandle.h"

namespace mega {

class HttpConnection;

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json; encoding=utf-8";
    std::string body;
    // More header lines, e.g. {"WWW-Authenticate", "Bearer"}. Content-Type, Content-Length and
    // Connection are written by the server; a name or value with CR or LF is left out.
    std::vector<std::pair<std::string, std::string>> headers;
};

// Answers one request. Cheap to copy; outlives its connection harmlessly (Send then does
// nothing). A request whose responder never sends holds its connection's later responses.
class HttpResponder {
  public:
    HttpResponder() = default;
    void Send(HttpResponse response) const;
    // Drops the connection without answering (the client sees a reset / empty reply).
    void CloseConnection() const;
    bool connection_open() const { return !connection_.expired(); }

  private:
    friend class HttpConnection;
    HttpResponder(std::weak_ptr<HttpConnection> connection, uint64_t slot)
        : connection_(std::move(connection)), slot_(slot) {}
    std::weak_ptr<HttpConnection> connection_;
    uint64_t slot_ = 0;
};

// The defaults suit a test server such as fake-wechat: no connection cap (several mega
// instances with thousands of pooled connections each may share one fake), generous
// timeouts, and no idle timeout below libcurl's 118 s keep-alive reuse, so that a client never
// reuses a connection being closed. The admin API sets its own from [admin]. 0: none.
struct HttpServerLimits {
    HttpParserLimits request;  // header bytes (431), header count (431), body bytes (413)
    int listen_backlog = 4096;
    size_t max_connections = 0;  // beyond: 503 with one try, then close
    // Headers of a request complete this long after its first byte (or, on a new connection,
    // after the accept), else 408 and close (a new connection that sent nothing: just close).
    uint64_t header_timeout_ms = 10000;
    uint64_t request_timeout_ms = 60000;  // the whole request (a body trickling in): 408, close
    // A keep-alive connection with no request in progress, or one whose output the client does
    // not read (no write finishes), is closed after this long. Not while a handler works.
    uint64_t idle_timeout_ms = 120000;
    // Back-pressure: a connection is not read while its responses wait on this many unsent
    // bytes or this many requests are not answered and written; reading resumes below both.
    size_t max_unsent_bytes = 1 << 20;
    size_t max_pending_requests = 64;
};

class HttpServer {
  public:
    using Handler = std::function<void(HttpRequest&& request, HttpResponder responder)>;

    // `name` starts the server's log lines ("admin API: ...").
    HttpServer(uv_loop_t* loop, Handler handler, HttpServerLimits limits = {},
               std::string name = "HTTP server");
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds host (IPv4 or IPv6 literal) and port (0: any free port) and starts accepting.
    mega::Status Listen(const std::string& host, int port);
    int port() const { return port_; }
    size_t connection_count() const { return connections_.size(); }
    uint64_t requests_parsed() const { return requests_parsed_; }
    uint64_t connections_refused() const { return connections_refused_; }

    // Closes the listener and every connection; pending responses are dropped.
    void Shutdown();

  private:
    friend class HttpConnection;
    // A problem that may come in floods: the first is logged at once, the rest as one count
    // per interval (a timer logs the count of a burst that has ended).
    struct ThrottledWarning {
        explicit ThrottledWarning(const char* what_text) : what(what_text) {}
        const char* what;  // "connections refused, max_connections reached"
        uint64_t last_ms = 0;
        uint64_t unreported = 0;
        bool logged_once = false;
        std::string detail;  // of the latest one
    };
    void Warn(ThrottledWarning* warning, std::string detail);
    void LogWarning(ThrottledWarning* warning);
    void OnWarningTimer();
    struct Listener;
    void OnAcceptable();                      // the listening socket has connections to accept
    void Adopt(int fd);                       // an accepted socket becomes an HttpConnection
    void Refuse(int fd);                      // over the cap: a 503 written once, then closed
    void PauseAccepting();                    // out of descriptors: retry a little later
    void OnAcceptTimer();                     // (re)starts watching the listening socket
    void Forget(HttpConnection* connection);  // the connection closed itself
    void Dispatch(HttpRequest&& request, HttpResponder responder);

    uv_loop_t* loop_;
    Handler handler_;
    HttpServerLimits limits_;
    std::string name_;
    uint64_t connections_refused_ = 0;
    ThrottledWarning refused_warning_{"connections refused, max_connections reached"};
    ThrottledWarning accept_warning_{"cannot accept connections"};
    UvHandle<uv_timer_t> warning_timer_;  // unreferenced: never keeps the loop running
    UvHandle<uv_timer_t> accept_timer_;   // restarts accepting after PauseAccepting
    std::unique_ptr<Listener> listener_;
    int port_ = 0;
    uint64_t requests_parsed_ = 0;
    std::unordered_map<HttpConnection*, std::shared_ptr<HttpConnection>> connections_;
    // One read buffer for all connections: libuv reads into it and the parser consumes it
    // before the next read on this thread. A connection that stops reading mid-buffer
    // (back-pressure) keeps the unparsed rest, at most this buffer's size.
    std::vector<char> read_buffer_;
};

// The standard reason phrase for a status code ("OK", "Not Found", ...).
std::string_view HttpReason(int status);

}  // namespace mega
