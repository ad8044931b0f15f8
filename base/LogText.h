// LogText: text from outside (openids, keys, WeChat's error messages) made safe to put in a
// log line. Control characters, backslashes and bytes that are not UTF-8 are written as
// escapes, so no input can end a log line early, forge another one or hide in a terminal.
#pragma once

#include <string>
#include <string_view>

namespace mega {

// `text` with \n, \r, \t as such, other control bytes, DEL and invalid UTF-8 as \xNN, and
// a backslash doubled. Valid UTF-8 (Chinese text included) is kept as it is.
std::string LogText(std::string_view text);

}  // namespace mega
