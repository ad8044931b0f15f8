// protocol::IsJsonText: the check every pushed body goes through (SIMD RapidJSON pass).
#include <doctest/doctest.h>

#include <string>

#include "protocol/JsonCheck.h"

using mega::protocol::IsJsonText;

namespace {
bool Check(std::string_view body) {
    std::string scratch;
    return IsJsonText(body, &scratch);
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
