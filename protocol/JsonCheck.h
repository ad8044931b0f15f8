// JsonCheck: is a frame body one JSON value (or empty)? The push path asks this once per
// message, so it is a SAX pass with no DOM and no allocation (the scratch buffer is reused).
#pragma once

#include <string>
#include <string_view>

namespace mega::protocol {

// True when `body` is empty or exactly one JSON value with optional white space around it.
// `scratch` is working space, kept by the caller between calls.
bool IsJsonText(std::string_view body, std::string* scratch);

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF). ASCII goes 8 bytes per step.
bool IsValidUtf8(std::string_view s);

}  // namespace mega::protocol
