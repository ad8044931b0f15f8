// Tests of HttpRequestParser (http/): requests come out one at a time with the bytes after
// each left for the next Feed (the server's back-pressure relies on it), the limits answer
// 431 and 413, Expect: 100-continue is reported, and the stage follows the stream.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "http/HttpRequestParser.h"

using mega::HttpParserLimits;
using mega::HttpRequest;
using mega::HttpRequestParser;
using Stage = mega::HttpRequestParser::Stage;

namespace {

// Feeds all of `input`, taking requests as they come; returns how many.
int FeedAll(HttpRequestParser& parser, std::string_view input, HttpRequest* last = nullptr) {
    int requests = 0;
    while (!input.empty() && parser.error_status() == 0) {
        input.remove_prefix(parser.Feed(input));
        if (!parser.has_request()) continue;
        HttpRequest r = parser.TakeRequest();
        if (last != nullptr) *last = std::move(r);
        ++requests;
    }
    return requests;
}

}  // namespace

TEST_CASE("pipelined requests come out one per Feed, the rest left unconsumed") {
    const std::string first = "GET /a?x=1&y=%41 HTTP/1.1\r\nHost: h\r\nX-Case: V\r\n\r\n";
    const std::string second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    HttpRequestParser parser;
    const std::string both = first + second;
    const size_t used = parser.Feed(both);
    CHECK(used == first.size());
    REQUIRE(parser.has_request());
    CHECK(parser.Feed(std::string_view(both).substr(used)) == 0);  // take the request first
    HttpRequest a = parser.TakeRequest();
    CHECK(a.method == "GET");
    CHECK(a.path == "/a");
    CHECK(a.query == "x=1&y=%41");
    std::string y;
    CHECK(a.QueryParam("y", &y));
    CHECK(y == "A");
    REQUIRE(a.Header("x-case") != nullptr);
    CHECK(*a.Header("x-case") == "V");
    CHECK(a.keep_alive);
    CHECK(parser.Feed(std::string_view(both).substr(used)) == second.size());
    HttpRequest b = parser.TakeRequest();
    CHECK(b.method == "POST");
    CHECK(b.body == "abc");
    CHECK(parser.stage() == Stage::kBetweenRequests);
}

TEST_CASE("the stage follows the stream, byte by byte") {
    HttpRequestParser parser;
    CHECK(parser.stage() == Stage::kBetweenRequests);
    CHECK(parser.Feed("GE") == 2);
    CHECK(parser.stage() == Stage::kHeaders);
    CHECK(parser.Feed("T / HTTP/1.1\r\nContent-Length: 2\r\n\r\n") > 0);
    CHECK(parser.stage() == Stage::kBody);
    CHECK(parser.Feed("x") == 1);
    CHECK_FALSE(parser.has_request());
    CHECK(parser.Feed("y") == 1);
    CHECK(parser.has_request());
    CHECK(parser.stage() == Stage::kBetweenRequests);
    CHECK(parser.TakeRequest().body == "xy");
}

TEST_CASE("headers over the byte limit or the count limit: 431") {
    HttpParserLimits limits;
    limits.max_header_bytes = 200;
    limits.max_headers = 3;
    {
        HttpRequestParser parser(limits);
        FeedAll(parser, "GET / HTTP/1.1\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n");
        CHECK(parser.error_status() == 431);
    }
    {
        HttpRequestParser parser(limits);
        FeedAll(parser, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
        CHECK(parser.error_status() == 431);
        CHECK(parser.error_message().find("too many") != std::string::npos);
    }
    {
        HttpRequestParser parser(limits);
        CHECK(FeedAll(parser, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n") == 1);
        CHECK(parser.error_status() == 0);
    }
    HttpRequestParser defaults;  // 16 KiB
    FeedAll(defaults, "GET /" + std::string(17 << 10, 'p') + " HTTP/1.1\r\n\r\n");
    CHECK(defaults.error_status() == 431);
}

TEST_CASE("bodies over the limit: 413, announced or chunked") {
    HttpParserLimits limits;
    limits.max_body_bytes = 10;
    HttpRequestParser announced(limits);
    FeedAll(announced, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
    CHECK(announced.error_status() == 413);
    HttpRequestParser chunked(limits);
    FeedAll(chunked,
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n"
            "8\r\n12345678\r\n0\r\n\r\n");
    CHECK(chunked.error_status() == 413);
    HttpRequestParser fits(limits);
    HttpRequest r;
    CHECK(FeedAll(fits,
                  "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n",
                  &r) == 1);
    CHECK(r.body == "1234567890");
}

TEST_CASE("bad requests: 400, and nothing more is consumed") {
    HttpRequestParser parser;
    FeedAll(parser, "\x01\x02 nonsense\r\n\r\n");
    CHECK(parser.error_status() == 400);
    CHECK(parser.Feed("GET / HTTP/1.1\r\n\r\n") == 0);
    HttpRequestParser upgrade;
    FeedAll(upgrade, "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    CHECK(upgrade.error_status() == 400);
}

TEST_CASE("Expect: 100-continue is reported once, when the headers are complete") {
    HttpRequestParser parser;
    parser.Feed("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n");
    CHECK_FALSE(parser.has_request());
    CHECK(parser.TakeContinueRequest());
    CHECK_FALSE(parser.TakeContinueRequest());
    parser.Feed("ok");
    CHECK(parser.has_request());
}

TEST_CASE("HTTP/1.0 and Connection: close end keep-alive") {
    HttpRequestParser parser;
    HttpRequest r;
    FeedAll(parser, "GET / HTTP/1.0\r\n\r\n", &r);
    CHECK_FALSE(r.keep_alive);
    CHECK(r.http_minor == 0);
    HttpRequestParser close;
    FeedAll(close, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &r);
    CHECK_FALSE(r.keep_alive);
}
