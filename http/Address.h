// Listen addresses as the config writes them: "host:port", "[v6]:port", "localhost:port".
// Shared by the servers that bind one (the admin API, the submit API).
#pragma once

#include <string>
#include <string_view>

#include "base/Status.h"

namespace mega {

// Splits "host:port" (brackets taken off an IPv6 host; "localhost" becomes 127.0.0.1).
// Invalid when there is no port. `what` names the setting in the error ("[http] listen").
Status SplitHostPort(const std::string& address, std::string_view what, std::string* host,
                     int* port);
// 127.0.0.0/8, ::1 or localhost: reachable only from this machine.
bool IsLoopbackHost(std::string_view host);

}  // namespace mega
