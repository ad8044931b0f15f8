// HttpRequestParser: turns the bytes of one HTTP/1.1 connection into HttpRequest objects,
// with http_parser underneath and the size limits of a server (header bytes, header count,
// body bytes). Pure: no sockets, no libuv, no clock, so that a fuzzer can drive it; it stops
// after every complete request so that its caller can stop reading at a message boundary.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mega {

struct HttpRequest {
    std::string method;                                        // "GET", "POST", ...
    std::string target;                                        // as sent: path?query
    std::string path;                                          // percent-encoding left as is
    std::string query;                                         // without '?'
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    bool keep_alive = true;
    int http_major = 1;
    int http_minor = 1;
    // The server's side of the connection (an IP literal and the port), set by HttpServer.
    std::string local_address;
    int local_port = 0;

    // The first header with this lower-case name, or nullptr.
    const std::string* Header(std::string_view lower_name) const;
    // The decoded value of a query parameter; false when absent.
    bool QueryParam(std::string_view name, std::string* value) const;
};

struct HttpParserLimits {
    size_t max_header_bytes = 16 << 10;  // request line and header fields (trailers too): 431
    size_t max_headers = 100;            // header fields in one request: 431 beyond
    size_t max_body_bytes = 4 << 20;     // 413 beyond
};

class HttpRequestParser {
  public:
    // Where the parser stands in the stream of requests.
    enum class Stage { kBetweenRequests, kHeaders, kBody };

    explicit HttpRequestParser(HttpParserLimits limits = {});
    HttpRequestParser(const HttpRequestParser&) = delete;
    HttpRequestParser& operator=(const HttpRequestParser&) = delete;

    // Parses from `data` until one request is complete, the input is used up or the input
    // turns out bad. Returns the bytes consumed; the rest must be fed again later, after
    // TakeRequest(). Consumes nothing while a request waits to be taken or after an error.
    size_t Feed(std::string_view data);

    bool has_request() const { return has_request_; }
    HttpRequest TakeRequest();
    // True, once, when the headers of a request asked for "Expect: 100-continue".
    bool TakeContinueRequest();

    // 0 while the input is good; else the status to answer with (400, 413 or 431) and why.
    int error_status() const { return error_status_; }
    const std::string& error_message() const { return error_message_; }

    Stage stage() const { return stage_; }
    // Bytes held for the request being parsed (target, headers, body).
    size_t buffered_bytes() const;
    const HttpParserLimits& limits() const { return limits_; }

  private:
    static const http_parser_settings& Settings();
    static HttpRequestParser* Self(http_parser* p) {
        return static_cast<HttpRequestParser*>(p->data);
    }
    int OnMessageBegin();
    int OnUrl(const char* at, size_t n);
    int OnHeaderField(const char* at, size_t n);
    int OnHeaderValue(const char* at, size_t n);
    int OnHeadersComplete();
    int OnBody(const char* at, size_t n);
    int OnMessageComplete();
    bool CountHeaderBytes(size_t n);  // false (and the 431 error set) beyond the limit
    int Fail(int status, std::string message);
    void SplitTarget();

    HttpParserLimits limits_;
    http_parser parser_;
    HttpRequest request_;
    Stage stage_ = Stage::kBetweenRequests;
    size_t header_bytes_ = 0;
    bool last_callback_was_value_ = false;
    bool has_request_ = false;
    bool continue_requested_ = false;
    int error_status_ = 0;
    std::string error_message_;
};

}  // namespace mega
