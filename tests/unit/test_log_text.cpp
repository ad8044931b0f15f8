// base/LogText: what outside text looks like in a log line. Nothing in it may end the line,
// start a forged one, or reach a terminal as a control sequence.
#include <doctest/doctest.h>

#include <string>

#include "base/LogText.h"

using mega::LogText;

TEST_CASE("LogText: plain text and UTF-8 stay as they are") {
    CHECK(LogText("oABC-123_x") == "oABC-123_x");
    CHECK(LogText("订单 é 😀") == "订单 é 😀");
    CHECK(LogText("") == "");
}

TEST_CASE("LogText: line breaks, controls, backslashes and bad bytes are escaped") {
    CHECK(LogText("a\n[2026-01-01] [info] forged") == "a\\n[2026-01-01] [info] forged");
    CHECK(LogText("\r\t\x1b[31m") == "\\r\\t\\x1b[31m");
    CHECK(LogText("a\\nb") == "a\\\\nb");
    CHECK(LogText(std::string("x\0y", 3)) == "x\\x00y");
    CHECK(LogText("\x7f") == "\\x7f");
    CHECK(LogText("\xff\xfe") == "\\xff\\xfe");
    CHECK(LogText("\xed\xb0\x80") == "\\xed\\xb0\\x80");  // a surrogate, as \udc00 decodes
    CHECK(LogText("\xe4\xb8") == "\\xe4\\xb8");           // a sequence cut short
}
