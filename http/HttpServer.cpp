// HttpServer implementation: accepting, per-connection parsing with http_parser, the ordered
// response queue (one slot per request, flushed as a ready prefix) and the write path
// (uv_try_write first, uv_write for what the socket did not take).
#include "http/HttpServer.h"

#include <http_parser.h>

#include <arpa/inet.h>

#include <cctype>
#include <climits>
#include <deque>
#include <exception>

namespace mega {

namespace {

std::string PercentDecode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
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
    out += close_after ? "\r\nConnection: close\r\n\r\n" : "\r\nConnection: keep-alive\r\n\r\n";
    out += response.body;
    return out;
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
        if (name == lower_name) return &value;
    }
    return nullptr;
}

bool HttpRequest::QueryParam(std::string_view name, std::string* value) const {
    std::string_view rest = query;
    while (!rest.empty()) {
        size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (PercentDecode(key) != name) continue;
        *value = eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
        return true;
    }
    return false;
}

std::string_view HttpReason(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Payload Too Large";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Unknown";
    }
}

// One accepted TCP connection. Owned by HttpServer::connections_ (shared, so that a
// callback running on it can keep it alive while it closes itself); responders hold weak
// references.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
public:
    HttpConnection(HttpServer* server, uv_loop_t* loop) : server_(server), tcp_(loop, uv_tcp_init) {
        tcp_.get()->data = this;
        http_parser_init(&parser_, HTTP_REQUEST);
        parser_.data = this;
    }

    uv_stream_t* stream() const { return tcp_.stream(); }

    bool Start() {
        uv_tcp_nodelay(tcp_.get(), 1);
        return uv_read_start(tcp_.stream(), &HttpConnection::OnAlloc, &HttpConnection::OnReadCb) == 0;
    }

    void Respond(uint64_t slot, HttpResponse response) {
        if (closed_ || slot < first_slot_) return;
        uint64_t index = slot - first_slot_;
        if (index >= slots_.size() || slots_[index].ready) return;
        Slot& s = slots_[index];
        s.bytes = FormatResponse(response, s.close_after);
        s.ready = true;
        Flush();
    }

    // Closes the socket now and forgets the connection. The caller must hold a shared_ptr
    // to this connection (every entry point does).
    void Close() {
        if (closed_) return;
        closed_ = true;
        slots_.clear();
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

    static const http_parser_settings& ParserSettings() {
        static const http_parser_settings settings = [] {
            http_parser_settings s{};
            s.on_message_begin = [](http_parser* p) { return Self(p)->OnMessageBegin(); };
            s.on_url = [](http_parser* p, const char* at, size_t n) {
                Self(p)->request_.target.append(at, n);
                return 0;
            };
            s.on_header_field = [](http_parser* p, const char* at, size_t n) {
                return Self(p)->OnHeaderField(at, n);
            };
            s.on_header_value = [](http_parser* p, const char* at, size_t n) {
                return Self(p)->OnHeaderValue(at, n);
            };
            s.on_headers_complete = [](http_parser* p) { return Self(p)->OnHeadersComplete(); };
            s.on_body = [](http_parser* p, const char* at, size_t n) { return Self(p)->OnBody(at, n); };
            s.on_message_complete = [](http_parser* p) { return Self(p)->OnMessageComplete(); };
            return s;
        }();
        return settings;
    }
    static HttpConnection* Self(http_parser* p) { return static_cast<HttpConnection*>(p->data); }

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

    void OnRead(ssize_t nread, const uv_buf_t* buf) {
        std::shared_ptr<HttpConnection> guard = shared_from_this();
        if (nread < 0) {  // EOF or error: a client that stops sending has given up on us
            Close();
            return;
        }
        if (nread == 0 || no_more_requests_) return;
        size_t parsed = http_parser_execute(&parser_, &ParserSettings(), buf->base,
                                            static_cast<size_t>(nread));
        if (closed_ || no_more_requests_) return;
        if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK || parsed != static_cast<size_t>(nread) ||
            parser_.upgrade) {
            HttpResponse error;
            error.status = body_too_large_ ? 413 : 400;
            error.content_type = "text/plain";
            error.body = body_too_large_ ? "request body too large\n"
                                         : std::string("bad request: ") +
                                               http_errno_name(HTTP_PARSER_ERRNO(&parser_)) + "\n";
            StopReading();
            Slot& s = slots_.emplace_back();
            s.close_after = true;
            s.ready = true;
            s.bytes = FormatResponse(error, true);
            ++next_slot_;
            Flush();
        }
    }

    int OnMessageBegin() {
        request_ = HttpRequest{};
        last_callback_was_value_ = false;
        body_too_large_ = false;
        return 0;
    }

    int OnHeaderField(const char* at, size_t n) {
        if (last_callback_was_value_ || request_.headers.empty()) request_.headers.emplace_back();
        std::string& name = request_.headers.back().first;
        for (size_t i = 0; i < n; ++i) name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(at[i]))));
        last_callback_was_value_ = false;
        return 0;
    }

    int OnHeaderValue(const char* at, size_t n) {
        if (request_.headers.empty()) return 1;
        request_.headers.back().second.append(at, n);
        last_callback_was_value_ = true;
        return 0;
    }

    int OnHeadersComplete() {
        request_.method = http_method_str(static_cast<http_method>(parser_.method));
        http_parser_url url;
        http_parser_url_init(&url);
        if (http_parser_parse_url(request_.target.data(), request_.target.size(), 0, &url) == 0) {
            if (url.field_set & (1 << UF_PATH))
                request_.path = request_.target.substr(url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
            if (url.field_set & (1 << UF_QUERY))
                request_.query = request_.target.substr(url.field_data[UF_QUERY].off, url.field_data[UF_QUERY].len);
        } else {
            request_.path = request_.target;
        }
        if (parser_.content_length != ULLONG_MAX &&
            parser_.content_length > server_->limits_.max_body_bytes) {
            body_too_large_ = true;
            return -1;  // stops the parser: 413 below
        }
        const std::string* expect = request_.Header("expect");
        if (expect != nullptr && EqualsIgnoreCase(*expect, "100-continue")) {
            // An interim answer takes a slot of its own so it cannot overtake earlier responses.
            Slot& s = slots_.emplace_back();
            s.ready = true;
            s.bytes = "HTTP/1.1 100 Continue\r\n\r\n";
            ++next_slot_;
            Flush();
            if (closed_) return -1;
        }
        return 0;
    }

    int OnBody(const char* at, size_t n) {
        if (request_.body.size() + n > server_->limits_.max_body_bytes) {
            body_too_large_ = true;
            return 1;
        }
        request_.body.append(at, n);
        return 0;
    }

    int OnMessageComplete() {
        request_.keep_alive = http_should_keep_alive(&parser_) != 0;
        uint64_t slot = next_slot_++;
        Slot& s = slots_.emplace_back();
        s.close_after = !request_.keep_alive;
        if (!request_.keep_alive) StopReading();  // nothing after a closing request is served
        server_->Dispatch(std::move(request_), HttpResponder(weak_from_this(), slot));
        request_ = HttpRequest{};
        return (closed_ || no_more_requests_) ? 1 : 0;
    }

    void StopReading() {
        no_more_requests_ = true;
        if (!closed_) uv_read_stop(tcp_.stream());
    }

    // Writes the ready prefix of the response queue, in order.
    void Flush() {
        std::string out;
        bool close_after = false;
        while (!slots_.empty() && slots_.front().ready) {
            Slot& front = slots_.front();
            if (out.empty()) out = std::move(front.bytes);
            else out += front.bytes;
            close_after = front.close_after;
            slots_.pop_front();
            ++first_slot_;
            if (close_after) break;
        }
        if (close_after) {
            closing_after_writes_ = true;
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
        if (n == static_cast<int>(out.size())) return;
        if (n < 0 && n != UV_EAGAIN) {
            Close();
            return;
        }
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
        if (std::shared_ptr<HttpConnection> self = owned->connection.lock()) self->OnWriteDone(status);
    }

    void OnWriteDone(int status) {
        if (closed_) return;
        --writes_pending_;
        if (status < 0) {
            Close();
            return;
        }
        if (closing_after_writes_ && writes_pending_ == 0) Close();
    }

    HttpServer* server_;
    UvHandle<uv_tcp_t> tcp_;
    http_parser parser_;
    HttpRequest request_;
    bool last_callback_was_value_ = false;
    bool body_too_large_ = false;
    bool no_more_requests_ = false;      // reading stopped: a closing request, or an error
    bool closing_after_writes_ = false;  // the last response is queued: close once written
    bool closed_ = false;
    std::deque<Slot> slots_;  // slots_[i] answers request number first_slot_ + i
    uint64_t first_slot_ = 0;
    uint64_t next_slot_ = 0;
    size_t writes_pending_ = 0;
};

void HttpResponder::Send(HttpResponse response) const {
    if (std::shared_ptr<HttpConnection> connection = connection_.lock())
        connection->Respond(slot_, std::move(response));
}

void HttpResponder::CloseConnection() const {
    if (std::shared_ptr<HttpConnection> connection = connection_.lock()) connection->Close();
}

HttpServer::HttpServer(uv_loop_t* loop, Handler handler, HttpServerLimits limits)
    : loop_(loop), handler_(std::move(handler)), limits_(limits), read_buffer_(64 * 1024) {}

HttpServer::~HttpServer() { Shutdown(); }

mega::Status HttpServer::Listen(const std::string& host, int port) {
    sockaddr_storage address{};
    if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&address)) != 0 &&
        uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&address)) != 0) {
        return mega::Status::Invalid("not an IP address: " + host);
    }
    auto listener = std::make_unique<UvHandle<uv_tcp_t>>(loop_, uv_tcp_init);
    listener->get()->data = this;
    int rc = uv_tcp_bind(listener->get(), reinterpret_cast<const sockaddr*>(&address), 0);
    if (rc == 0) {
        rc = uv_listen(listener->stream(), limits_.listen_backlog, [](uv_stream_t* s, int status) {
            if (s->data != nullptr) static_cast<HttpServer*>(s->data)->OnNewConnection(status);
        });
    }
    if (rc != 0) return mega::Status::IoError("listen on " + host + ":" + std::to_string(port) + ": " + uv_strerror(rc));
    sockaddr_storage bound{};
    int length = sizeof(bound);
    uv_tcp_getsockname(listener->get(), reinterpret_cast<sockaddr*>(&bound), &length);
    port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    listener_ = std::move(listener);
    return mega::Status::Ok();
}

void HttpServer::Shutdown() {
    listener_.reset();
    auto connections = std::move(connections_);
    connections_.clear();
    connections.clear();  // each connection's socket is closed by its UvHandle
}

void HttpServer::OnNewConnection(int status) {
    if (status < 0) return;
    auto connection = std::make_shared<HttpConnection>(this, loop_);
    if (uv_accept(listener_->stream(), connection->stream()) != 0) return;
    if (!connection->Start()) return;
    connections_.emplace(connection.get(), std::move(connection));
}

void HttpServer::Forget(HttpConnection* connection) { connections_.erase(connection); }

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
