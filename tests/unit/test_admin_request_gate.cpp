// Tests of AdminRequestGate (admin/): which Host names pass on a loopback and on a wildcard
// address, [admin] allowed_hosts, cross-origin Origins, the Content-Type of POSTs (text/plain
// only for /api/tasks/ID/openids), and the token with the public paths.
#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "admin/AdminRequestGate.h"
#include "config/Config.h"

using mega::AdminRequestGate;
using mega::Config;
using mega::HttpRequest;

namespace {

HttpRequest Request(std::string method, std::string path,
                    std::initializer_list<std::pair<std::string, std::string>> headers,
                    std::string local = "127.0.0.1", int port = 9502) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.headers.assign(headers.begin(), headers.end());
    r.local_address = std::move(local);
    r.local_port = port;
    return r;
}

// The status the gate answers with, 0 when it lets the request through.
int Status(const AdminRequestGate& gate, const HttpRequest& r) {
    auto refusal = gate.Check(r);
    return refusal ? refusal->status : 0;
}

int HostStatus(const AdminRequestGate& gate, const std::string& host,
               const std::string& local = "127.0.0.1") {
    return Status(gate, Request("GET", "/api/stats", {{"host", host}}, local));
}

}  // namespace

TEST_CASE("Host on a loopback address: its own address and the loopback names, its port") {
    AdminRequestGate gate{Config{}};
    for (const char* good : {"127.0.0.1:9502", "localhost:9502", "LOCALHOST:9502", "[::1]:9502"})
        CHECK_MESSAGE(HostStatus(gate, good) == 0, good);
    for (const char* bad : {"evil.example:9502", "evil.example", "127.0.0.1:9503", "127.0.0.1",
                            "localhost.evil.example:9502", "127.0.0.2:9502"})
        CHECK_MESSAGE(HostStatus(gate, bad) == 403, bad);
    for (const char* malformed : {"", "a b:9502", "h:", "h:99999", "[::1", "h:9502/x", "u@h:9502"})
        CHECK_MESSAGE(HostStatus(gate, malformed) == 400, malformed);
    CHECK(HostStatus(gate, "[::1]:9502", "::1") == 0);
    CHECK(HostStatus(gate, "127.0.0.1:9502", "::ffff:127.0.0.1") == 0);
    HttpRequest no_host = Request("GET", "/api/stats", {});
    CHECK(Status(gate, no_host) == 400);  // HTTP/1.1 needs one
    no_host.http_minor = 0;
    CHECK(Status(gate, no_host) == 0);
}

TEST_CASE("Host on another address: that address, or [admin] allowed_hosts") {
    Config config;
    config.admin_token = "t";
    config.admin_allowed_hosts = {"mega.internal", "proxy.example:8443"};
    AdminRequestGate gate{config};
    auto status = [&](const std::string& host) {
        return Status(gate, Request("GET", "/api/stats",
                                    {{"host", host}, {"authorization", "Bearer t"}}, "10.1.2.3"));
    };
    CHECK(status("10.1.2.3:9502") == 0);
    CHECK(status("localhost:9502") == 403);  // not a loopback connection
    CHECK(status("mega.internal") == 0);
    CHECK(status("MEGA.internal:1234") == 0);
    CHECK(status("proxy.example:8443") == 0);
    CHECK(status("proxy.example:9502") == 403);
    CHECK(status("other.internal:9502") == 403);
}

TEST_CASE("Origin: this server only, with or without a token") {
    for (const char* token : {"", "t"}) {
        Config config;
        config.admin_token = token;
        AdminRequestGate gate{config};
        auto status = [&](const std::string& origin) {
            return Status(gate, Request("POST", "/api/account/pause",
                                        {{"host", "127.0.0.1:9502"},
                                         {"origin", origin},
                                         {"content-type", "application/json"},
                                         {"authorization", "Bearer t"}}));
        };
        CHECK(status("http://127.0.0.1:9502") == 0);
        CHECK(status("https://127.0.0.1:9502") == 0);
        for (const char* bad : {"http://evil.example", "http://127.0.0.1:9503", "null",
                                "http://localhost:9502", "file://", "http://127.0.0.1"})
            CHECK_MESSAGE(status(bad) == 403, bad);
    }
}

TEST_CASE("POST needs application/json; text/plain only where openids are uploaded") {
    AdminRequestGate gate{Config{}};
    auto status = [&](const std::string& path, const char* type) {
        HttpRequest r = Request("POST", path, {{"host", "127.0.0.1:9502"}});
        if (type != nullptr) r.headers.emplace_back("content-type", type);
        return Status(gate, r);
    };
    CHECK(status("/api/account/pause", "application/json") == 0);
    CHECK(status("/api/account/pause", "Application/JSON; charset=utf-8") == 0);
    for (const char* bad : std::initializer_list<const char*>{
             "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
             "application/jsonx", "", static_cast<const char*>(nullptr)})
        CHECK_MESSAGE(status("/api/account/pause", bad) == 415, (bad ? bad : "none"));
    CHECK(status("/api/tasks/7/openids", "text/plain; charset=utf-8") == 0);
    CHECK(status("/api/tasks/7/openids", "application/json") == 0);
    CHECK(status("/api/tasks/7/openids", "application/x-www-form-urlencoded") == 415);
    CHECK(status("/api/tasks/7/openids", nullptr) == 415);
    CHECK(Status(gate, Request("GET", "/api/stats", {{"host", "127.0.0.1:9502"}})) == 0);
}

TEST_CASE("the token: every path but the dashboard's files and /api/health") {
    Config config;
    config.admin_token = "s3cret";
    AdminRequestGate gate{config};
    auto status = [&](const char* method, const char* path, const char* auth) {
        HttpRequest r = Request(method, path,
                                {{"host", "127.0.0.1:9502"}, {"content-type", "application/json"}});
        if (auth != nullptr) r.headers.emplace_back("authorization", auth);
        return Status(gate, r);
    };
    for (const char* path : {"/", "/index.html", "/assets/app.js", "/api/health"})
        CHECK_MESSAGE(status("GET", path, nullptr) == 0, path);
    CHECK(status("GET", "/api/stats", nullptr) == 401);
    CHECK(status("GET", "/api/stats", "Bearer wrong!") == 401);
    CHECK(status("GET", "/api/stats", "Bearer s3cret") == 0);
    CHECK(status("POST", "/", nullptr) == 401);  // only GET of the files is public
    CHECK(status("POST", "/api/account/pause", "Bearer s3cret") == 0);
    CHECK(Status(gate, Request("GET", "/api/stats", {{"host", "evil:9502"}})) == 403);  // first
}
