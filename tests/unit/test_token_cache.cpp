// Unit tests for the access_token cache (server/TokenCache) against a tiny HTTP stub on
// 127.0.0.1 (one request per connection): caching, single flight, compare-and-expire,
// refused credentials, network failure, and that the secret never shows in errors or logs;
// and a token shared by several nodes through an in-memory SharedTokens (one fetch, waiting
// for the lock holder's token, a rejected token fetched again, the store unreachable).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/Clock.h"
#include "delivery/TokenCache.h"

using mega::Config;
using mega::Status;
using mega::TokenCache;

namespace {

// Answers each connection's request with the handler's body, then closes it.
class TokenEndpointStub {
  public:
    using Handler = std::function<std::string(const std::string& request_line)>;

    explicit TokenEndpointStub(Handler handler, int delay_ms = 0)
        : handler_(std::move(handler)), delay_ms_(delay_ms) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(listen(fd_, 64) == 0);
        socklen_t len = sizeof addr;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { Serve(); });
    }
    ~TokenEndpointStub() {
        shutdown(fd_, SHUT_RDWR);  // wakes accept()
        thread_.join();
        close(fd_);
    }

    std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int requests() const { return requests_.load(); }
    std::string last_request_line() {
        std::lock_guard lock(mu_);
        return last_line_;
    }

  private:
    void Serve() {
        for (;;) {
            const int c = accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            std::string req;
            char buf[4096];
            while (req.find("\r\n\r\n") == std::string::npos) {
                const ssize_t n = read(c, buf, sizeof buf);
                if (n <= 0) break;
                req.append(buf, size_t(n));
            }
            const std::string line = req.substr(0, req.find("\r\n"));
            {
                std::lock_guard lock(mu_);
                last_line_ = line;
            }
            ++requests_;
            if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
            const std::string body = handler_(line);
            const std::string reply =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Connection: close\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body;
            (void)!write(c, reply.data(), reply.size());
            close(c);
        }
    }

    Handler handler_;
    int delay_ms_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<int> requests_{0};
    std::mutex mu_;
    std::string last_line_;
    std::thread thread_;
};

Config TestConfig(const std::string& base) {
    Config c;
    c.api_base = {base};
    c.stable_token = false;  // most cases test the classic endpoint
    c.app_id = "wxAPPID";
    c.app_secret = "S3cr&t=XYZ";
    c.http_timeout_ms = 2000;
    return c;
}

// Captures spdlog's output for the lifetime of the object.
class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
        spdlog::set_level(spdlog::level::trace);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::string text() const { return out_.str(); }

  private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream out_;
};

}  // namespace

TEST_CASE("TokenCache: fetches once and caches the token") {
    TokenEndpointStub stub(
        [](const std::string&) { return R"({"access_token":"TOK1","expires_in":7200})"; });
    const Config config = TestConfig(stub.base());
    TokenCache cache(config);
    CHECK(cache.generation() == 0);
    std::string token;
    uint64_t gen = 0;
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK1");
    CHECK(gen == 1);
    CHECK(cache.generation() == 1);
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(gen == 1);
    CHECK(stub.requests() == 1);
    CHECK(cache.refreshes() == 1);
    CHECK(stub.last_request_line() ==
          "GET /cgi-bin/token?grant_type=client_credential&appid=wxAPPID"
          "&secret=S3cr%26t%3DXYZ HTTP/1.1");
}

TEST_CASE("TokenCache: concurrent callers share one fetch") {
    TokenEndpointStub stub(
        [](const std::string&) { return R"({"access_token":"TOK1","expires_in":7200})"; }, 300);
    const Config config = TestConfig(stub.base());
    TokenCache cache(config);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&] {
            std::string token;
            uint64_t gen = 0;
            if (cache.Get(&token, &gen).ok() && token == "TOK1" && gen == 1) ++ok;
        });
    }
    for (auto& t : threads) t.join();
    CHECK(ok == 8);
    CHECK(stub.requests() == 1);
}

TEST_CASE("TokenCache: Invalidate expires only the generation it names") {
    std::atomic<int> n{0};
    TokenEndpointStub stub([&](const std::string&) {
        return R"({"access_token":"TOK)" + std::to_string(++n) + R"(","expires_in":7200})";
    });
    const Config config = TestConfig(stub.base());
    TokenCache cache(config);
    std::string token;
    uint64_t gen = 0;
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK1");
    cache.Invalidate(gen);
    cache.Invalidate(gen);  // a burst of failures: still one refresh
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK2");
    CHECK(gen == 2);
    cache.Invalidate(1);  // a late failure of the old token: ignored
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK2");
    CHECK(stub.requests() == 2);
}

TEST_CASE("TokenCache: a short-lived token is refreshed when it expires") {
    std::atomic<int> n{0};
    TokenEndpointStub stub([&](const std::string&) {
        return R"({"access_token":"TOK)" + std::to_string(++n) + R"(","expires_in":1})";
    });
    const Config config = TestConfig(stub.base());
    TokenCache cache(config);
    std::string token;
    uint64_t gen = 0;
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK1");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK2");
    CHECK(gen == 2);
}

TEST_CASE("TokenCache: refused credentials are Invalid, never show the secret, back off") {
    LogCapture log;
    TokenEndpointStub stub([](const std::string&) {
        return R"({"errcode":40125,"errmsg":"invalid appsecret S3cr&t=XYZ rid: 1"})";
    });
    const Config config = TestConfig(stub.base());
    TokenCache cache(config);
    std::string token;
    uint64_t gen = 0;
    const Status s = cache.Get(&token, &gen);
    CHECK(s.code() == Status::Code::kInvalid);
    CHECK(s.message().find("40125") != std::string::npos);
    CHECK(s.message().find("S3cr") == std::string::npos);
    const Status again = cache.Get(&token, &gen);  // within the backoff: no new request
    CHECK(again.code() == Status::Code::kInvalid);
    CHECK(stub.requests() == 1);
    CHECK(cache.generation() == 0);
    CHECK(log.text().find("40125") != std::string::npos);
    CHECK(log.text().find("S3cr") == std::string::npos);
}

TEST_CASE("TokenCache: an unreachable endpoint is Unavailable without the URL") {
    LogCapture log;
    int port = 0;
    {
        TokenEndpointStub closed([](const std::string&) { return std::string(); });
        port = std::stoi(closed.base().substr(closed.base().rfind(':') + 1));
    }  // nothing listens there any more
    const Config config = TestConfig("http://127.0.0.1:" + std::to_string(port));
    TokenCache cache(config);
    std::string token;
    uint64_t gen = 0;
    const Status s = cache.Get(&token, &gen);
    CHECK(s.code() == Status::Code::kUnavailable);
    CHECK(s.message().find("S3cr") == std::string::npos);
    CHECK(s.message().find("secret") == std::string::npos);
    CHECK(log.text().find("S3cr") == std::string::npos);
    CHECK(log.text().find("secret=") == std::string::npos);
}

TEST_CASE("TokenCache: a reply without a token is Unavailable") {
    TokenEndpointStub stub([](const std::string&) { return std::string("<html>busy</html>"); });
    const Config config = TestConfig(stub.base());
    TokenCache cache(config);
    std::string token;
    uint64_t gen = 0;
    CHECK(cache.Get(&token, &gen).code() == Status::Code::kUnavailable);
}

TEST_CASE("TokenCache: token_api = stable posts to /cgi-bin/stable_token") {
    TokenEndpointStub stub(
        [](const std::string&) { return R"({"access_token":"STABLE1","expires_in":7200})"; });
    Config config = TestConfig(stub.base());
    config.stable_token = true;
    TokenCache cache(config);
    std::string token;
    uint64_t gen = 0;
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "STABLE1");
    CHECK(stub.last_request_line() == "POST /cgi-bin/stable_token HTTP/1.1");
}

namespace {

// SharedTokens in memory: what Redis holds for the nodes (queue/RedisTokenStore.h), one
// instance shared by several caches as if they were several nodes.
class MemoryTokens final : public mega::SharedTokens {
  public:
    Status Load(std::string_view, std::string* token, int64_t* until) override {
        std::lock_guard lock(mu_);
        loads++;
        if (down) return Status::Unavailable("down");
        if (others_fetch_after > 0 && --others_fetch_after == 0) Put("OTHER", 3600000);
        if (token_.empty()) return Status::NotFound("none");
        *token = token_;
        *until = until_;
        return Status::Ok();
    }
    Status Lock(std::string_view, int64_t, bool* got) override {
        std::lock_guard lock(mu_);
        if (down) return Status::Unavailable("down");
        *got = !locked && others_fetch_after == 0;
        if (*got) locked = true;
        return Status::Ok();
    }
    Status Store(std::string_view, std::string_view token, int64_t until) override {
        std::lock_guard lock(mu_);
        token_ = token;
        until_ = until;
        locked = false;
        stores++;
        return Status::Ok();
    }
    void Unlock(std::string_view) override {
        std::lock_guard lock(mu_);
        locked = false;
    }
    void Put(std::string token, int64_t valid_ms) {
        token_ = std::move(token);
        until_ = mega::NowMs() + valid_ms;
    }
    std::string token() {
        std::lock_guard lock(mu_);
        return token_;
    }

    std::mutex mu_;
    bool down = false, locked = false;
    int loads = 0, stores = 0;
    int others_fetch_after = 0;  // >0: another node holds the lock and keeps "OTHER" then

  private:
    std::string token_;
    int64_t until_ = 0;
};

}  // namespace

TEST_CASE("TokenCache shared: one node fetches and keeps the token, the next takes it") {
    TokenEndpointStub stub(
        [](const std::string&) { return R"({"access_token":"TOK1","expires_in":7200})"; });
    const Config config = TestConfig(stub.base());
    MemoryTokens shared;
    TokenCache a(config), b(config);
    a.ShareThrough(&shared, "default");
    b.ShareThrough(&shared, "default");
    std::string token;
    uint64_t gen = 0;
    REQUIRE(a.Get(&token, &gen).ok());
    CHECK(token == "TOK1");
    CHECK(shared.token() == "TOK1");
    CHECK_FALSE(shared.locked);  // released with the store
    REQUIRE(b.Get(&token, &gen).ok());
    CHECK(token == "TOK1");
    CHECK(stub.requests() == 1);
}

TEST_CASE("TokenCache shared: while another node holds the lock it waits for its token") {
    TokenEndpointStub stub(
        [](const std::string&) { return R"({"access_token":"MINE","expires_in":7200})"; });
    const Config config = TestConfig(stub.base());
    MemoryTokens shared;
    shared.others_fetch_after = 3;  // the third load finds the other node's token
    TokenCache cache(config);
    cache.ShareThrough(&shared, "default");
    std::string token;
    uint64_t gen = 0;
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "OTHER");
    CHECK(stub.requests() == 0);
}

TEST_CASE("TokenCache shared: a token WeChat rejected is fetched again, not taken back") {
    std::atomic<int> n{0};
    TokenEndpointStub stub([&](const std::string&) {
        return R"({"access_token":"TOK)" + std::to_string(++n) + R"(","expires_in":7200})";
    });
    const Config config = TestConfig(stub.base());
    MemoryTokens shared;
    TokenCache cache(config);
    cache.ShareThrough(&shared, "default");
    std::string token;
    uint64_t gen = 0;
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK1");
    cache.Invalidate(gen);
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK2");
    CHECK(shared.token() == "TOK2");
}

TEST_CASE("TokenCache shared: with the store unreachable the node fetches alone") {
    TokenEndpointStub stub(
        [](const std::string&) { return R"({"access_token":"TOK1","expires_in":7200})"; });
    const Config config = TestConfig(stub.base());
    MemoryTokens shared;
    shared.down = true;
    TokenCache cache(config);
    cache.ShareThrough(&shared, "default");
    std::string token;
    uint64_t gen = 0;
    REQUIRE(cache.Get(&token, &gen).ok());
    CHECK(token == "TOK1");
    CHECK(stub.requests() == 1);
}
