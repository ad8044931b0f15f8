// Unit tests for what the message log does to a value before MySQL sees it
// (mega::FitUtf8Column): a cut falls between UTF-8 characters (the old errmsg cut at byte
// 500 could split one, and strict MariaDB refused the whole batch), bytes that are not
// UTF-8 become U+FFFD, and the limit counts characters, as a utf8mb4 varchar does.
#include <doctest/doctest.h>

#include <string>

#include "protocol/JsonCheck.h"
#include "store/MessageLog.h"

using mega::FitUtf8Column;

namespace {

size_t Characters(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::string Fit(std::string s, size_t max_chars) {
    FitUtf8Column(&s, max_chars);
    return s;
}

const std::string kReplacement = "\xEF\xBF\xBD";

}  // namespace

TEST_CASE("an errmsg cut never splits a character") {
    // WeChat's reply as errmsg: 499 ASCII bytes, then Chinese (3 bytes each) across byte 500.
    std::string errmsg(499, 'e');
    for (int i = 0; i < 100; i++) errmsg += "\xE4\xB8\xAD";  // 中
    for (size_t limit : {size_t(500), size_t(501), size_t(512)}) {
        const std::string cut = Fit(errmsg, limit);
        CHECK(mega::protocol::IsValidUtf8(cut));
        CHECK(Characters(cut) == limit);
        CHECK(errmsg.compare(0, cut.size(), cut) == 0);  // a prefix: nothing but the tail goes
    }
    // Every byte position of a 4-byte character: the cut is before or after it, whole.
    const std::string emoji =
        "ab\xF0\x9F\x98\x80"
        "cd";  // 😀
    CHECK(Fit(emoji, 2) == "ab");
    CHECK(Fit(emoji, 3) == "ab\xF0\x9F\x98\x80");
    CHECK(Fit(emoji, 100) == emoji);
}

TEST_CASE("values that fit are left as they are") {
    CHECK(Fit("", 10).empty());
    CHECK(Fit("oOpenid-0001", 128) == "oOpenid-0001");
    const std::string chinese = "\xE5\xBC\xA0\xE4\xB8\x89";  // 张三: 6 bytes, 2 characters
    CHECK(Fit(chinese, 2) == chinese);
    CHECK(Fit(chinese, 1) == "\xE5\xBC\xA0");
}

TEST_CASE("bytes that are not UTF-8 become U+FFFD, one each") {
    CHECK(Fit("o\xFF\xFEx", 128) == "o" + kReplacement + kReplacement + "x");
    CHECK(Fit("ab\xE4\xB8", 128) == "ab" + kReplacement + kReplacement);            // cut short
    CHECK(Fit("\xC0\xAF", 128) == kReplacement + kReplacement);                     // overlong '/'
    CHECK(Fit("\xED\xA0\x80", 128) == kReplacement + kReplacement + kReplacement);  // surrogate
    CHECK(Fit("\xF4\x90\x80\x80", 128).size() == 4 * kReplacement.size());          // > U+10FFFF
    CHECK(Fit("\x80z", 128) == kReplacement + "z");  // a lone continuation byte
    // The limit counts the replacements as characters.
    const std::string out = Fit(std::string(200, '\xFF'), 128);
    CHECK(Characters(out) == 128);
    CHECK(mega::protocol::IsValidUtf8(out));
}
