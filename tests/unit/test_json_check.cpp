// protocol::IsJsonText: the check every pushed body goes through (SIMD RapidJSON pass), and
// protocol::IsValidUtf8 (the rendering path's encoding check) against RapidJSON's validator.
#include <doctest/doctest.h>
#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>

#include <string>

#include "protocol/JsonCheck.h"

using mega::protocol::IsJsonText;
using mega::protocol::IsValidUtf8;

namespace {
bool Check(std::string_view body) {
    std::string scratch;
    return IsJsonText(body, &scratch);
}

// The reference: RapidJSON's UTF-8 validator (what rendering used before), over all of `s`.
bool RapidJsonValidUtf8(std::string_view s) {
    struct Sink {
        void Put(char) {}
    } sink;
    rapidjson::MemoryStream in(s.data(), s.size());
    while (in.Tell() < s.size())
        if (!rapidjson::UTF8<>::Validate(in, sink)) return false;
    return true;
}
}  // namespace

TEST_CASE("JsonCheck: accepts one JSON value with white space around it") {
    CHECK(Check(""));
    CHECK(Check("{}"));
    CHECK(Check(" \t\r\n{\"a\":[1,2.5,-3e2,true,false,null]} \n"));
    CHECK(Check("\"text\""));
    CHECK(Check("42"));
    CHECK(Check(R"({"s":"\u00e9\n\"quoted\" and \\ slash","u":"三 é"})"));
    // Long strings go through the 16-byte scan, with every escape position.
    for (size_t pad = 0; pad < 40; pad++) {
        const std::string s =
            "{\"k\":\"" + std::string(pad, 'x') + "\\\"" + std::string(33, 'y') + "\"}";
        CHECK_MESSAGE(Check(s), s);
    }
}

TEST_CASE("JsonCheck: refuses what is not exactly one JSON value") {
    CHECK_FALSE(Check("{"));
    CHECK_FALSE(Check("{} {}"));
    CHECK_FALSE(Check("{}x"));
    CHECK_FALSE(Check("{'a':1}"));
    CHECK_FALSE(Check("{\"a\":1,}"));
    CHECK_FALSE(Check("not json"));
    CHECK_FALSE(Check(" "));
    CHECK_FALSE(Check(std::string_view("{}\0", 3)));               // NUL after the value
    CHECK_FALSE(Check(std::string_view("{\"a\":\"b\0c\"}", 11)));  // NUL inside a string
    CHECK_FALSE(Check("{\"a\":\"bad \\q escape\"}"));
    // Raw control bytes inside strings, at every offset of a 16-byte block and for each of
    // 0x01-0x1F (RapidJSON's SSE2 scan alone misses 0x1A-0x1F).
    for (int c = 1; c < 0x20; c++) {
        for (size_t pad = 0; pad < 20; pad++) {
            std::string s =
                "{\"k\":\"" + std::string(pad, 'x') + char(c) + std::string(20, 'y') + "\"}";
            CHECK_FALSE_MESSAGE(Check(s), "byte ", c, " at ", pad);
        }
    }
}

TEST_CASE("IsValidUtf8 agrees with RapidJSON's validator on every short sequence") {
    // After 0 to 9 ASCII bytes, so that sequences sit at every place in the 8-byte steps.
    auto agree = [](const std::string& seq) {
        for (size_t pad = 0; pad < 10; pad++) {
            const std::string s = std::string(pad, 'a') + seq + std::string(pad % 3, 'b');
            if (IsValidUtf8(s) != RapidJsonValidUtf8(s)) return false;
        }
        return true;
    };
    int bad = 0;
    for (int a = 0; a < 256; a++) {
        bad += !agree(std::string(1, char(a)));
        for (int b = 0; b < 256; b++) bad += !agree({char(a), char(b)});
    }
    const int edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    for (int a = 0xE0; a <= 0xFF; a++)
        for (int b = 0; b < 256; b++)
            for (int c : edges) bad += !agree({char(a), char(b), char(c)});
    for (int a = 0xF0; a <= 0xF7; a++)
        for (int b = 0; b < 256; b++)
            for (int c : edges)
                for (int d : edges) bad += !agree({char(a), char(b), char(c), char(d)});
    CHECK(bad == 0);
    CHECK(IsValidUtf8("订单已支付 \xF0\x9F\x98\x80 plain ascii long enough for words"));
    CHECK(!IsValidUtf8("\xED\xA0\x80"));      // a surrogate
    CHECK(!IsValidUtf8("\xC0\xAF"));          // overlong '/'
    CHECK(!IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    CHECK(!IsValidUtf8("abcdefgh\xE4\xB8"));  // cut short at the end
}

TEST_CASE("JsonCheck: nesting is capped, however deep the input") {
    using mega::protocol::JsonDepthWithin;
    using mega::protocol::kMaxJsonDepth;
    const auto nested = [](int depth) {
        return std::string(size_t(depth), '[') + std::string(size_t(depth), ']');
    };
    CHECK(Check(nested(kMaxJsonDepth)));
    CHECK_FALSE(Check(nested(kMaxJsonDepth + 1)));
    CHECK_FALSE(Check(std::string(1'000'000, '[')));  // crashed the server: stack overflow
    CHECK_FALSE(Check(std::string(500'000, '{') + "\"a\":1"));
    CHECK(JsonDepthWithin(nested(kMaxJsonDepth)));
    CHECK_FALSE(JsonDepthWithin(nested(kMaxJsonDepth + 1)));
    CHECK_FALSE(JsonDepthWithin(std::string(3'000'000, '[')));
    // Brackets inside strings, escaped quotes included, do not count.
    CHECK(JsonDepthWithin("[\"" + std::string(100, '[') + "\\\"" + std::string(100, '{') + "\"]"));
}

TEST_CASE("JsonCheck: a string escape that decodes to a lone surrogate is refused") {
    CHECK_FALSE(Check(R"({"a":"\udc00"})"));
    CHECK_FALSE(Check(R"({"a":"x\udfffy"})"));
    CHECK_FALSE(Check(R"({"\udc00":1})"));
    CHECK_FALSE(Check(R"({"a":"\ud800"})"));         // high without low: RapidJSON refuses too
    CHECK(Check(R"({"a":"\ud83d\ude00 \u00e9"})"));  // a pair, and a BMP character
}
