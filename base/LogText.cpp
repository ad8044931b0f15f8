// LogText: one pass over the bytes; a well-formed UTF-8 sequence is copied whole, anything
// else that could disturb a log line or a terminal becomes an escape.
#include "base/LogText.h"

namespace mega {
namespace {

// The length of the well-formed UTF-8 sequence at text[i] (lead byte >= 0x80), or 0.
size_t Utf8SequenceAt(std::string_view text, size_t i) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const unsigned char c = byte(0);
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + len > text.size() || byte(1) < lo || byte(1) > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((byte(k) & 0xC0) != 0x80) return 0;
    return len;
}

void AppendEscape(std::string* out, unsigned char c) {
    static constexpr char kHex[] = "0123456789abcdef";
    switch (c) {
        case '\n': out->append("\\n"); return;
        case '\r': out->append("\\r"); return;
        case '\t': out->append("\\t"); return;
        case '\\': out->append("\\\\"); return;
        default: {
            const char e[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
            out->append(e, 4);
        }
    }
}

}  // namespace

std::string LogText(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out.push_back(char(c));
            i++;
        } else if (const size_t n = c >= 0x80 ? Utf8SequenceAt(text, i) : 0; n > 0) {
            out.append(text.substr(i, n));
            i += n;
        } else {
            AppendEscape(&out, c);
            i++;
        }
    }
    return out;
}

}  // namespace mega
