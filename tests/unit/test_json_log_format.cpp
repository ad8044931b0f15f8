// base/JsonLogFormat: one JSON object a line, whatever the message holds.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <spdlog/details/log_msg.h>

#include <string>

#include "base/JsonLogFormat.h"

TEST_CASE("JsonLogFormat: one parsable JSON object a line, the message escaped") {
    mega::JsonLogFormat f;
    const std::string text = "a \"quoted\" \\ line\nwith\tcontrol \x01 and 订单";
    spdlog::details::log_msg msg("mega", spdlog::level::warn, text);
    spdlog::memory_buf_t out;
    f.format(msg, out);
    const std::string line(out.data(), out.size());
    REQUIRE(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    rapidjson::Document d;
    d.Parse(line.c_str(), line.size() - 1);
    REQUIRE_FALSE(d.HasParseError());
    CHECK(std::string(d["msg"].GetString()) == text);
    CHECK(std::string(d["level"].GetString()) == "warning");
    CHECK(std::string(d["logger"].GetString()) == "mega");
    const std::string time = d["time"].GetString();
    CHECK(time.size() == 29);  // 2026-12-01T21:56:49.123+08:00
    CHECK(time[10] == 'T');
    CHECK(time[26] == ':');
}
