// JsonCheck: is a frame body one JSON value (or empty)? The push path asks this once per
// message, so it is a SAX pass with no DOM and no allocation (the scratch buffer is reused).
#pragma once

#include <string>
#include <string_view>

namespace mega::protocol {

// The deepest nesting of arrays and objects accepted in JSON from outside (frames, HTTP
// bodies, WeChat's replies). RapidJSON's parser and writer recurse once per level, so deeper
// input is refused before it can exhaust the stack. WeChat's own bodies nest 3 to 6 deep.
constexpr int kMaxJsonDepth = 64;

// True when `body` is empty or exactly one JSON value with optional white space around it,
// nested at most kMaxJsonDepth deep, whose strings decode to valid UTF-8 (a lone surrogate
// escape such as "\udc00" does not). `scratch` is working space, kept by the caller.
bool IsJsonText(std::string_view body, std::string* scratch);

// True when no array or object in `text` nests deeper than `max_depth`: a byte scan that
// skips strings and validates nothing else. Call it before a DOM parse of outside input.
bool JsonDepthWithin(std::string_view text, int max_depth = kMaxJsonDepth);

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF). ASCII goes 8 bytes per step.
bool IsValidUtf8(std::string_view s);

}  // namespace mega::protocol
