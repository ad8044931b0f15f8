// A client of the server's admin HTTP API (libcurl, blocking): how mega-cli manages dead
// letters, the account pause and (later) tasks. It finds the API from the server's config
// file: [admin] listen, or, when that port is 0, the port the running server wrote into
// its status file; [admin] token is sent as the bearer token.
#pragma once

#include <string>

#include "base/Status.h"
#include "config/Config.h"

namespace mega::client {

class AdminClient {
  public:
    // Resolves the API's address from `config`. Unavailable if it cannot be found.
    static Status FromConfig(const Config& config, AdminClient* out);
    AdminClient() = default;
    AdminClient(std::string base_url, std::string token)
        : base_url_(std::move(base_url)), token_(std::move(token)) {}

    // One request. *http_status is the HTTP code; transport failures are a Status.
    Status Call(const std::string& method, const std::string& path, const std::string& body,
                long* http_status, std::string* response) const;

  private:
    std::string base_url_;  // http://host:port
    std::string token_;
};

}  // namespace mega::client
