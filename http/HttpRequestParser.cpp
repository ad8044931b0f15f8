// HttpRequestParser implementation: http_parser callbacks collect one request at a time; the
// parser pauses itself (http_parser_pause) when a request completes, so Feed returns at a
// message boundary with the bytes after it untouched. Every buffer grows only under a limit.
#include "http/HttpRequestParser.h"

#include <cctype>
#include <climits>

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

HttpRequestParser::HttpRequestParser(HttpParserLimits limits) : limits_(limits) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
}

const http_parser_settings& HttpRequestParser::Settings() {
    static const http_parser_settings settings = [] {
        http_parser_settings s{};
        s.on_message_begin = [](http_parser* p) { return Self(p)->OnMessageBegin(); };
        s.on_url = [](http_parser* p, const char* at, size_t n) { return Self(p)->OnUrl(at, n); };
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

size_t HttpRequestParser::Feed(std::string_view data) {
    // An empty buffer would tell http_parser the stream ended.
    if (data.empty() || has_request_ || error_status_ != 0) return 0;
    size_t consumed = http_parser_execute(&parser_, &Settings(), data.data(), data.size());
    const http_errno error = HTTP_PARSER_ERRNO(&parser_);
    if (error == HPE_PAUSED) {  // a request is complete: resume later from the next byte
        http_parser_pause(&parser_, 0);
        return consumed;
    }
    if (error != HPE_OK) {
        if (error_status_ == 0) Fail(400, std::string("bad request: ") + http_errno_name(error));
        return consumed;
    }
    if (consumed != data.size()) Fail(400, "bad request: the parser stopped early");
    return consumed;
}

HttpRequest HttpRequestParser::TakeRequest() {
    HttpRequest out = std::move(request_);
    request_ = HttpRequest{};
    has_request_ = false;
    return out;
}

bool HttpRequestParser::TakeContinueRequest() {
    const bool requested = continue_requested_;
    continue_requested_ = false;
    return requested;
}

size_t HttpRequestParser::buffered_bytes() const {
    size_t n = request_.target.size() + request_.path.size() + request_.query.size() +
               request_.method.size() + request_.body.size();
    for (const auto& [name, value] : request_.headers) n += name.size() + value.size();
    return n;
}

int HttpRequestParser::Fail(int status, std::string message) {
    if (error_status_ == 0) {
        error_status_ = status;
        error_message_ = std::move(message);
    }
    return -1;  // stops http_parser
}

bool HttpRequestParser::CountHeaderBytes(size_t n) {
    header_bytes_ += n;
    if (header_bytes_ <= limits_.max_header_bytes) return true;
    Fail(431, "request headers too large (more than " + std::to_string(limits_.max_header_bytes) +
                  " bytes)");
    return false;
}

int HttpRequestParser::OnMessageBegin() {
    request_ = HttpRequest{};
    stage_ = Stage::kHeaders;
    header_bytes_ = 0;
    last_callback_was_value_ = false;
    return 0;
}

int HttpRequestParser::OnUrl(const char* at, size_t n) {
    if (!CountHeaderBytes(n)) return -1;
    request_.target.append(at, n);
    return 0;
}

int HttpRequestParser::OnHeaderField(const char* at, size_t n) {
    if (!CountHeaderBytes(n)) return -1;
    if (last_callback_was_value_ || request_.headers.empty()) {
        if (request_.headers.size() >= limits_.max_headers)
            return Fail(431, "too many request headers (more than " +
                                 std::to_string(limits_.max_headers) + ")");
        request_.headers.emplace_back();
    }
    std::string& name = request_.headers.back().first;
    for (size_t i = 0; i < n; ++i)
        name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(at[i]))));
    last_callback_was_value_ = false;
    return 0;
}

int HttpRequestParser::OnHeaderValue(const char* at, size_t n) {
    if (!CountHeaderBytes(n)) return -1;
    if (request_.headers.empty()) return Fail(400, "bad request: a header value without a name");
    request_.headers.back().second.append(at, n);
    last_callback_was_value_ = true;
    return 0;
}

void HttpRequestParser::SplitTarget() {
    http_parser_url url;
    http_parser_url_init(&url);
    if (http_parser_parse_url(request_.target.data(), request_.target.size(), 0, &url) != 0) {
        request_.path = request_.target;
        return;
    }
    if (url.field_set & (1 << UF_PATH))
        request_.path =
            request_.target.substr(url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
    if (url.field_set & (1 << UF_QUERY))
        request_.query =
            request_.target.substr(url.field_data[UF_QUERY].off, url.field_data[UF_QUERY].len);
}

int HttpRequestParser::OnHeadersComplete() {
    if (parser_.upgrade)
        return Fail(400, "bad request: protocol upgrades and CONNECT are not served");
    request_.method = http_method_str(static_cast<http_method>(parser_.method));
    request_.http_major = parser_.http_major;
    request_.http_minor = parser_.http_minor;
    SplitTarget();
    if (parser_.content_length != ULLONG_MAX && parser_.content_length > limits_.max_body_bytes)
        return Fail(413, "request body too large (more than " +
                             std::to_string(limits_.max_body_bytes) + " bytes)");
    const std::string* expect = request_.Header("expect");
    if (expect != nullptr && EqualsIgnoreCase(*expect, "100-continue")) continue_requested_ = true;
    stage_ = Stage::kBody;
    return 0;
}

int HttpRequestParser::OnBody(const char* at, size_t n) {
    if (request_.body.size() + n > limits_.max_body_bytes)
        return Fail(413, "request body too large (more than " +
                             std::to_string(limits_.max_body_bytes) + " bytes)");
    request_.body.append(at, n);
    return 0;
}

int HttpRequestParser::OnMessageComplete() {
    request_.keep_alive = http_should_keep_alive(&parser_) != 0;
    stage_ = Stage::kBetweenRequests;
    has_request_ = true;
    http_parser_pause(&parser_, 1);  // Feed returns here: the caller takes the request first
    return 0;
}

}  // namespace mega
