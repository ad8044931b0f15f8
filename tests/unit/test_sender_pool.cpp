// Unit tests for the delivery engine (server/SenderPool) against an in-test WeChat stub: a
// keep-alive HTTP/1.1 server on 127.0.0.1 (one poll() thread) whose answers each test
// chooses. Covers delivery, error classes, token retry, timeouts, Stop and late Submit.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "delivery/SenderPool.h"
#include "delivery/WechatTemplateChannel.h"

using namespace mega;

namespace {

const mega::WechatTemplateChannel kChannel;

using Clock = std::chrono::steady_clock;

// A WeChat API stand-in: parses requests (Content-Length bodies, keep-alive) and answers
// with what the handler returns, after `delay_ms`, or never when `hold` is set.
class WechatStub {
  public:
    struct Request {
        std::string method, target, body;
    };
    struct Reply {
        int status = 200;
        std::string body;
        int delay_ms = 0;
        bool hold = false;
    };
    using Handler = std::function<Reply(const Request&)>;

    explicit WechatStub(Handler handler) : handler_(std::move(handler)) {
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        REQUIRE(listen_fd_ >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(listen(listen_fd_, 512) == 0);
        socklen_t len = sizeof addr;
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { Serve(); });
    }
    ~WechatStub() {
        stop_ = true;
        thread_.join();
        for (auto& c : conns_) close(c.fd);
        close(listen_fd_);
    }

    std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int requests() const { return requests_.load(); }

  private:
    struct Conn {
        int fd;
        std::string in;
    };
    struct Pending {
        Clock::time_point due;
        int fd;
        std::string bytes;
    };

    void Serve() {
        while (!stop_) {
            std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
            for (auto& c : conns_) fds.push_back({c.fd, POLLIN, 0});
            poll(fds.data(), fds.size(), 5);
            if (fds[0].revents & POLLIN) {
                for (int fd; (fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
                    conns_.push_back({fd, {}});
                }
            }
            for (size_t i = 1; i < fds.size(); ++i) {
                if (fds[i].revents == 0) continue;
                Conn& c = conns_[i - 1];
                char buf[16384];
                const ssize_t n = read(c.fd, buf, sizeof buf);
                if (n <= 0) {
                    close(c.fd);
                    c.fd = -1;
                    continue;
                }
                c.in.append(buf, size_t(n));
                Parse(&c);
            }
            std::erase_if(conns_, [](const Conn& c) { return c.fd < 0; });
            const auto now = Clock::now();
            std::erase_if(pending_, [&](const Pending& p) {
                if (p.due > now) return false;
                (void)!send(p.fd, p.bytes.data(), p.bytes.size(), MSG_NOSIGNAL);
                return true;
            });
        }
    }

    void Parse(Conn* c) {
        for (;;) {
            const size_t end = c->in.find("\r\n\r\n");
            if (end == std::string::npos) return;
            const std::string head = c->in.substr(0, end);
            size_t length = 0;
            const size_t cl = head.find("Content-Length: ");
            if (cl != std::string::npos) length = std::stoul(head.substr(cl + 16));
            if (c->in.size() < end + 4 + length) return;
            Request req;
            const size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
            req.method = head.substr(0, sp1);
            req.target = head.substr(sp1 + 1, sp2 - sp1 - 1);
            req.body = c->in.substr(end + 4, length);
            c->in.erase(0, end + 4 + length);
            ++requests_;
            const Reply r = handler_(req);
            if (r.hold) continue;
            const std::string bytes = "HTTP/1.1 " + std::to_string(r.status) +
                                      " X\r\nContent-Type: application/json\r\nContent-Length: " +
                                      std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
            pending_.push_back(
                {Clock::now() + std::chrono::milliseconds(r.delay_ms), c->fd, bytes});
        }
    }

    Handler handler_;
    int listen_fd_ = -1, port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> requests_{0};
    std::vector<Conn> conns_;
    std::vector<Pending> pending_;
    std::thread thread_;
};

std::string QueryToken(const std::string& target) {
    const size_t at = target.find("access_token=");
    return at == std::string::npos ? "" : target.substr(at + 13);
}

// A stub handler: token endpoint handing out TOK1, TOK2, ...; send endpoint answering by the
// recipient's openid (see below) and counting what it saw.
struct Account {
    std::mutex mu;
    int tokens_issued = 0;
    int posts = 0;
    std::set<std::string> bad_tokens;  // answered 40001
    bool reject_all_tokens = false;    // every send answered 42001
    std::string token_reply;           // overrides the token endpoint's answer
    std::vector<std::string> bodies;
    uint64_t next_msgid = 1000;

    WechatStub::Reply operator()(const WechatStub::Request& req) {
        std::lock_guard lock(mu);
        if (req.target.rfind("/cgi-bin/token?", 0) == 0) {
            if (!token_reply.empty()) return {200, token_reply};
            ++tokens_issued;
            return {200, R"({"access_token":"TOK)" + std::to_string(tokens_issued) +
                             R"(","expires_in":7200})"};
        }
        if (req.method != "POST" ||
            req.target.rfind("/cgi-bin/message/template/send?access_token=", 0) != 0) {
            return {404, "not found"};
        }
        ++posts;
        bodies.push_back(req.body);
        const std::string token = QueryToken(req.target);
        if (reject_all_tokens) return {200, R"({"errcode":42001,"errmsg":"access_token expired"})"};
        if (bad_tokens.count(token))
            return {200, R"({"errcode":40001,"errmsg":"invalid credential"})"};
        rapidjson::Document d;
        d.Parse(req.body.c_str());
        if (d.HasParseError() || !d.IsObject() || !d.HasMember("touser")) {
            return {200, R"({"errcode":47001,"errmsg":"data format error"})"};
        }
        const std::string to = d["touser"].GetString();
        if (to == "unsub") return {200, R"({"errcode":43004,"errmsg":"require subscribe rid: 1"})"};
        if (to == "busy") return {200, R"({"errcode":-1,"errmsg":"system error"})"};
        if (to == "quota")
            return {200, R"({"errcode":45009,"errmsg":"reach max api daily quota"})"};
        if (to == "http502") return {502, "<html>Bad Gateway</html>"};
        if (to == "hold") return {200, "", 0, true};
        if (to == "slow") return {200, R"({"errcode":0,"errmsg":"ok","msgid":7})", 300};
        return {200, R"({"errcode":0,"errmsg":"ok","msgid":)" + std::to_string(next_msgid++) + "}"};
    }
};

// A libuv loop for the pool's results, closed (checked empty) at the end of the test.
class TestLoop {
  public:
    TestLoop() { uv_loop_init(&loop_); }
    ~TestLoop() {
        uv_run(&loop_, UV_RUN_NOWAIT);  // completes the pool's uv_close
        CHECK(uv_loop_close(&loop_) == 0);
    }
    uv_loop_t* get() { return &loop_; }
    bool RunUntil(const std::function<bool()>& done, int timeout_ms = 10000) {
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        while (!done()) {
            if (Clock::now() > deadline) return false;
            uv_run(&loop_, UV_RUN_NOWAIT);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return true;
    }

  private:
    uv_loop_t loop_;
};

// Messages whose views stay valid for the test, and the results that came back.
struct Batch {
    std::vector<std::string> openids, datas, msgkeys;
    std::map<uint64_t, DeliveryResult> results;  // by tag
    int callbacks = 0;

    void Add(size_t n, const std::string& openid, const std::string& data = "{}") {
        for (size_t i = 0; i < n; ++i) {
            openids.push_back(openid);
            datas.push_back(data);
            msgkeys.push_back("mk-" + std::to_string(openids.size()));
        }
    }
    std::vector<DeliveryJob> Jobs(const std::shared_ptr<const Template>& tmpl, size_t from = 0,
                                  size_t to = SIZE_MAX) const {
        std::vector<DeliveryJob> jobs;
        for (size_t i = from; i < std::min(to, openids.size()); ++i) {
            DeliveryJob j;
            j.id = 100 + i;
            j.tag = i;
            j.tmpl = tmpl;
            j.openid = openids[i];
            j.data = datas[i];
            j.msgkey = msgkeys[i];
            jobs.push_back(std::move(j));
        }
        return jobs;
    }
    SenderPool::ResultsCallback Callback() {
        return [this](std::vector<DeliveryResult>& rs) {
            ++callbacks;
            for (auto& r : rs) {
                CHECK(results.count(r.tag) == 0);
                results[r.tag] = std::move(r);
            }
        };
    }
};

std::shared_ptr<const Template> TestTemplate() {
    std::shared_ptr<const Template> t;
    REQUIRE(Template::Parse("order_paid",
                            R"({"touser":"${OPENID}","template_id":"T1",)"
                            R"("data":{"product":{"value":"${product}"}}})",
                            &t)
                .ok());
    return t;
}

Config TestConfig(const std::string& base, int threads, int inflight) {
    Config c;
    c.api_base = {base};
    c.stable_token = false;  // the stub serves the classic endpoint
    c.app_id = "wxAPPID";
    c.app_secret = "SECRET";
    c.task_worker_num = threads;
    c.max_inflight = inflight;
    c.http_timeout_ms = 5000;
    return c;
}

}  // namespace

TEST_CASE("SenderPool: delivers in batches over kept-alive connections") {
    Account account;
    WechatStub stub(std::ref(account));
    const Config config = TestConfig(stub.base(), 2, 4);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(100, "oUser", R"({"product":"tea \"green\""})");
    auto tmpl = TestTemplate();
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        CHECK(pool.capacity() == 8);
        for (auto [from, to] : {std::pair{0, 1}, {1, 40}, {40, 100}}) {
            auto jobs = b.Jobs(tmpl, from, to);
            pool.Submit(&jobs);
            CHECK(jobs.empty());
        }
        CHECK(pool.inflight() > 0);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 100; }));
        CHECK(pool.inflight() == 0);
        pool.Stop(1000);
    }
    CHECK(b.callbacks < 100);  // results came in batches
    std::set<uint64_t> msgids;
    for (auto& [tag, r] : b.results) {
        CHECK(r.outcome == Outcome::kSent);
        CHECK(r.id == 100 + tag);
        CHECK(r.transport_ok);
        CHECK(r.http_status == 200);
        CHECK(r.errcode == 0);
        CHECK(r.reply.find("\"msgid\"") != std::string::npos);
        CHECK(r.reply.find("TOK") == std::string::npos);
        msgids.insert(r.msgid);
    }
    CHECK(msgids.size() == 100);
    CHECK(*msgids.begin() >= 1000);
    std::lock_guard lock(account.mu);
    CHECK(account.tokens_issued == 1);
    CHECK(account.posts == 100);
    rapidjson::Document d;
    d.Parse(account.bodies.front().c_str());
    REQUIRE(d.IsObject());
    CHECK(std::string(d["touser"].GetString()) == "oUser");
    CHECK(std::string(d["client_msg_id"].GetString()).rfind("mk-", 0) == 0);
    CHECK(std::string(d["data"]["product"]["value"].GetString()) == "tea \"green\"");
}

TEST_CASE("SenderPool: classifies WeChat errors, HTTP errors and render failures") {
    Account account;
    WechatStub stub(std::ref(account));
    const Config config = TestConfig(stub.base(), 1, 8);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(1, "unsub");
    b.Add(1, "busy");
    b.Add(1, "quota");
    b.Add(1, "http502");
    b.Add(1, "oUser", "[1]");  // not an object: no HTTP call
    b.Add(1, "oUser");
    auto jobs = b.Jobs(TestTemplate());
    DeliveryJob no_template;
    no_template.id = 9;
    no_template.tag = 6;
    jobs.push_back(no_template);
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        pool.Submit(&jobs);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 7; }));
    }
    CHECK(b.results[0].outcome == Outcome::kPermanent);
    CHECK(b.results[0].errcode == 43004);
    CHECK(b.results[0].reply == R"({"errcode":43004,"errmsg":"require subscribe rid: 1"})");
    CHECK(b.results[1].outcome == Outcome::kTransient);
    CHECK(b.results[1].errcode == -1);
    CHECK(b.results[2].outcome == Outcome::kQuota);
    CHECK(b.results[3].outcome == Outcome::kTransient);
    CHECK(b.results[3].http_status == 502);
    CHECK(b.results[3].errcode == kErrcodeBadReply);
    CHECK(b.results[3].reply == R"({"errcode":-3,"errmsg":"HTTP 502, not a WeChat reply"})");
    CHECK(b.results[4].outcome == Outcome::kPermanent);
    CHECK(b.results[4].errcode == 47001);
    CHECK(b.results[4].reply.find("not a JSON object") != std::string::npos);
    CHECK(b.results[5].outcome == Outcome::kSent);
    CHECK(b.results[6].outcome == Outcome::kPermanent);
    for (auto& [tag, r] : b.results) {  // every reply is a JSON object
        rapidjson::Document d;
        d.Parse(r.reply.c_str());
        CHECK_MESSAGE((!d.HasParseError() && d.IsObject()), r.reply);
    }
    std::lock_guard lock(account.mu);
    CHECK(account.posts == 5);
}

TEST_CASE("SenderPool: a rejected token is refreshed once and the send retried") {
    Account account;
    account.bad_tokens = {"TOK1"};
    WechatStub stub(std::ref(account));
    const Config config = TestConfig(stub.base(), 1, 4);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(10, "oUser");
    auto jobs = b.Jobs(TestTemplate());
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        pool.Submit(&jobs);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 10; }));
    }
    for (auto& [tag, r] : b.results) CHECK(r.outcome == Outcome::kSent);
    CHECK(tokens.refreshes() == 2);
    std::lock_guard lock(account.mu);
    CHECK(account.tokens_issued == 2);
}

TEST_CASE("SenderPool: a second token failure is returned as kToken") {
    Account account;
    account.reject_all_tokens = true;
    WechatStub stub(std::ref(account));
    const Config config = TestConfig(stub.base(), 1, 1);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(1, "oUser");
    auto jobs = b.Jobs(TestTemplate());
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        pool.Submit(&jobs);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 1; }));
    }
    CHECK(b.results[0].outcome == Outcome::kToken);
    CHECK(b.results[0].errcode == 42001);
    std::lock_guard lock(account.mu);
    CHECK(account.posts == 2);
    CHECK(account.tokens_issued == 2);
}

TEST_CASE("SenderPool: no token means transient, without a send") {
    Account account;
    account.token_reply = R"({"errcode":40013,"errmsg":"invalid appid"})";
    WechatStub stub(std::ref(account));
    const Config config = TestConfig(stub.base(), 1, 2);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(3, "oUser");
    auto jobs = b.Jobs(TestTemplate());
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        pool.Submit(&jobs);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 3; }));
    }
    for (auto& [tag, r] : b.results) {
        CHECK(r.outcome == Outcome::kTransient);
        CHECK(r.errcode == kErrcodeNoToken);
        CHECK(r.reply.find("40013") != std::string::npos);
        CHECK(r.reply.find("SECRET") == std::string::npos);
    }
    std::lock_guard lock(account.mu);
    CHECK(account.posts == 0);
}

TEST_CASE("SenderPool: a timeout is a transient transport failure") {
    Account account;
    WechatStub stub(std::ref(account));
    Config config = TestConfig(stub.base(), 1, 2);
    config.http_timeout_ms = 300;
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(1, "hold");
    b.Add(1, "oUser");
    auto jobs = b.Jobs(TestTemplate());
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        pool.Submit(&jobs);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 2; }));
    }
    CHECK(b.results[0].outcome == Outcome::kTransient);
    CHECK_FALSE(b.results[0].transport_ok);
    CHECK(b.results[0].errcode == kErrcodeTransport);
    CHECK(b.results[0].reply == R"({"errcode":-2,"errmsg":"timeout"})");
    CHECK(b.results[0].latency_us >= 250000);
    CHECK(b.results[1].outcome == Outcome::kSent);
}

TEST_CASE("SenderPool: an unreachable server is a transient transport failure") {
    int dead_port = 0;
    {
        Account account;
        WechatStub gone(std::ref(account));
        dead_port = std::stoi(gone.base().substr(gone.base().rfind(':') + 1));
    }
    const Config config = TestConfig("http://127.0.0.1:" + std::to_string(dead_port), 1, 1);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(1, "oUser");
    auto jobs = b.Jobs(TestTemplate());
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        pool.Submit(&jobs);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 1; }));
    }
    CHECK(b.results[0].outcome == Outcome::kTransient);
    CHECK_FALSE(b.results[0].transport_ok);
}

TEST_CASE("SenderPool: with the first api_base refusing connections, sends go to the second") {
    Account account;
    WechatStub live(std::ref(account));
    int dead_port = 0;
    {
        WechatStub gone(std::ref(account));
        dead_port = std::stoi(gone.base().substr(gone.base().rfind(':') + 1));
    }
    Config config = TestConfig("http://127.0.0.1:" + std::to_string(dead_port), 1, 2);
    config.api_base.push_back(live.base());
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(3, "oUser");
    auto jobs = b.Jobs(TestTemplate());
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        pool.Submit(&jobs);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 3; }));
    }
    for (const auto& [id, r] : b.results) {
        CHECK(r.outcome == Outcome::kSent);
        CHECK(r.base_index == 1);
    }
    CHECK(tokens.bases().switches() >= 1);
}

TEST_CASE("SenderPool: Stop waits for transfers that finish in time") {
    Account account;
    WechatStub stub(std::ref(account));
    const Config config = TestConfig(stub.base(), 2, 4);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(6, "slow");
    auto jobs = b.Jobs(TestTemplate());
    SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
    pool.Submit(&jobs);
    REQUIRE(loop.RunUntil([&] { return stub.requests() >= 7; }));  // 1 token + 6 sends
    pool.Stop(3000);  // results handed over synchronously
    CHECK(b.results.size() == 6);
    for (auto& [tag, r] : b.results) CHECK(r.outcome == Outcome::kSent);
    CHECK(pool.inflight() == 0);
}

TEST_CASE("SenderPool: Stop aborts what is still running at the deadline") {
    Account account;
    WechatStub stub(std::ref(account));
    const Config config = TestConfig(stub.base(), 1, 2);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(4, "hold");  // 2 run, 2 wait for a slot
    auto jobs = b.Jobs(TestTemplate());
    SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
    pool.Submit(&jobs);
    REQUIRE(loop.RunUntil([&] { return stub.requests() >= 3; }));
    const auto start = Clock::now();
    pool.Stop(200);
    CHECK(Clock::now() - start < std::chrono::milliseconds(1500));
    REQUIRE(b.results.size() == 4);
    int aborted = 0, unsent = 0;
    for (auto& [tag, r] : b.results) {
        CHECK(r.outcome == Outcome::kTransient);
        if (r.errcode == kErrcodeTransport) {
            CHECK(r.reply == R"({"errcode":-2,"errmsg":"aborted: server stopping"})");
            ++aborted;
        } else {
            CHECK(r.errcode == kErrcodeNotSent);
            CHECK(r.reply == R"({"errcode":-5,"errmsg":"not sent: server stopping"})");
            ++unsent;
        }
    }
    CHECK(aborted == 2);  // were running
    CHECK(unsent == 2);   // waited for a slot
    CHECK(pool.inflight() == 0);

    // After Stop: jobs come straight back, unsent.
    Batch late;
    late.Add(2, "oUser");
    auto more = late.Jobs(TestTemplate());
    b.results.clear();
    pool.Submit(&more);
    CHECK(more.empty());
    CHECK(b.results.size() == 2);
    for (auto& [tag, r] : b.results) {
        CHECK(r.outcome == Outcome::kTransient);
        CHECK(r.errcode == kErrcodeNotSent);
    }
}

TEST_CASE("SenderPool: no descriptor left at start: a status, not an exception, and jobs back") {
    const Config config = TestConfig("http://127.0.0.1:9", 2, 2);
    TokenCache tokens(config);
    TestLoop loop;
    Batch b;
    b.Add(3, "oUser");
    auto jobs = b.Jobs(TestTemplate());
    // The lowest free descriptor becomes the limit: the pool's epoll/eventfd/curl cannot open.
    const int lowest_free = ::dup(0);
    REQUIRE(lowest_free >= 0);
    ::close(lowest_free);
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit tight = saved;
    tight.rlim_cur = rlim_t(lowest_free);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
    {
        SenderPool pool(loop.get(), config, &tokens, &kChannel, b.Callback());
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
        CHECK_FALSE(pool.status().ok());
        CHECK(pool.status().message().find("failed") != std::string::npos);
        CHECK(pool.capacity() == 0);
        pool.Submit(&jobs);  // handed back at once, not sent
        CHECK(b.results.size() == 3);
        for (auto& [tag, r] : b.results) CHECK(r.errcode == kErrcodeNotSent);
        pool.Stop(0);
    }
    ::setrlimit(RLIMIT_NOFILE, &saved);
}

TEST_CASE("SenderPool: each job goes through its own account's token and URL") {
    Account first, second;
    WechatStub stub1(std::ref(first)), stub2(std::ref(second));
    const Config config1 = TestConfig(stub1.base(), 2, 4);
    Config config2 = TestConfig(stub2.base(), 2, 4);
    config2.app_id = "wxSECOND";
    TokenCache tokens1(config1), tokens2(config2);
    TestLoop loop;
    Batch b;
    b.Add(40, "oUser");
    auto tmpl = TestTemplate();
    {
        SenderPool pool(loop.get(), config1, &tokens1, &kChannel, b.Callback());
        auto jobs = b.Jobs(tmpl);
        for (size_t i = 0; i < jobs.size(); i += 2) jobs[i].tokens = &tokens2;  // every other
        pool.Submit(&jobs);
        REQUIRE(loop.RunUntil([&] { return b.results.size() == 40; }));
        pool.Stop(1000);
    }
    for (auto& [tag, r] : b.results) CHECK(r.outcome == Outcome::kSent);
    std::lock_guard lock1(first.mu), lock2(second.mu);
    CHECK(first.posts == 20);
    CHECK(second.posts == 20);
    CHECK(first.tokens_issued == 1);  // one token each, fetched from its own account
    CHECK(second.tokens_issued == 1);
}

TEST_CASE("PlanSenderThreads: one thread per core, the same concurrency in all") {
    mega::Config c;  // task_worker_num 8 × max_inflight 256
    mega::SenderLayout l = mega::PlanSenderThreads(c, 2);
    CHECK(l.threads == 2);
    CHECK(l.slots_per_thread == 1024);
    l = mega::PlanSenderThreads(c, 64);  // never more threads than task_worker_num
    CHECK(l.threads == 8);
    CHECK(l.slots_per_thread == 256);
    l = mega::PlanSenderThreads(c, 0);  // hardware_concurrency unknown
    CHECK(l.threads == 1);
    CHECK(l.slots_per_thread == 2048);
    c.task_worker_num = 3, c.max_inflight = 5, c.sender_threads = 2;  // 15 over 2: rounded up
    l = mega::PlanSenderThreads(c, 16);
    CHECK(l.threads == 2);
    CHECK(l.slots_per_thread == 8);
}
