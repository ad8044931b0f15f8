// AdminClient over libcurl's easy interface: one short-lived request per call, which is
// all a command-line tool needs.
#include "client/AdminClient.h"

#include <curl/curl.h>

#include <memory>

#include "config/StatusFile.h"

namespace mega::client {
namespace {

size_t Collect(char* p, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(p, size * n);
    return size * n;
}

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

Status AdminClient::FromConfig(const Config& config, AdminClient* out) {
    if (config.admin_listen.empty())
        return Status::Unavailable("[admin] listen is empty: the server has no admin API");
    const size_t colon = config.admin_listen.rfind(':');
    std::string host = config.admin_listen.substr(0, colon);
    std::string port = colon == std::string::npos ? "" : config.admin_listen.substr(colon + 1);
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    if (host == "::" || host == "[::]") host = "[::1]";
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
    if (port == "0") {  // a free port chosen at start: the server wrote it down
        ServerStatus status;
        Status s = ServerStatus::Read(config.queue_file_path, &status);
        if (!s.ok()) return s;
        if (status.admin_port <= 0)
            return Status::Unavailable("cannot find the admin port of the running server in " +
                                       config.queue_file_path + "/status");
        port = std::to_string(status.admin_port);
    }
    *out = AdminClient("http://" + host + ":" + port, config.admin_token);
    return Status::Ok();
}

Status AdminClient::Call(const std::string& method, const std::string& path,
                         const std::string& body, long* http_status, std::string* response) const {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) return Status::Unavailable("curl_easy_init failed");
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
    if (!token_.empty())
        list = curl_slist_append(list, ("Authorization: Bearer " + token_).c_str());
    headers.reset(list);
    const std::string url = base_url_ + path;
    response->clear();
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    if (method != "GET") {
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, long(body.size()));
    }
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl.get());
    if (rc != CURLE_OK)
        return Status::Unavailable("admin API at " + base_url_ + ": " + curl_easy_strerror(rc));
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, http_status);
    return Status::Ok();
}

}  // namespace mega::client
