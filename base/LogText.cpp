// LogText: one pass over the bytes; a well-formed UTF-8 sequence is copied whole, anything
// else that could disturb a log line or a terminal becomes an escape.
#include "base/LogText.h"

#include "base/Utf8.h"

namespace mega {
namespace {

void AppendEscape(std::string* out, unsigned char c) {
    static constexpr char kHex[] = "0123456789abcdef";
    switch (c) {
        case '\n':
            out->append("\\n");
            return;
        case '\r':
            out->append("\\r");
            return;
        case '\t':
            out->append("\\t");
            return;
        case '\\':
            out->append("\\\\");
            return;
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
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out.push_back(char(c));
            i++;
        } else if (const size_t n = c >= 0x80 ? Utf8SequenceLength(bytes, i, text.size()) : 0;
                   n > 0) {
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
