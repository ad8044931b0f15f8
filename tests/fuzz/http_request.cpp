// libFuzzer target for HttpRequestParser (http/): the input, after two bytes that choose
// chunk sizes, is fed as one piece, byte by byte and in two chunkings of its own. Checks:
// Feed never consumes more than it is given and never stalls without a reason, every request
// and the parser's own buffers stay within the limits, and every chunking yields the same
// requests and an error or none (the parser must not depend on how TCP splits the stream).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/HttpRequestParser.h"

namespace {

// Small limits, so that inputs of a few KiB reach them.
constexpr mega::HttpParserLimits kLimits{1024, 16, 4096};

struct Outcome {
    std::vector<std::string> requests;  // each flattened to one string
    int error_status = 0;
};

void Require(bool condition, const char* what) {
    if (condition) return;
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
}

std::string Flatten(const mega::HttpRequest& r) {
    std::string out = r.method + ' ' + r.target + ' ' + r.path + '?' + r.query + ' ' +
                      std::to_string(r.http_major) + '.' + std::to_string(r.http_minor) +
                      (r.keep_alive ? " keep\n" : " close\n");
    for (const auto& [name, value] : r.headers) out += name + ": " + value + '\n';
    return out + '\n' + r.body;
}

void CheckRequest(const mega::HttpRequest& r) {
    Require(!r.method.empty(), "a request without a method");
    Require(r.body.size() <= kLimits.max_body_bytes, "body over max_body_bytes");
    Require(r.headers.size() <= kLimits.max_headers, "more headers than max_headers");
    size_t header_bytes = r.target.size();
    for (const auto& [name, value] : r.headers) {
        header_bytes += name.size() + value.size();
        for (char c : name) Require(!(c >= 'A' && c <= 'Z'), "a header name not lower-cased");
    }
    Require(header_bytes <= kLimits.max_header_bytes, "headers over max_header_bytes");
    std::string value;
    r.QueryParam("a", &value);  // must not crash on any query
}

// Feeds `input` in chunks whose sizes come from `next_size`.
template <typename NextSize>
Outcome Run(std::string_view input, NextSize next_size) {
    mega::HttpRequestParser parser(kLimits);
    Outcome outcome;
    const size_t kMaxBuffered = 3 * kLimits.max_header_bytes + kLimits.max_body_bytes + 64;
    while (!input.empty() && parser.error_status() == 0) {
        std::string_view chunk = input.substr(0, next_size());
        input.remove_prefix(chunk.size());
        while (!chunk.empty() && parser.error_status() == 0) {
            const size_t used = parser.Feed(chunk);
            Require(used <= chunk.size(), "Feed consumed more than it was given");
            chunk.remove_prefix(used);
            Require(parser.buffered_bytes() <= kMaxBuffered, "the parser holds too much");
            parser.TakeContinueRequest();
            if (parser.has_request()) {
                mega::HttpRequest request = parser.TakeRequest();
                CheckRequest(request);
                outcome.requests.push_back(Flatten(request));
                Require(parser.Feed(std::string_view()) == 0, "Feed of nothing consumed bytes");
            } else if (parser.error_status() == 0) {
                Require(chunk.empty(), "Feed stopped without a request or an error");
            }
        }
    }
    outcome.error_status = parser.error_status();
    const int e = outcome.error_status;
    Require(e == 0 || e == 400 || e == 413 || e == 431, "an unexpected error status");
    Require((e == 0) == parser.error_message().empty(), "an error without a message");
    return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t a = data[0] % 64 + 1, b = data[1] % 7 + 1;
    const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
    const Outcome whole = Run(input, [&] { return input.size(); });
    const Outcome bytes = Run(input, [] { return size_t{1}; });
    bool flip = false;
    const Outcome alternating = Run(input, [&] { return (flip = !flip) ? a : b; });
    size_t grow = 0;
    const Outcome growing = Run(input, [&] { return grow = grow % 97 + a; });
    for (const Outcome* other : {&bytes, &alternating, &growing}) {
        Require(other->requests == whole.requests, "the requests depend on the chunking");
        // Which error can differ (http_parser reports a bad byte in a header name only at the
        // end of the name, but hands a split name over piece by piece, which may reach a
        // limit first); whether there is one cannot.
        Require((other->error_status == 0) == (whole.error_status == 0),
                "an error depends on the chunking");
    }
    return 0;
}
