// Utf8: the one definition of a well-formed UTF-8 sequence (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), shared by the push path's check, the message log's
// column fitting and the escaping of log lines.
#pragma once

#include <cstddef>

namespace mega {

// The length (1 to 4) of the well-formed UTF-8 sequence that starts at p[i], or 0 when the
// bytes from p[i] (of n in all) start none.
inline size_t Utf8SequenceLength(const unsigned char* p, size_t i, size_t n) {
    const unsigned char c = p[i];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;  // not overlong
        if (c == 0xED) hi = 0x9F;  // not a surrogate
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;  // not overlong
        if (c == 0xF4) hi = 0x8F;  // not above U+10FFFF
    } else {
        return 0;  // a continuation byte first, C0/C1, or F5..FF
    }
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((p[i + k] & 0xC0) != 0x80) return 0;
    return len;
}

}  // namespace mega
