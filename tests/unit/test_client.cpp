// Tests of client/: MegaClient and the bulk runner against a fake server, a thread on
// 127.0.0.1 that decodes requests with the protocol codec and answers scripted result
// frames (in order, out of order, cut off mid-frame, 500 then close, never).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/UniqueFd.h"
#include "client/Bulk.h"
#include "client/MegaClient.h"
#include "protocol/Frame.h"

namespace {

using mega::Status;
using mega::UniqueFd;
using mega::client::AckedPrefix;
using mega::client::BulkJob;
using mega::client::BulkReport;
using mega::client::ClientOptions;
using mega::client::MegaClient;
using mega::client::Reply;
using mega::protocol::Command;

// A request as the fake server saw it (copied out of the decoder's buffer).
struct Request {
    Command command = Command::kPush;
    std::string openid, key, options, body;
    uint32_t opaque = 0;
};

// The server side of one connection: blocking reads with a 5 s limit, whole writes.
class ServerConn {
  public:
    explicit ServerConn(int fd) : fd_(fd) {}

    // Reads until `count` requests have arrived; fewer if the peer closes or goes quiet.
    std::vector<Request> Read(size_t count) {
        std::vector<Request> got;
        while (got.size() < count) {
            mega::protocol::Frame frame;
            auto r = decoder_.Next(&frame);
            if (r == mega::protocol::FrameDecoder::Result::kError) break;
            if (r == mega::protocol::FrameDecoder::Result::kFrame) {
                got.push_back({frame.command, std::string(frame.openid), std::string(frame.key),
                               std::string(frame.options), std::string(frame.body), frame.opaque});
                continue;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 5000) <= 0) break;
            size_t len = 0;
            char* space = decoder_.Writable(&len);
            ssize_t n = ::recv(fd_, space, len, 0);
            if (n <= 0) break;
            decoder_.Commit(size_t(n));
        }
        return got;
    }

    void Write(const std::string& bytes) {
        size_t done = 0;
        while (done < bytes.size()) {
            ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return;
            done += size_t(n);
        }
    }

    void Reply(uint32_t code, uint32_t opaque, std::string_view message) {
        std::string out;
        mega::protocol::AppendResult(&out, code, opaque, message);
        Write(out);
    }

    // Closes as a server should after an error reply: its end first (the reply goes out
    // before the FIN), then reads what the client still sends until it closes too. A plain
    // close() with unread requests resets the connection, and a reset may discard the reply.
    void LingeringClose() {
        ::shutdown(fd_, SHUT_WR);
        WaitForClose();
    }

    // Waits (up to 5 s) for the client to close its end.
    void WaitForClose() {
        char buf[4096];
        for (;;) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 5000) <= 0) return;
            if (::recv(fd_, buf, sizeof buf, 0) <= 0) return;
        }
    }

  private:
    int fd_;
    mega::protocol::FrameDecoder decoder_;
};

// Listens on 127.0.0.1 (a free port), accepts connections one after another and runs
// `script` on each in its own thread; the connection is closed when the script returns.
class FakeServer {
  public:
    using Script = std::function<void(ServerConn&)>;

    explicit FakeServer(Script script, int connections = 1) : script_(std::move(script)) {
        listen_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(listen_);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listen_.get(), 16) == 0);
        socklen_t len = sizeof addr;
        REQUIRE(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this, connections] {
            for (int i = 0; i < connections; ++i) {
                pollfd p{listen_.get(), POLLIN, 0};
                if (::poll(&p, 1, 5000) <= 0) return;
                UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
                if (!conn) return;
                ServerConn server(conn.get());
                script_(server);
            }
        });
    }
    ~FakeServer() { thread_.join(); }
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  private:
    Script script_;
    UniqueFd listen_;
    uint16_t port_ = 0;
    std::thread thread_;
};

// A scratch directory, removed with what it holds.
class ScratchDir {
  public:
    ScratchDir() {
        path_ = std::filesystem::temp_directory_path() /
                ("mega-client-test-" + std::to_string(long(::getpid())) + "-" +
                 std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
        std::filesystem::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    std::string File(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

std::string ReadText(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Answers every request with 200 until the client closes; `on_request` may change that.
void AnswerAll(ServerConn& conn, const std::function<bool(const Request&)>& on_request) {
    for (;;) {
        auto got = conn.Read(1);
        if (got.empty()) return;
        if (!on_request(got[0])) return;
    }
}

}  // namespace

TEST_CASE("client: blocking push, send and tset") {
    std::vector<Request> seen;
    {
        FakeServer server([&seen](ServerConn& conn) {
            for (int i = 0; i < 3; ++i) {
                auto got = conn.Read(1);
                if (got.empty()) return;
                seen.push_back(got[0]);
                if (got[0].command == Command::kSend)
                    conn.Reply(
                        400, got[0].opaque,
                        R"({"errcode":43004,"errmsg":"require subscribe hint","openid":"o2"})");
                else
                    conn.Reply(200, got[0].opaque, "");
            }
            conn.WaitForClose();
        });
        {
            MegaClient client;
            REQUIRE(client.Connect(server.address()).ok());
            Reply reply;
            Status s =
                client.Push("o1", "order_paid", R"({"first":"hi"})", "priority=high", &reply);
            REQUIRE(s.ok());
            CHECK(reply.code == 200);
            CHECK(reply.message.empty());

            s = client.Send("o2", "order_paid", "", "", &reply);
            REQUIRE(s.ok());
            CHECK(reply.code == 400);
            CHECK(reply.message.find("43004") != std::string::npos);

            s = client.Tset("order_paid", &reply);
            REQUIRE(s.ok());
            CHECK(reply.code == 200);
        }
    }  // the server thread has finished: `seen` is complete
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].command == Command::kPush);
    CHECK(seen[0].openid == "o1");
    CHECK(seen[0].key == "order_paid");
    CHECK(seen[0].options == "priority=high");
    CHECK(seen[0].body == R"({"first":"hi"})");
    CHECK(seen[1].command == Command::kSend);
    CHECK(seen[1].body == "null");  // no data: what PHP clients send
    CHECK(seen[1].options.empty());
    CHECK(seen[2].command == Command::kTset);
    CHECK(seen[2].key == "order_paid");
    CHECK(seen[2].body.empty());
    CHECK(seen[0].opaque != seen[1].opaque);
    CHECK(seen[0].opaque != 0);
}

TEST_CASE("client: pipelined calls, replies out of order matched by opaque") {
    constexpr size_t kCount = 5;
    struct Answer {
        bool called = false;
        Status status;
        Reply reply;
        uint32_t opaque = 0;
    };
    std::vector<Answer> answers(kCount);
    std::vector<size_t> order;
    std::vector<Request> seen;
    {
        FakeServer server([&seen](ServerConn& conn) {
            seen = conn.Read(kCount);  // all of them before any reply: they were pipelined
            for (size_t i = seen.size(); i-- > 0;)
                conn.Reply(i % 2 == 0 ? 200 : 400, seen[i].opaque, "for " + seen[i].openid);
            conn.WaitForClose();
        });
        ClientOptions options;
        options.window = kCount;
        MegaClient client(options);
        REQUIRE(client.Connect(server.address()).ok());

        for (size_t i = 0; i < kCount; ++i) {
            const Command command = i % 2 == 0 ? Command::kPush : Command::kSend;
            Status s = client.Submit(
                command, "o" + std::to_string(i), "k", "{}", "",
                [&answers, &order, i](const Status& status, const Reply& reply) {
                    answers[i].called = true;
                    answers[i].status = status;
                    answers[i].reply = reply;
                    order.push_back(i);
                },
                &answers[i].opaque);
            REQUIRE(s.ok());
        }
        CHECK(client.in_flight() == kCount);
        CHECK_FALSE(client.CanSubmit());
        Status full = client.Submit(Command::kPush, "o9", "k", "{}", "", [](auto&, auto&) {});
        CHECK(full.code() == Status::Code::kFull);

        REQUIRE(client.Drain(5000).ok());
        CHECK(client.in_flight() == 0);
        CHECK(client.stray_replies() == 0);
        client.Close();
    }  // the server thread has finished: `seen` is complete
    REQUIRE(seen.size() == kCount);
    for (size_t i = 0; i < kCount; ++i) {
        CAPTURE(i);
        CHECK(answers[i].called);
        CHECK(answers[i].status.ok());
        CHECK(answers[i].reply.opaque == answers[i].opaque);
        CHECK(answers[i].reply.message == "for o" + std::to_string(i));
        CHECK(answers[i].reply.code == (i % 2 == 0 ? 200u : 400u));
        CHECK(seen[i].openid == "o" + std::to_string(i));
        CHECK(seen[i].opaque == answers[i].opaque);
    }
    CHECK(order == std::vector<size_t>{4, 3, 2, 1, 0});
}

TEST_CASE("client: a server closing mid-frame is a clear error") {
    FakeServer server([](ServerConn& conn) {
        auto got = conn.Read(1);
        if (got.empty()) return;
        std::string reply;
        mega::protocol::AppendResult(&reply, 200, got[0].opaque, "queued");
        conn.Write(reply.substr(0, reply.size() / 2));
    });  // returning closes the connection
    MegaClient client;
    REQUIRE(client.Connect(server.address()).ok());
    Reply reply;
    Status s = client.Push("o1", "k", "null", "", &reply);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == Status::Code::kIoError);
    CHECK(s.message().find("closed the connection in the middle of a reply") != std::string::npos);
    CHECK(reply.code == 0);
    CHECK_FALSE(client.connected());
    Status again = client.Push("o1", "k", "null", "", &reply);
    CHECK_FALSE(again.ok());
    CHECK(again.message() == s.message());
}

TEST_CASE("client: a server closing with requests unanswered fails all of them") {
    FakeServer server([](ServerConn& conn) { conn.Read(3); });
    MegaClient client;
    REQUIRE(client.Connect(server.address()).ok());
    int failed = 0;
    for (int i = 0; i < 3; ++i)
        REQUIRE(client
                    .Submit(Command::kPush, "o" + std::to_string(i), "k", "null", "",
                            [&failed](const Status& status, const Reply& reply) {
                                if (!status.ok() && reply.code == 0) ++failed;
                            })
                    .ok());
    Status s = client.Drain(5000);
    CHECK_FALSE(s.ok());
    CHECK(s.message().find("closed the connection with 3 requests awaiting a reply") !=
          std::string::npos);
    CHECK(failed == 3);
}

TEST_CASE("client: a 500 reply is a reply; the connection it closes fails the rest") {
    SUBCASE("blocking") {
        FakeServer server([](ServerConn& conn) {
            auto got = conn.Read(1);
            if (!got.empty()) conn.Reply(500, got[0].opaque, "database gone");
        });
        MegaClient client;
        REQUIRE(client.Connect(server.address()).ok());
        Reply reply;
        Status s = client.Tset("k", &reply);
        REQUIRE(s.ok());
        CHECK(reply.code == 500);
        CHECK(reply.message == "database gone");
        s = client.Tset("k", &reply);  // the server has closed by now
        CHECK_FALSE(s.ok());
    }
    SUBCASE("pipelined") {
        FakeServer server([](ServerConn& conn) {
            auto got = conn.Read(3);
            if (!got.empty()) conn.Reply(500, got[0].opaque, "boom");
        });
        MegaClient client;
        REQUIRE(client.Connect(server.address()).ok());
        std::vector<uint32_t> codes;
        int errors = 0;
        for (int i = 0; i < 3; ++i)
            REQUIRE(client
                        .Submit(Command::kSend, "o" + std::to_string(i), "k", "null", "",
                                [&](const Status& status, const Reply& reply) {
                                    if (status.ok())
                                        codes.push_back(reply.code);
                                    else
                                        ++errors;
                                })
                        .ok());
        CHECK_FALSE(client.Drain(5000).ok());
        CHECK(codes == std::vector<uint32_t>{500});
        CHECK(errors == 2);
    }
}

TEST_CASE("client: the server refusing a frame (opaque 0) fails the connection") {
    FakeServer server([](ServerConn& conn) {
        conn.Read(1);
        conn.Reply(500, 0, "Unknown command");
    });
    MegaClient client;
    REQUIRE(client.Connect(server.address()).ok());
    Reply reply;
    Status s = client.Push("o1", "k", "null", "", &reply);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("500 Unknown command") != std::string::npos);
}

TEST_CASE("client: timeouts, refused connections, bad input") {
    SUBCASE("no reply within io_timeout_ms") {
        FakeServer server([](ServerConn& conn) { conn.WaitForClose(); });
        ClientOptions options;
        options.io_timeout_ms = 150;
        MegaClient client(options);
        REQUIRE(client.Connect(server.address()).ok());
        Reply reply;
        auto t0 = std::chrono::steady_clock::now();
        Status s = client.Push("o1", "k", "null", "", &reply);
        CHECK(s.code() == Status::Code::kUnavailable);
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
        CHECK(client.in_flight() == 0);
        client.Close();
    }
    SUBCASE("connection refused") {
        std::string address;
        {
            FakeServer server([](ServerConn&) {}, 0);  // a port that was free a moment ago
            address = server.address();
        }
        MegaClient client;
        Status s = client.Connect(address);
        CHECK(s.code() == Status::Code::kUnavailable);
        CHECK(s.message().find("connect " + address) != std::string::npos);
    }
    SUBCASE("header words and addresses are checked before sending") {
        FakeServer server([](ServerConn& conn) { conn.WaitForClose(); });
        MegaClient client;
        REQUIRE(client.Connect(server.address()).ok());
        Reply reply;
        CHECK(client.Push("o 1", "k", "null", "", &reply).code() == Status::Code::kInvalid);
        CHECK(client.Push("o1", "", "null", "", &reply).code() == Status::Code::kInvalid);
        CHECK(client.in_flight() == 0);
        client.Close();
        std::string host;
        uint16_t port = 0;
        CHECK(mega::client::ParseHostPort("[::1]:9501", &host, &port).ok());
        CHECK(host == "::1");
        CHECK(port == 9501);
        CHECK(mega::client::ParseHostPort("0.0.0.0:80", &host, &port).ok());
        CHECK_FALSE(mega::client::ParseHostPort("localhost", &host, &port).ok());
        CHECK_FALSE(mega::client::ParseHostPort("localhost:0", &host, &port).ok());
        CHECK_FALSE(mega::client::ParseHostPort("localhost:65536", &host, &port).ok());
        CHECK_FALSE(mega::client::ParseHostPort("::1:80", &host, &port).ok());
    }
}

TEST_CASE("client: AckedPrefix counts only the contiguous acknowledged prefix") {
    AckedPrefix acks(10);
    for (int i = 0; i < 5; ++i) acks.Add();  // lines 10..14
    acks.Ack(12);
    acks.Ack(11);
    CHECK(acks.prefix() == 10);
    acks.Ack(10);
    CHECK(acks.prefix() == 13);
    acks.Ack(14);
    CHECK(acks.prefix() == 13);
    acks.Ack(9);  // before the prefix: ignored
    acks.Ack(13);
    CHECK(acks.prefix() == 15);
}

TEST_CASE("client: bulk stops at a 500, saves the prefix, and resumes from it") {
    ScratchDir dir;
    const std::string openids = dir.File("openids.txt");
    {
        std::ofstream out(openids);
        out << "# customers\n\n";
        for (int i = 0; i < 20; ++i) out << (i == 10 ? "boom" : "o" + std::to_string(i)) << "\n";
    }
    BulkJob job;
    job.key = "order_paid";
    job.openids_path = openids;
    job.options = "priority=low";
    job.reply_timeout_ms = 5000;

    std::vector<std::string> first_run;
    {
        FakeServer server([&first_run](ServerConn& conn) {
            AnswerAll(conn, [&](const Request& r) {
                first_run.push_back(r.openid);
                if (r.openid == "boom") {
                    conn.Reply(500, r.opaque, "queue full");
                    conn.LingeringClose();
                    return false;  // the original closes after a 500
                }
                conn.Reply(r.openid == "o3" ? 400 : 200, r.opaque,
                           r.openid == "o3" ? "template key not exists" : "");
                return true;
            });
        });
        ClientOptions options;
        options.window = 4;
        MegaClient client(options);
        REQUIRE(client.Connect(server.address()).ok());
        BulkReport report;
        REQUIRE(mega::client::RunBulk(&client, job, &report).ok());
        CHECK(report.outcome == BulkReport::Outcome::kServerError);
        CHECK(report.total == 20);
        CHECK(report.ok == 9);
        CHECK(report.rejected == 1);
        CHECK(report.acknowledged == 10);
        CHECK(report.sent == report.ok + report.rejected + report.errors);
        CHECK(report.error.find("queue full") != std::string::npos);
        REQUIRE(report.first_rejections.size() == 1);
        CHECK(report.first_rejections[0] == "o3: template key not exists");
        CHECK(mega::client::FormatBulkSummary(report).find("1 rejected (400)") !=
              std::string::npos);
    }
    CHECK(ReadText(openids + ".progress") == "10\n");
    REQUIRE(first_run.size() >= 11);
    CHECK(first_run[10] == "boom");

    std::vector<std::string> second_run;
    std::vector<std::string> second_options;
    {
        FakeServer server([&](ServerConn& conn) {
            AnswerAll(conn, [&](const Request& r) {
                second_run.push_back(r.openid);
                second_options.push_back(r.options);
                conn.Reply(200, r.opaque, "");
                return true;
            });
        });
        MegaClient client;
        REQUIRE(client.Connect(server.address()).ok());
        BulkReport report;
        REQUIRE(mega::client::RunBulk(&client, job, &report).ok());
        CHECK(report.outcome == BulkReport::Outcome::kDone);
        CHECK(report.resumed_from == 10);
        CHECK(report.sent == 10);
        CHECK(report.ok == 10);
        CHECK(report.acknowledged == 20);
        client.Close();
    }
    REQUIRE(second_run.size() == 10);
    CHECK(second_run.front() == "boom");  // the line that got the 500 is sent again
    CHECK(second_run.back() == "o19");
    CHECK(second_options.front() == "priority=low");
    CHECK(ReadText(openids + ".progress") == "20\n");

    // Done: a third run sends nothing; --restart sends everything again.
    {
        FakeServer server([](ServerConn& conn) {
            AnswerAll(conn, [&](const Request& r) {
                conn.Reply(200, r.opaque, "");
                return true;
            });
        });
        MegaClient client;
        REQUIRE(client.Connect(server.address()).ok());
        BulkReport report;
        REQUIRE(mega::client::RunBulk(&client, job, &report).ok());
        CHECK(report.sent == 0);
        CHECK(report.outcome == BulkReport::Outcome::kDone);
        job.restart = true;
        REQUIRE(mega::client::RunBulk(&client, job, &report).ok());
        CHECK(report.sent == 20);
        CHECK(report.ok == 20);
        client.Close();
    }
}

TEST_CASE("client: bulk refuses a malformed openid file or progress file") {
    ScratchDir dir;
    const std::string openids = dir.File("openids.txt");
    {
        std::ofstream out(openids);
        out << "o1\no2 o3\n";
    }
    MegaClient client;  // never connected: the files are checked first
    BulkJob job;
    job.key = "k";
    job.openids_path = openids;
    BulkReport report;
    Status s = mega::client::RunBulk(&client, job, &report);
    CHECK(s.code() == Status::Code::kInvalid);
    CHECK(s.message().find(":2:") != std::string::npos);

    {
        std::ofstream out(openids);
        out << "o1\no2\n";
    }
    {
        std::ofstream out(openids + ".progress");
        out << "lots\n";
    }
    s = mega::client::RunBulk(&client, job, &report);
    CHECK(s.code() == Status::Code::kInvalid);
    {
        std::ofstream out(openids + ".progress");
        out << "7\n";
    }
    s = mega::client::RunBulk(&client, job, &report);
    CHECK(s.code() == Status::Code::kInvalid);  // more done than the file holds
    job.progress_out = nullptr;
    job.restart = true;
    s = mega::client::RunBulk(&client, job, &report);  // starts, but cannot send
    CHECK(report.outcome == BulkReport::Outcome::kTransportError);
    CHECK(report.sent == 0);
}
