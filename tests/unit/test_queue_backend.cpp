// The contract of the storage seam (queue/QueueBackend.h), written against the interface
// only, so that every backend runs the same cases: append and durability, hand-out by
// priority, record state, done, msgkeys, dead letters and the pause, each across a reopen.
// FileBackend and RedisBackend (on a redis-server started here, on a unix socket) run it.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/Clock.h"
#include "config/Accounts.h"
#include "config/Config.h"
#include "queue/FileBackend.h"
#include "queue/QueueBackend.h"
#include "queue/RedisBackend.h"
#include "tests/unit/TempDir.h"

extern char** environ;

namespace {

using mega::AppendTicket;
using mega::Config;
using mega::DeadLetter;
using mega::Message;
using mega::PauseState;
using mega::Priority;
using mega::QueueBackend;
using mega::RecordState;
using mega::RecordTag;
using mega::Status;

// Counts the backend's wake calls (any thread) and runs the test's loop (a backend on the loop
// does its network work there) so a test can wait for the next one.
class Wakes {
  public:
    explicit Wakes(uv_loop_t* loop) : loop_(loop) {
        uv_async_init(loop_, &async_, [](uv_async_t*) {});
        uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
        uv_timer_init(loop_, &deadline_);
    }
    ~Wakes() {
        uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), nullptr);
        uv_run(loop_, UV_RUN_DEFAULT);
    }
    std::function<void()> callback() {
        return [this] {
            count_++;
            uv_async_send(&async_);
        };
    }
    // Runs the loop until `done()` holds, re-checking at every event; false after 10 s.
    bool Until(const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        uv_timer_start(
            &deadline_, [](uv_timer_t*) {}, 10000, 0);
        bool ok = done();
        while (!ok && std::chrono::steady_clock::now() < deadline) {
            uv_run(loop_, UV_RUN_ONCE);
            ok = done();
        }
        uv_timer_stop(&deadline_);
        return ok;
    }

  private:
    uv_loop_t* loop_;
    uv_async_t async_;
    uv_timer_t deadline_;
    std::atomic<uint64_t> count_ = 0;
};

// A redis-server of the test run's own, on a unix socket in a temporary directory, without
// persistence; started at the first use, stopped at exit. Not started if not installed.
class RedisProcess {
  public:
    static RedisProcess& Get() {
        static RedisProcess redis;
        return redis;
    }
    bool running() const { return pid_ > 0; }
    std::string url() const { return "unix://" + dir_.path() + "/redis.sock"; }
    ~RedisProcess() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }

  private:
    RedisProcess() : dir_("redis") {
        const std::string sock = dir_.path() + "/redis.sock";
        std::vector<std::string> args = {"redis-server", "--port", "0",        "--unixsocket",
                                         sock,           "--save", "",         "--appendonly",
                                         "no",           "--dir",  dir_.path()};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        // Its output to a file: it must not hold the test's stdout open if the test dies.
        posix_spawn_file_actions_t files;
        posix_spawn_file_actions_init(&files);
        const std::string log = dir_.path() + "/redis.log";
        posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT, 0644);
        posix_spawn_file_actions_adddup2(&files, 1, 2);
        const int rc = ::posix_spawnp(&pid_, "redis-server", &files, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&files);
        if (rc != 0) {
            pid_ = 0;
            return;
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!std::filesystem::exists(sock) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));  // its start, no event
    }
    mega::testing::TempDir dir_;
    pid_t pid_ = 0;
};

using Opener = std::function<Status(const Config&, uv_loop_t*, std::function<void()>,
                                    std::unique_ptr<QueueBackend>*)>;

std::vector<std::pair<const char*, Opener>> Openers() {
    std::vector<std::pair<const char*, Opener>> openers = {
        {"file", [](const Config& c, uv_loop_t*, std::function<void()> wake,
                    std::unique_ptr<QueueBackend>* out) {
             std::unique_ptr<mega::FileBackend> b;
             Status s = mega::FileBackend::Open(c, std::move(wake), &b);
             *out = std::move(b);
             return s;
         }}};
    if (!RedisProcess::Get().running()) {
        MESSAGE("redis-server not found: the contract runs on the file backend only");
        return openers;
    }
    openers.push_back({"redis", [](const Config& c, uv_loop_t* loop, std::function<void()> wake,
                                   std::unique_ptr<QueueBackend>* out) {
                           std::unique_ptr<mega::RedisBackend> b;
                           Status s = mega::RedisBackend::Open(c, loop, std::move(wake), &b);
                           *out = std::move(b);
                           return s;
                       }});
    return openers;
}

// One backend in a fresh directory; Reopen() closes it and opens it again on the same data.
class Fixture {
  public:
    explicit Fixture(Opener open) : open_(std::move(open)), dir_("backend") {
        uv_loop_init(&loop_);
        wakes_ = std::make_unique<Wakes>(&loop_);
        config_.queue_file_path = dir_.path();
        // Redis: a key space of this fixture's own.
        config_.redis_url = RedisProcess::Get().url();
        config_.redis_key_prefix = dir_.path() + ":";
        config_.queue_segment_bytes = 64 << 10;
        config_.queue_max_bytes = 64 << 20;
        config_.fsync = mega::FsyncPolicy::kAlways;
        Reopen();
    }
    ~Fixture() {
        if (backend_) (void)backend_->Close();
        uv_run(&loop_, UV_RUN_DEFAULT);  // until the backend's connections are closed
        backend_.reset();
        wakes_.reset();
        uv_loop_close(&loop_);
    }
    void Reopen() {
        if (backend_) REQUIRE(backend_->Close().ok());
        uv_run(&loop_, UV_RUN_DEFAULT);  // until what was sent is answered and closed
        backend_.reset();
        REQUIRE(open_(config_, &loop_, wakes_->callback(), &backend_).ok());
    }
    QueueBackend& b() { return *backend_; }
    Config& config() { return config_; }

    // Appends and waits until the backend calls it durable.
    AppendTicket AppendDurable(const Message& m, std::string_view msgkey = {}) {
        AppendTicket t;
        REQUIRE(b().Append(m, msgkey, mega::NowMs(), &t).ok());
        b().Publish();
        b().RequestSync(t.level);
        REQUIRE(wakes_->Until([&] { return b().Durable(t); }));
        return t;
    }
    // The next record of `level`, waiting for a background scan to make it ready.
    bool Next(int level, RecordTag* tag) {
        return wakes_->Until([&] { return b().Next(level, tag); });
    }

    bool Until(const std::function<bool()>& done) { return wakes_->Until(done); }

  private:
    Opener open_;
    mega::testing::TempDir dir_;
    uv_loop_t loop_;
    Config config_;
    std::unique_ptr<Wakes> wakes_;
    std::unique_ptr<QueueBackend> backend_;
};

Message MakeMessage(uint64_t id, Priority priority, const char* openid = "o-1") {
    Message m;
    m.id = id;
    m.created_ms = 1700000000000;
    m.priority = priority;
    m.openid = openid;
    m.key = "order_paid";
    m.data = R"({"n":1})";
    return m;
}

Message Decoded(std::string_view payload) {
    Message m;
    REQUIRE(mega::DecodeMessage(payload, &m));
    return m;
}

}  // namespace

TEST_CASE("queue backend contract") {
    for (auto& [name, open] : Openers()) {
        const std::string backend = name;
        CAPTURE(backend);
        Fixture f(open);

        SUBCASE("a durable append is handed out at its own priority, once") {
            f.AppendDurable(MakeMessage(7, Priority::kLow));
            CHECK_FALSE(f.b().HasUnread(int(Priority::kHigh)));
            CHECK(f.b().Stats().depth[int(Priority::kLow)] == 1);
            RecordTag tag;
            REQUIRE(f.Next(int(Priority::kLow), &tag));
            const Message m = Decoded(f.b().Payload(tag));
            CHECK(m.id == 7);
            CHECK(m.openid == "o-1");
            CHECK(m.data == R"({"n":1})");
            CHECK_FALSE(f.b().Next(int(Priority::kLow), &tag));
        }

        SUBCASE("a record not done comes back after a reopen, with its state") {
            f.AppendDurable(MakeMessage(8, Priority::kNormal));
            RecordTag tag;
            REQUIRE(f.Next(int(Priority::kNormal), &tag));
            CHECK(f.b().State(tag).attempts == 0);
            // Due already: a backend that keeps waiting records hands it out again at once.
            const RecordState retry{2, 1700000000};
            f.b().SetState(tag, retry);
            (void)f.b().Requeue(tag, retry);  // false: the file keeps it with the record
            f.Reopen();
            REQUIRE(f.Next(int(Priority::kNormal), &tag));
            CHECK(Decoded(f.b().Payload(tag)).id == 8);
            CHECK(f.b().State(tag).attempts == 2);
            CHECK(f.b().State(tag).retry_at == 1700000000u);
        }

        SUBCASE("a requeued record comes back once it is due, not before, across a reopen") {
            f.AppendDurable(MakeMessage(14, Priority::kHigh));
            RecordTag tag;
            REQUIRE(f.Next(int(Priority::kHigh), &tag));
            const RecordState retry{1, uint32_t(mega::NowMs() / 1000 + 2)};
            f.b().SetState(tag, retry);
            if (f.b().Requeue(tag, retry)) {  // else the caller keeps it waiting (the file)
                f.Reopen();
                REQUIRE(f.Next(int(Priority::kHigh), &tag));
                CHECK(mega::NowMs() >= int64_t(retry.retry_at) * 1000);
                CHECK(Decoded(f.b().Payload(tag)).id == 14);
                CHECK(f.b().State(tag).attempts == 1);
            }
        }

        SUBCASE("a done record never comes back") {
            f.AppendDurable(MakeMessage(9, Priority::kHigh));
            f.AppendDurable(MakeMessage(10, Priority::kHigh));
            RecordTag tag;
            REQUIRE(f.Next(int(Priority::kHigh), &tag));
            f.b().Done(tag);
            f.Reopen();
            REQUIRE(f.Next(int(Priority::kHigh), &tag));
            CHECK(Decoded(f.b().Payload(tag)).id == 10);
            CHECK(f.b().Stats().depth[int(Priority::kHigh)] == 1);
        }

        SUBCASE("a msgkey is seen after its append, across a reopen, until it expires") {
            const int64_t now = mega::NowMs();
            CHECK_FALSE(f.b().KeySeen("order-1", now));
            const AppendTicket t = f.AppendDurable(MakeMessage(11, Priority::kNormal), "order-1");
            CHECK(t.key_seq > 0);
            CHECK(f.b().KeySeen("order-1", mega::NowMs()));
            CHECK_FALSE(f.b().KeySeen("order-2", mega::NowMs()));
            f.Reopen();
            CHECK(f.b().KeySeen("order-1", mega::NowMs()));
            CHECK(f.b().Stats().msgkeys == 1);
            const int64_t later = mega::NowMs() + f.config().dedup_window_s * 1000ll + 1000;
            f.b().Tick(later);
            CHECK_FALSE(f.b().KeySeen("order-1", later));
        }

        SUBCASE("a dead letter is kept, listed, and queued again") {
            f.AppendDurable(MakeMessage(12, Priority::kLow));
            RecordTag tag;
            REQUIRE(f.Next(int(Priority::kLow), &tag));
            REQUIRE(f.b().AddDeadLetter(40003, 3, "invalid openid", f.b().Payload(tag)).ok());
            f.b().Done(tag);
            f.Reopen();
            DeadLetter d;
            REQUIRE(f.b().FindDeadLetter(12, &d));
            CHECK(d.errcode == 40003);
            CHECK(d.attempts == 3);
            CHECK(d.error == "invalid openid");
            CHECK(f.b().dead_letter_count() == 1);
            CHECK(f.b().DeadLetterIds() == std::vector<uint64_t>{12});
            int listed = 0;
            f.b().ForEachDeadLetter([&](uint64_t id, const DeadLetter&) {
                listed += id == 12;
                return true;
            });
            CHECK(listed == 1);
            REQUIRE(f.b().RequeueDeadLetter(12).ok());
            CHECK_FALSE(f.b().FindDeadLetter(12, &d));
            CHECK(f.b().RequeueDeadLetter(12).code() == Status::Code::kNotFound);
            REQUIRE(f.Next(int(Priority::kLow), &tag));
            CHECK(Decoded(f.b().Payload(tag)).id == 12);
        }

        SUBCASE("a forgotten dead letter is gone") {
            f.AppendDurable(MakeMessage(13, Priority::kLow));
            RecordTag tag;
            REQUIRE(f.Next(int(Priority::kLow), &tag));
            REQUIRE(f.b().AddDeadLetter(-1, 1, "cancelled", f.b().Payload(tag)).ok());
            f.b().Done(tag);
            CHECK(f.b().RemoveDeadLetter(13));
            CHECK_FALSE(f.b().RemoveDeadLetter(13));
            f.Reopen();
            CHECK(f.b().dead_letter_count() == 0);
        }

        SUBCASE("each account's pause is kept across a reopen") {
            mega::AccountConfig shop;  // a configured account (Redis reads its pause at start)
            shop.name = "shop/2";
            f.config().accounts.push_back(shop);
            PauseState p;
            CHECK(f.b().LoadPause("default", &p).code() == Status::Code::kNotFound);
            p.paused = true;
            p.by_operator = true;
            p.reason = "incident 42";
            p.since_ms = 1700000000123;
            REQUIRE(f.b().SavePause("default", p).ok());
            PauseState other;
            other.paused = true;
            other.reason = "quota";
            other.until_ms = 1700000999000;
            REQUIRE(f.b().SavePause("shop/2", other).ok());  // any name, even a path's
            f.Reopen();
            PauseState kept;
            REQUIRE(f.b().LoadPause("default", &kept).ok());
            CHECK(kept.paused);
            CHECK(kept.by_operator);
            CHECK(kept.reason == "incident 42");
            CHECK(kept.since_ms == 1700000000123);
            REQUIRE(f.b().LoadPause("shop/2", &kept).ok());
            CHECK(kept.paused);
            CHECK_FALSE(kept.by_operator);
            CHECK(kept.reason == "quota");
            CHECK(kept.until_ms == 1700000999000);
            CHECK(f.b().LoadPause("shop", &kept).code() == Status::Code::kNotFound);
        }
    }
}
