// The contract of the storage seam (queue/QueueBackend.h), written against the interface
// only, so that every backend runs the same cases: append and durability, hand-out by
// priority, record state, done, msgkeys, dead letters and the pause, each across a reopen.
// FileBackend runs it here; another backend adds its opener to Openers().
#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/Clock.h"
#include "config/Config.h"
#include "queue/FileBackend.h"
#include "queue/QueueBackend.h"
#include "tests/unit/TempDir.h"

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

// Counts the backend's wake calls (any thread) so a test can wait for the next one.
class Wakes {
  public:
    std::function<void()> callback() {
        return [this] {
            std::lock_guard<std::mutex> lock(mu_);
            count_++;
            cv_.notify_all();
        };
    }
    // Waits until `done()` holds, re-checking at every wake; false after 10 s without it.
    bool Until(const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        std::unique_lock<std::mutex> lock(mu_);
        while (true) {
            lock.unlock();
            if (done()) return true;
            lock.lock();
            const uint64_t seen = count_;
            if (!cv_.wait_until(lock, deadline, [&] { return count_ != seen; })) return done();
        }
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    uint64_t count_ = 0;
};

using Opener =
    std::function<Status(const Config&, std::function<void()>, std::unique_ptr<QueueBackend>*)>;

std::vector<std::pair<const char*, Opener>> Openers() {
    return {{"file",
             [](const Config& c, std::function<void()> wake, std::unique_ptr<QueueBackend>* out) {
                 std::unique_ptr<mega::FileBackend> b;
                 Status s = mega::FileBackend::Open(c, std::move(wake), &b);
                 *out = std::move(b);
                 return s;
             }}};
}

// One backend in a fresh directory; Reopen() closes it and opens it again on the same data.
class Fixture {
  public:
    explicit Fixture(Opener open) : open_(std::move(open)), dir_("backend") {
        config_.queue_file_path = dir_.path();
        config_.queue_segment_bytes = 64 << 10;
        config_.queue_max_bytes = 64 << 20;
        config_.fsync = mega::FsyncPolicy::kAlways;
        Reopen();
    }
    ~Fixture() { backend_.reset(); }
    void Reopen() {
        if (backend_) REQUIRE(backend_->Close().ok());
        backend_.reset();
        REQUIRE(open_(config_, wakes_.callback(), &backend_).ok());
    }
    QueueBackend& b() { return *backend_; }
    Config& config() { return config_; }

    // Appends and waits until the backend calls it durable.
    AppendTicket AppendDurable(const Message& m, std::string_view msgkey = {}) {
        AppendTicket t;
        REQUIRE(b().Append(m, msgkey, mega::NowMs(), &t).ok());
        b().Publish();
        b().RequestSync(t.level);
        REQUIRE(wakes_.Until([&] { return b().Durable(t); }));
        return t;
    }
    // The next record of `level`, waiting for a background scan to make it ready.
    bool Next(int level, RecordTag* tag) {
        return wakes_.Until([&] { return b().Next(level, tag); });
    }

  private:
    Opener open_;
    mega::testing::TempDir dir_;
    Config config_;
    Wakes wakes_;
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
        CAPTURE(name);
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
            f.b().SetState(tag, RecordState{2, 1800000000});
            f.Reopen();
            REQUIRE(f.Next(int(Priority::kNormal), &tag));
            CHECK(Decoded(f.b().Payload(tag)).id == 8);
            CHECK(f.b().State(tag).attempts == 2);
            CHECK(f.b().State(tag).retry_at == 1800000000u);
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

        SUBCASE("the pause is kept across a reopen") {
            PauseState p;
            CHECK(f.b().LoadPause(&p).code() == Status::Code::kNotFound);
            p.paused = true;
            p.by_operator = true;
            p.reason = "incident 42";
            p.since_ms = 1700000000123;
            REQUIRE(f.b().SavePause(p).ok());
            f.Reopen();
            PauseState kept;
            REQUIRE(f.b().LoadPause(&kept).ok());
            CHECK(kept.paused);
            CHECK(kept.by_operator);
            CHECK(kept.reason == "incident 42");
            CHECK(kept.since_ms == 1700000000123);
        }
    }
}
