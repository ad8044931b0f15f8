// Option parsing: strict, so that a typo is a 400 the client sees, never a silent default.
#include "delivery/MessageOptions.h"

#include <charconv>
#include <cstdint>

#include "protocol/JsonCheck.h"

namespace mega {
namespace {

bool ParseInt(std::string_view v, int64_t lo, int64_t hi, int64_t* out) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) return false;
    *out = n;
    return true;
}

// A word of printable text: UTF-8 (so the message log's utf8mb4 columns take it), no
// space, control character, quote or backslash.
bool IsToken(std::string_view v, size_t max) {
    if (v.empty() || v.size() > max || !protocol::IsValidUtf8(v)) return false;
    for (unsigned char c : v)
        if (c <= ' ' || c == 0x7f || c == '"' || c == '\\') return false;
    return true;
}

}  // namespace

Status ParseMessageOptions(std::string_view words, int64_t now_ms, MessageOptions* out) {
    *out = MessageOptions{};
    while (!words.empty()) {
        const size_t sp = words.find(' ');
        std::string_view word = words.substr(0, sp);
        words = sp == std::string_view::npos ? std::string_view{} : words.substr(sp + 1);
        if (word.empty()) continue;
        const size_t eq = word.find('=');
        const std::string_view name = word.substr(0, eq);
        const std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : word.substr(eq + 1);
        auto bad = [&] { return Status::Invalid("bad value for " + std::string(name)); };
        int64_t n;
        if (eq == std::string_view::npos || name.empty()) {
            return Status::Invalid("unknown option " + std::string(word));
        } else if (name == "priority") {
            if (value == "high")
                out->priority = Priority::kHigh;
            else if (value == "normal")
                out->priority = Priority::kNormal;
            else if (value == "low")
                out->priority = Priority::kLow;
            else
                return bad();
        } else if (name == "delay") {
            if (!ParseInt(value, 0, 366ll * 86400, &n)) return bad();
            out->not_before_ms = n ? now_ms + n * 1000 : 0;
        } else if (name == "at") {
            if (!ParseInt(value, 0, 1ll << 40, &n)) return bad();
            out->not_before_ms = n * 1000 > now_ms ? n * 1000 : 0;
        } else if (name == "tries") {
            if (!ParseInt(value, 1, 100, &n)) return bad();
            out->tries = int(n);
        } else if (name == "msgkey") {
            if (!IsToken(value, 128)) return bad();
            out->msgkey = value;
        } else if (name == "task") {
            if (!ParseInt(value, 1, INT64_MAX, &n)) return bad();
            out->task = uint64_t(n);
        } else if (name == "source") {
            if (!IsToken(value, 64)) return bad();
            out->source = value;
        } else if (name == "callback") {
            if (!IsToken(value, 64)) return bad();
            out->callback = value;
        } else {
            return Status::Invalid("unknown option " + std::string(name));
        }
    }
    return Status::Ok();
}

}  // namespace mega
