// HttpServer: a small generic HTTP/1.1 server on one libuv loop, parsing with http_parser.
// Keep-alive and pipelining: every request gets a slot in its connection's response queue and
// responses leave in request order, however late each is produced (a reply may come from a
// timer long after the handler returned, or never, until the client gives up and closes).
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
#include "http/UvHandle.h"

namespace mega {

class HttpConnection;

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // as sent: path?query
    std::string path;    // percent-encoding left as is
    std::string query;   // without '?'
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    bool keep_alive = true;

    // The first header with this lower-case name, or nullptr.
    const std::string* Header(std::string_view lower_name) const;
    // The decoded value of a query parameter; false when absent.
    bool QueryParam(std::string_view name, std::string* value) const;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json; encoding=utf-8";
    std::string body;
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

struct HttpServerLimits {
    size_t max_body_bytes = 4 << 20;  // larger bodies get 413 and the connection closes
    int listen_backlog = 4096;
};

class HttpServer {
public:
    using Handler = std::function<void(HttpRequest&& request, HttpResponder responder)>;

    HttpServer(uv_loop_t* loop, Handler handler, HttpServerLimits limits = {});
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds host (IPv4 or IPv6 literal) and port (0: any free port) and starts accepting.
    mega::Status Listen(const std::string& host, int port);
    int port() const { return port_; }
    size_t connection_count() const { return connections_.size(); }
    uint64_t requests_parsed() const { return requests_parsed_; }

    // Closes the listener and every connection; pending responses are dropped.
    void Shutdown();

private:
    friend class HttpConnection;
    void OnNewConnection(int status);
    void Forget(HttpConnection* connection);  // the connection closed itself
    void Dispatch(HttpRequest&& request, HttpResponder responder);

    uv_loop_t* loop_;
    Handler handler_;
    HttpServerLimits limits_;
    std::unique_ptr<UvHandle<uv_tcp_t>> listener_;
    int port_ = 0;
    uint64_t requests_parsed_ = 0;
    std::unordered_map<HttpConnection*, std::shared_ptr<HttpConnection>> connections_;
    // One read buffer for all connections: libuv reads into it and http_parser consumes it
    // before the next read on this thread, so nothing per connection needs to be kept.
    std::vector<char> read_buffer_;
};

// The standard reason phrase for a status code ("OK", "Not Found", ...).
std::string_view HttpReason(int status);

}  // namespace mega
