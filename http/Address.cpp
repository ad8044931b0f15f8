// Address parsing for the HTTP listeners: no name lookup, only literals and "localhost".
#include "http/Address.h"

#include <charconv>

namespace mega {

Status SplitHostPort(const std::string& address, std::string_view what, std::string* host,
                     int* port) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos)
        return Status::Invalid(std::string(what) + ": expected host:port, got " + address);
    std::string h = address.substr(0, colon);
    if (h.size() > 2 && h.front() == '[') h = h.substr(1, h.size() - 2);
    const char* first = address.data() + colon + 1;
    const char* last = address.data() + address.size();
    int p = -1;
    auto [end, ec] = std::from_chars(first, last, p);
    if (ec != std::errc() || end != last || p < 0 || p > 65535)
        return Status::Invalid(std::string(what) + ": bad port in " + address);
    *host = h == "localhost" ? "127.0.0.1" : h;
    *port = p;
    return Status::Ok();
}

bool IsLoopbackHost(std::string_view host) {
    return host.starts_with("127.") || host == "::1" || host == "localhost";
}

}  // namespace mega
