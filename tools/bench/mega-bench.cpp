// mega-bench: a loopback load generator for mega (push/send), beanstalkd (put) and Redis
// (LPUSH), and mega's HTTP submit API (POST /v1/messages, --http-batch messages a
// request). C connections spread over T threads (one epoll loop each) keep W requests in
// flight per connection, one write per batch, until N messages are acknowledged, the
// --duration has passed (then the outstanding replies are awaited) or the time bound
// passes; it reports msgs/s, acknowledgement latency percentiles (write to reply,
// log-bucket histogram) and errors by reply code, as text or one JSON line.
// --rate paces every connection on its own schedule (small batches, staggered between
// connections); --idle holds extra connections open without sending, and checks at the end
// that the server kept them.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/CommandLine.h"
#include "base/ExitCode.h"
#include "base/UniqueFd.h"
#include "protocol/Frame.h"

namespace {

using mega::UniqueFd;
using Clock = std::chrono::steady_clock;

enum class Proto { kMega, kBeanstalk, kRedis, kHttp };

const char* ProtoName(Proto p) {
    switch (p) {
        case Proto::kMega:
            return "mega";
        case Proto::kBeanstalk:
            return "beanstalk";
        case Proto::kRedis:
            return "redis";
        case Proto::kHttp:
            return "http";
    }
    return "";
}

struct Options {
    Proto proto = Proto::kMega;
    std::string host = "127.0.0.1";
    int port = 0;
    std::vector<int> more_ports;  // --more-ports: the connections spread over these and port
    mega::protocol::Command command = mega::protocol::Command::kPush;  // mega only
    std::string key = "bench";  // mega template key, Redis list key
    std::string tube;           // beanstalk: `use TUBE` first (empty: default tube)
    int connections = 1;
    int window = 1;
    int threads = 0;                // 0: min(2, connections)
    int idle = 0;                   // extra connections held open without sending
    bool pause_after_idle = false;  // wait for a line on stdin once they are open
    uint64_t messages = 10000;
    bool messages_set = false;
    size_t body_bytes = 200;
    double max_seconds = 60;
    double duration = 0;  // > 0: issue requests for this long, then await the replies
    double rate = 0;      // msgs/s offered in all, 0 = as fast as the window allows
    int pace_batch = 16;  // paced: requests per batch of one connection
    int http_batch = 1;   // http: messages per request
    std::string token;    // http: the API key's secret (empty: none sent)
    bool json = false;
};

// Descriptors in all (load + idle connections) that the limits allow; the hard
// RLIMIT_NOFILE of the machine (20000 here) must also cover them.
constexpr int kMaxConnections = 19000;

const std::string kBenchExitStatus = mega::ExitStatusFooter({
    {mega::exit_code::kOk, "all acknowledged without error (and every idle connection open)"},
    {1, "errors, not all acknowledged, or an idle connection closed"},
    {mega::exit_code::kUsage, "usage error (also: --host is not a loopback address)"},
    {mega::exit_code::kUnavailable, "cannot connect"},
    {mega::exit_code::kOsError, "the open-file limit is too low for the connections"},
});

constexpr const char* kDescription =
    "mega-bench: a loopback load generator for mega (push/send), beanstalkd (put) and\n"
    "Redis (LPUSH). mega bodies are JSON {\"t\":\"<unix ms at write>\",\"pad\":\"xx...\"}\n"
    "padded to --body-bytes; openids are oBench%09d (message index).";

// A template key / Redis list key: one word.
CLI::Validator OneWord() {
    return CLI::Validator(
        [](std::string& v) -> std::string {
            return v.empty() || v.find(' ') != v.npos ? "wants one word, not '" + v + "'" : "";
        },
        "");
}

// The options, as numbers before they are checked against each other.
struct NumericOptions {
    double port = 0, connections = 1, idle = 0, window = 1, threads = 0, messages = 10000;
    double body_bytes = 200, pace_batch = 16, http_batch = 1;
};

void DefineOptions(CLI::App* app, Options* o, NumericOptions* n, std::string* proto,
                   std::string* cmd) {
    using mega::NumberIn;
    const auto one_of = [](std::initializer_list<std::string> v) {
        return CLI::IsMember(std::vector<std::string>(v)).description("");
    };
    app->add_option("--proto", *proto, "protocol (default mega)")
        ->type_name("mega|beanstalk|redis|http")
        ->check(one_of({"mega", "beanstalk", "redis", "http"}));
    app->add_option("--host", o->host, "loopback address only (default 127.0.0.1)")->type_name("H");
    app->add_option("--port", n->port, "the server's port")
        ->required()
        ->type_name("N")
        ->check(NumberIn(1, 65535));
    app->add_option("--more-ports", o->more_ports,
                    "more servers' ports (comma-separated): connection i goes to the\n"
                    "i-th of --port and these, in turn (several mega nodes on one queue)")
        ->type_name("P,Q")
        ->delimiter(',')
        ->check(NumberIn(1, 65535));
    app->add_option("--cmd", *cmd, "mega command (default push)")
        ->type_name("push|send")
        ->check(one_of({"push", "send"}));
    app->add_option("--key", o->key, "mega template key / Redis list key (default bench)")
        ->type_name("K")
        ->check(OneWord());
    app->add_option("--tube", o->tube, "beanstalk tube (default: the default tube)")
        ->type_name("T");
    app->add_option("--connections", n->connections,
                    "connections (default 1; C + idle at most 19000)")
        ->type_name("C")
        ->check(NumberIn(1, kMaxConnections));
    app->add_option("--window", n->window, "requests in flight per connection (default 1)")
        ->type_name("W")
        ->check(NumberIn(1, 65536));
    app->add_option("--threads", n->threads, "epoll threads (default min(2, C))")
        ->type_name("T")
        ->check(NumberIn(1, 64));
    app->add_option("--messages", n->messages,
                    "messages in all (default 10000; with --duration: no limit)")
        ->type_name("N")
        ->check(NumberIn(1, 1e12));
    app->add_option("--duration", o->duration,
                    "issue requests for S seconds, then wait for the replies to\n"
                    "those in flight (within --max-seconds)")
        ->type_name("S")
        ->check(NumberIn(0.01, 3600));
    app->add_option("--body-bytes", n->body_bytes, "body size in bytes (default 200)")
        ->type_name("B")
        ->check(NumberIn(1, 1 << 20));
    app->add_option("--max-seconds", o->max_seconds,
                    "stop after S seconds even if N is not reached (default 60)")
        ->type_name("S")
        ->check(NumberIn(0.01, 3600));
    app->add_option("--rate", o->rate,
                    "offer R msgs/s in all (default: as fast as the window allows).\n"
                    "Each connection runs its own schedule at R/C: a batch of B\n"
                    "requests every B*C/R s, the connections staggered evenly over\n"
                    "that interval; one behind schedule (window full) catches up as\n"
                    "replies come, within its window")
        ->type_name("R")
        ->check(NumberIn(0, 1e9));
    app->add_option("--pace-batch", n->pace_batch,
                    "paced: requests per batch (default 16; 1 = one write each)")
        ->type_name("B")
        ->check(NumberIn(1, 65536));
    app->add_option("--idle", n->idle,
                    "before the load, open N more connections that send nothing; at\n"
                    "the end report how many the server still holds open")
        ->type_name("N")
        ->check(NumberIn(0, kMaxConnections));
    app->add_flag("--pause-after-idle", o->pause_after_idle,
                  "once the idle connections are open, print \"mega-bench: idle\n"
                  "connections open\" on stderr and wait for a line on stdin before\n"
                  "the load (so that a caller can measure the server meanwhile)");
    app->add_option("--http-batch", n->http_batch,
                    "http: messages in each POST /v1/messages (default 1: one object;\n"
                    "more: an array). --messages counts requests; msgs/s counts messages")
        ->type_name("B")
        ->check(NumberIn(1, 100000));
    app->add_option("--token", o->token, "http: the API key secret ([http] keys)")->type_name("T");
    app->add_flag("--json", o->json, "one JSON line on stdout (the summary goes to stderr)");
}

// Parses argv into `o`; nullopt to go on, else the exit status (help, version, bad usage).
std::optional<int> ParseArgs(int argc, char** argv, Options* o) {
    CLI::App app{kDescription, "mega-bench"};
    mega::SetUpCommandLine(&app, kBenchExitStatus);
    NumericOptions n;
    std::string proto = "mega", cmd = "push";
    DefineOptions(&app, o, &n, &proto, &cmd);
    if (auto done = mega::ParseCommandLine(app, argc, argv)) return done;
    o->proto = proto == "redis"       ? Proto::kRedis
               : proto == "beanstalk" ? Proto::kBeanstalk
               : proto == "http"      ? Proto::kHttp
                                      : Proto::kMega;
    o->http_batch = int(n.http_batch);
    o->command = cmd == "send" ? mega::protocol::Command::kSend : mega::protocol::Command::kPush;
    o->port = int(n.port);
    o->connections = int(n.connections);
    o->idle = int(n.idle);
    o->window = int(n.window);
    o->threads = int(n.threads);
    o->messages = uint64_t(n.messages);
    o->messages_set = app.count("--messages") > 0;
    o->body_bytes = size_t(n.body_bytes);
    o->pace_batch = int(n.pace_batch);
    if (o->connections + o->idle > kMaxConnections)
        return mega::UsageError(app, "--connections + --idle is at most 19000");
    if (o->duration > 0 && !o->messages_set) o->messages = uint64_t(1e12);
    if (o->threads == 0) o->threads = std::min(2, o->connections);
    o->threads = std::min(o->threads, o->connections);
    return std::nullopt;
}

// Latencies in nanoseconds, in log buckets: 2^7 sub-buckets per power of two, so a
// reported value is within 1/128 (< 0.8 %) of the true one. Fixed size, merged by adding.
class LatencyHistogram {
  public:
    LatencyHistogram() : counts_(kBuckets, 0) {}

    void Record(uint64_t ns) {
        counts_[IndexOf(ns)]++;
        count_++;
        max_ = std::max(max_, ns);
    }
    void Merge(const LatencyHistogram& other) {
        for (size_t i = 0; i < kBuckets; i++) counts_[i] += other.counts_[i];
        count_ += other.count_;
        max_ = std::max(max_, other.max_);
    }
    uint64_t count() const { return count_; }
    uint64_t max() const { return max_; }

    // The value at quantile q (0..1): the upper edge of its bucket, capped by the max.
    uint64_t Quantile(double q) const {
        if (count_ == 0) return 0;
        const uint64_t rank = std::max<uint64_t>(1, uint64_t(q * double(count_) + 0.999999));
        uint64_t seen = 0;
        for (size_t i = 0; i < kBuckets; i++) {
            seen += counts_[i];
            if (seen >= rank) return std::min(UpperEdge(i), max_);
        }
        return max_;
    }

  private:
    static constexpr int kSubBits = 7;
    static constexpr uint64_t kSub = uint64_t(1) << kSubBits;
    static constexpr size_t kBuckets = kSub + (64 - kSubBits) * kSub;

    static size_t IndexOf(uint64_t v) {
        if (v < kSub) return size_t(v);
        const int shift = std::bit_width(v) - 1 - kSubBits;
        return size_t(kSub + uint64_t(shift) * kSub + ((v >> shift) - kSub));
    }
    static uint64_t UpperEdge(size_t i) {
        if (i < kSub) return i;
        const uint64_t shift = (i - kSub) / kSub;
        const uint64_t sub = (i - kSub) % kSub;
        return ((kSub + sub + 1) << shift) - 1;
    }

    std::vector<uint64_t> counts_;
    uint64_t count_ = 0;
    uint64_t max_ = 0;
};

int64_t UnixMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Builds request bytes. Every body is the same JSON shape, padded to exactly B bytes when
// B allows: {"t":"<13-digit unix ms>","pad":"xxx…"}; "t" lets a receiver (fake-wechat)
// compute push-to-arrival latency.
class RequestEncoder {
  public:
    explicit RequestEncoder(const Options& o) : o_(o) {
        static constexpr std::string_view kShell = R"({"t":"0000000000000","pad":""})";
        body_.assign(kShell);
        if (o.body_bytes > kShell.size())
            body_.insert(body_.size() - 2, o.body_bytes - kShell.size(), 'x');
        if (o.proto == Proto::kRedis) {
            redis_prefix_ = "*3\r\n$5\r\nLPUSH\r\n$" + std::to_string(o.key.size()) + "\r\n" +
                            o.key + "\r\n$" + std::to_string(body_.size()) + "\r\n";
        } else if (o.proto == Proto::kBeanstalk) {
            beanstalk_prefix_ = "put 1024 0 60 " + std::to_string(body_.size()) + "\r\n";
        } else if (o.proto == Proto::kHttp) {
            http_head_ = "POST /v1/messages HTTP/1.1\r\nHost: " + o.host +
                         "\r\nContent-Type: application/json\r\n";
            if (!o.token.empty()) http_head_ += "Authorization: Bearer " + o.token + "\r\n";
        }
    }

    size_t body_size() const { return body_.size(); }

    void Append(std::string* out, uint64_t index, uint32_t opaque, int64_t unix_ms) {
        if (unix_ms != body_ms_) {  // a batch shares its millisecond: format it once
            PutDigits(body_.data() + 6, 13, uint64_t(unix_ms));
            body_ms_ = unix_ms;
        }
        switch (o_.proto) {
            case Proto::kMega: {
                char openid[15] = {'o', 'B', 'e', 'n', 'c', 'h'};
                PutDigits(openid + 6, 9, index);
                mega::protocol::AppendRequest(out, o_.command, std::string_view(openid, 15), o_.key,
                                              opaque, body_);
                break;
            }
            case Proto::kBeanstalk:
                out->append(beanstalk_prefix_).append(body_).append("\r\n");
                break;
            case Proto::kRedis:
                out->append(redis_prefix_).append(body_).append("\r\n");
                break;
            case Proto::kHttp:
                AppendHttp(out, index);
                break;
        }
    }

  private:
    // POST /v1/messages with --http-batch messages (openids from index * batch on), each
    // {"key","openid","data":<the body>}; one object when the batch is 1, else an array.
    void AppendHttp(std::string* out, uint64_t index) {
        content_.clear();
        const int batch = o_.http_batch;
        if (batch > 1) content_ += '[';
        for (int i = 0; i < batch; i++) {
            char openid[15] = {'o', 'B', 'e', 'n', 'c', 'h'};
            PutDigits(openid + 6, 9, index * uint64_t(batch) + uint64_t(i));
            content_.append(i ? ",{\"key\":\"" : "{\"key\":\"")
                .append(o_.key)
                .append("\",\"openid\":\"")
                .append(openid, 15)
                .append("\",\"data\":")
                .append(body_)
                .append("}");
        }
        if (batch > 1) content_ += ']';
        out->append(http_head_)
            .append("Content-Length: ")
            .append(std::to_string(content_.size()))
            .append("\r\n\r\n")
            .append(content_);
    }

    // The low `width` decimal digits of v, zero-padded (what %0*llu prints, minus overflow).
    static void PutDigits(char* p, int width, uint64_t v) {
        for (int i = width - 1; i >= 0; i--, v /= 10) p[i] = char('0' + v % 10);
    }

    const Options& o_;
    std::string body_;
    int64_t body_ms_ = -1;
    std::string redis_prefix_, beanstalk_prefix_, http_head_;
    std::string content_;  // http: the request body being built (reused)
};

// One reply: ok or an error label ("400", "JOB_TOO_BIG", "-ERR"), and for mega the opaque.
struct Reply {
    bool ok = false;
    std::string_view label;
    uint32_t opaque = 0;
};

// Decodes a server's reply stream. mega: result frames (FrameDecoder, out of order by
// opaque). beanstalk and Redis: one CRLF line per request, in request order.
class ReplyStream {
  public:
    explicit ReplyStream(Proto proto) : proto_(proto), frames_(16 << 20) {}

    // Reads once from fd. Returns bytes read, 0 at EOF, -1 with errno on error.
    ssize_t ReadFrom(int fd) {
        size_t len = 0;
        if (proto_ == Proto::kMega) {
            char* p = frames_.Writable(&len);
            ssize_t n = ::read(fd, p, len);
            if (n > 0) frames_.Commit(size_t(n));
            return n;
        }
        if (begin_ == end_) begin_ = end_ = 0;
        if (lines_.size() - end_ < 16 * 1024 && begin_ > 0) {  // compact first, then grow
            std::memmove(lines_.data(), lines_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (lines_.size() - end_ < 16 * 1024) lines_.resize(end_ + 64 * 1024);
        ssize_t n = ::read(fd, lines_.data() + end_, lines_.size() - end_);
        if (n > 0) end_ += size_t(n);
        return n;
    }

    // Next complete reply: 1 = got one, 0 = need more bytes, -1 = protocol error.
    int Next(Reply* r) {
        if (proto_ == Proto::kMega) {
            mega::protocol::Frame f;
            switch (frames_.Next(&f)) {
                case mega::protocol::FrameDecoder::Result::kNeedMore:
                    return 0;
                case mega::protocol::FrameDecoder::Result::kError:
                    return -1;
                case mega::protocol::FrameDecoder::Result::kFrame:
                    break;
            }
            if (f.command != mega::protocol::Command::kResult) return -1;
            r->ok = f.code == 200;
            r->opaque = f.opaque;
            const int len = std::snprintf(code_text_, sizeof code_text_, "%u", f.code);
            r->label = std::string_view(code_text_, size_t(len));
            return 1;
        }
        const std::string_view pending(lines_.data() + begin_, end_ - begin_);
        if (proto_ == Proto::kHttp) return NextHttp(pending, r);
        const size_t eol = pending.find("\r\n");
        if (eol == std::string_view::npos) return pending.size() > 4096 ? -1 : 0;
        const std::string_view line = pending.substr(0, eol);
        begin_ += eol + 2;
        const std::string_view first = line.substr(0, line.find(' '));
        if (proto_ == Proto::kBeanstalk) {
            r->ok = first == "INSERTED" || first == "USING";
            r->label = first;
            return first.empty() ? -1 : 1;
        }
        if (line.empty()) return -1;
        if (line[0] == ':' || line[0] == '+') {
            r->ok = true;
            r->label = "ok";
            return 1;
        }
        if (line[0] == '-') {
            r->ok = false;
            r->label = first;
            return 1;
        }
        return -1;  // bulk or array replies are not expected from LPUSH
    }

  private:
    // One HTTP/1.1 response (status line, headers, Content-Length body); 2xx is ok.
    int NextHttp(std::string_view pending, Reply* r) {
        const size_t end = pending.find("\r\n\r\n");
        if (end == std::string_view::npos) return pending.size() > 65536 ? -1 : 0;
        const std::string_view head = pending.substr(0, end);
        if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return -1;
        const std::string_view code = head.substr(9, 3);
        size_t length = 0;
        constexpr std::string_view kLength = "content-length:";
        for (size_t at = head.find("\r\n"); at != std::string_view::npos;
             at = head.find("\r\n", at + 2)) {
            const size_t next = head.find("\r\n", at + 2);
            std::string_view line = head.substr(
                at + 2, next == std::string_view::npos ? std::string_view::npos : next - at - 2);
            if (line.size() <= kLength.size()) continue;
            bool match = true;
            for (size_t i = 0; i < kLength.size() && match; i++)
                match = char(std::tolower(static_cast<unsigned char>(line[i]))) == kLength[i];
            if (!match) continue;
            std::string_view v = line.substr(kLength.size());
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            std::from_chars(v.data(), v.data() + v.size(), length);
        }
        if (pending.size() < end + 4 + length) return 0;
        begin_ += end + 4 + length;
        code_text_[0] = code[0], code_text_[1] = code[1], code_text_[2] = code[2];
        r->label = std::string_view(code_text_, 3);
        r->ok = code[0] == '2';
        return 1;
    }

    Proto proto_;
    mega::protocol::FrameDecoder frames_;
    std::vector<char> lines_;
    size_t begin_ = 0, end_ = 0;
    char code_text_[16] = {};
};

// What the threads share: the message budget, the stop flag and the start instant.
struct SharedRun {
    const Options& options;
    std::atomic<uint64_t> claimed{0};  // message indexes handed out so far
    std::atomic<bool> stop{false};
    Clock::time_point start{};
    Clock::time_point issue_until{};  // no new requests from then on (--duration)
    Clock::time_point deadline{};
};

// --rate: every connection has its own schedule. Request i of a connection is due at
// offset + i / rate_per_conn; it is written with the batch of the first grid point
// offset + k * interval at or after that, so a connection writes one batch (of about
// --pace-batch requests) per interval. Offsets spread the connections evenly over one
// interval (global connection index / C), so the server sees C batches per interval, evenly
// spaced. Small batches bound the queue the generator itself makes (a batch's last request
// waits for the ones before it) while keeping writes per second at R / batch.
struct Pacing {
    double rate_per_conn = 0;   // msgs/s of one connection; 0 = not paced
    int64_t interval_ns = 0;    // between two batches of one connection
    int64_t late_ns = 1000000;  // a request written this much after its grid point is late
};

struct ThreadResult {
    uint64_t written = 0, ok = 0, failed = 0, lost = 0;
    uint64_t connections_lost = 0;  // closed by the server (or a write failed) mid-run
    uint64_t late = 0;              // paced requests written > 1 ms after their grid point
    int64_t max_lag_ns = 0;         // the most any paced request was written after it
    std::map<std::string, uint64_t, std::less<>> errors;
    LatencyHistogram latency;
    Clock::time_point last_reply{};
    bool protocol_error = false;
};

// Requests in flight on one connection: id → write time. Open addressing with linear
// probing over a power-of-two array at least twice the window, so recording a request and
// matching its reply touch one or two slots and never allocate.
class InflightTable {
  public:
    explicit InflightTable(size_t window) {
        size_t cap = 16;
        while (cap < 2 * window) cap *= 2;
        slots_.resize(cap);
        mask_ = cap - 1;
    }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    void clear() {
        for (auto& s : slots_) s.used = false;
        size_ = 0;
    }
    // The caller keeps size() below the window, so a free slot always exists.
    void Insert(uint32_t id, int64_t t) {
        size_t i = id & mask_;
        while (slots_[i].used) i = (i + 1) & mask_;
        slots_[i] = {id, true, t};
        size_++;
    }
    // Removes `id` and gives its write time; false if it is not in flight.
    bool Take(uint32_t id, int64_t* t) {
        size_t i = id & mask_;
        while (slots_[i].used && slots_[i].id != id) i = (i + 1) & mask_;
        if (!slots_[i].used) return false;
        *t = slots_[i].t;
        // Backward-shift deletion: move later members of the probe run into the hole.
        size_t hole = i;
        for (size_t j = (i + 1) & mask_; slots_[j].used; j = (j + 1) & mask_) {
            const size_t home = slots_[j].id & mask_;
            if (((j - home) & mask_) >= ((j - hole) & mask_)) {
                slots_[hole] = slots_[j];
                hole = j;
            }
        }
        slots_[hole].used = false;
        size_--;
        return true;
    }

  private:
    struct Slot {
        uint32_t id = 0;
        bool used = false;
        int64_t t = 0;
    };
    std::vector<Slot> slots_;
    size_t mask_ = 0, size_ = 0;
};

struct Connection {
    UniqueFd fd;
    std::string out;
    size_t out_sent = 0;
    ReplyStream replies;
    InflightTable inflight;      // request id → write time (ns)
    uint32_t next_id = 0;        // mega: the opaque; others: the request's position
    uint32_t next_reply = 0;     // beanstalk/Redis: position of the next reply
    uint32_t setup_replies = 0;  // replies to skip (beanstalk `use`)
    bool want_write = false;
    bool alive = true;
    // --rate: this connection's schedule (see Pacing).
    int64_t pace_offset_ns = 0;
    uint64_t pace_written = 0;  // requests written so far

    Connection(UniqueFd f, Proto p, int window)
        : fd(std::move(f)), replies(p), inflight(size_t(window)) {}
};

// Resolves host:port and refuses anything but a loopback address.
bool ResolveLoopback(const Options& o, sockaddr_storage* addr, socklen_t* len) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(o.port);
    if (int rc = ::getaddrinfo(o.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        std::fprintf(stderr, "mega-bench: %s: %s\n", o.host.c_str(), ::gai_strerror(rc));
        return false;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(res, &::freeaddrinfo);
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        bool loopback = false;
        if (ai->ai_family == AF_INET) {
            auto* in = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
            loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        } else if (ai->ai_family == AF_INET6) {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(ai->ai_addr);
            loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        }
        if (loopback) {
            std::memcpy(addr, ai->ai_addr, ai->ai_addrlen);
            *len = ai->ai_addrlen;
            return true;
        }
    }
    std::fprintf(stderr, "mega-bench: %s is not a loopback address; refusing\n", o.host.c_str());
    return false;
}

// `addr` (the --port) and the same host at each of --more-ports.
std::vector<sockaddr_storage> ServerAddresses(const Options& o, const sockaddr_storage& addr) {
    std::vector<sockaddr_storage> out{addr};
    for (int port : o.more_ports) {
        sockaddr_storage a = addr;
        if (a.ss_family == AF_INET6)
            reinterpret_cast<sockaddr_in6*>(&a)->sin6_port = htons(uint16_t(port));
        else
            reinterpret_cast<sockaddr_in*>(&a)->sin_port = htons(uint16_t(port));
        out.push_back(a);
    }
    return out;
}

int PortOf(const sockaddr_storage& a) {
    return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
}

// A non-blocking connected socket, or none with errno set. When the server's accept queue
// is full (a busy server, thousands of connections opened in a row) the kernel drops the
// SYN and would send it again only after a second: instead, a connection not established
// within a few milliseconds is abandoned and opened anew, for up to 10 s.
UniqueFd ConnectTo(const sockaddr_storage& addr, socklen_t len) {
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
    int wait_ms = 10;
    while (true) {
        UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!fd) return fd;
        int one = 1;
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0) return fd;
        int err = errno;
        if (err == EINPROGRESS) {
            pollfd p{fd.get(), POLLOUT, 0};
            const int n = ::poll(&p, 1, wait_ms);
            if (n < 0) {
                err = errno;
            } else if (n > 0) {
                socklen_t err_len = sizeof err;
                ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len);
                if (err == 0) return fd;
            } else if (Clock::now() < give_up) {
                wait_ms = std::min(wait_ms * 2, 160);
                continue;  // no SYN-ACK yet: try again with a fresh socket
            } else {
                err = ETIMEDOUT;
            }
        }
        fd.Reset();
        errno = err;
        return UniqueFd();
    }
}

int64_t NanosSince(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// One thread: its connections and their epoll loop.
class LoadLoop {
  public:
    // fds[k] is connection first_index + k * stride of all (for the pacing offsets).
    LoadLoop(SharedRun& run, std::vector<UniqueFd> fds, const Pacing& pacing, int first_index,
             int stride)
        : run_(run),
          opts_(run.options),
          encoder_(opts_),
          epoll_(::epoll_create1(EPOLL_CLOEXEC)),
          pacing_(pacing) {
        for (auto& fd : fds)
            conns_.push_back(
                std::make_unique<Connection>(std::move(fd), opts_.proto, opts_.window));
        for (size_t i = 0; i < conns_.size(); i++) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = i;
            ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, conns_[i]->fd.get(), &ev);
            if (opts_.proto == Proto::kBeanstalk && !opts_.tube.empty()) {
                conns_[i]->out = "use " + opts_.tube + "\r\n";
                conns_[i]->setup_replies = 1;
                conns_[i]->next_reply = 0;
            }
            const int index = first_index + int(i) * stride;
            conns_[i]->pace_offset_ns =
                int64_t(double(pacing_.interval_ns) * index / opts_.connections);
        }
    }

    ThreadResult Run() {
        // Paced: wake within microseconds of a grid point, not the default 50 µs slack.
        if (paced()) ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
        for (size_t i = 0; i < conns_.size(); i++) Refill(i);
        std::vector<epoll_event> events(std::max<size_t>(conns_.size(), 1));
        while (true) {
            const Clock::time_point wall = Clock::now();
            if (wall >= run_.deadline) run_.stop.store(true, std::memory_order_relaxed);
            issuing_ = wall < run_.issue_until;
            if (Finished()) break;
            const int n = Wait(events, wall);
            if (n < 0 && errno != EINTR) break;
            for (int k = 0; k < n; k++) {
                const size_t i = events[size_t(k)].data.u64;
                Connection& c = *conns_[i];
                if (!c.alive) continue;
                if (events[size_t(k)].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ReadReplies(i);
                if (c.alive && (events[size_t(k)].events & EPOLLOUT)) Flush(i);
            }
            issuing_ = Clock::now() < run_.issue_until;
            for (size_t i = 0; i < conns_.size(); i++) Refill(i);
        }
        // Whatever is still in flight when time runs out is neither ok nor failed.
        for (auto& c : conns_) result_.lost += c->inflight.size();
        return std::move(result_);
    }

  private:
    bool paced() const { return pacing_.rate_per_conn > 0; }

    bool Finished() const {
        const bool stopping = run_.stop.load(std::memory_order_relaxed);
        const bool budget_left =
            !stopping && issuing_ && run_.claimed.load(std::memory_order_relaxed) < opts_.messages;
        bool any_alive = false;
        for (auto& c : conns_) {
            if (!c->alive) continue;
            any_alive = true;
            if (!stopping && !c->inflight.empty()) return false;
        }
        return !any_alive || !budget_left;
    }

    // Waits for events until the next grid point of a paced connection that has room (or
    // 50 ms, or the end of issuing / the deadline, whichever comes first).
    int Wait(std::vector<epoll_event>& events, Clock::time_point wall) {
        int64_t wait_ns = 50'000'000;
        auto until = [&](Clock::time_point t) {
            const int64_t ns =
                std::chrono::duration_cast<std::chrono::nanoseconds>(t - wall).count();
            wait_ns = std::min(wait_ns, std::max<int64_t>(0, ns) + 1000);
        };
        if (issuing_) until(run_.issue_until);
        until(run_.deadline);
        if (paced() && issuing_ && !run_.stop.load(std::memory_order_relaxed)) {
            const int64_t now =
                std::chrono::duration_cast<std::chrono::nanoseconds>(wall - run_.start).count();
            for (auto& c : conns_) {
                if (!c->alive || c->inflight.size() >= size_t(opts_.window)) continue;
                wait_ns = std::min(wait_ns, std::max<int64_t>(0, NextGridPoint(*c, now) - now));
            }
        }
        timespec ts{};
        ts.tv_sec = time_t(wait_ns / 1'000'000'000);
        ts.tv_nsec = long(wait_ns % 1'000'000'000);
        int n = ::epoll_pwait2(epoll_.get(), events.data(), int(events.size()), &ts, nullptr);
        if (n < 0 && errno == ENOSYS)  // kernels before 5.11: millisecond timeouts
            n = ::epoll_wait(epoll_.get(), events.data(), int(events.size()),
                             int((wait_ns + 999'999) / 1'000'000));
        return n;
    }

    // Paced schedule of connection c: grid point k at offset + k * interval; by grid point k,
    // floor(rate * k * interval) + 1 requests are due (request j at offset + j / rate).
    uint64_t DueBy(const Connection& c, int64_t now) const {
        if (now < c.pace_offset_ns) return 0;
        const int64_t k = (now - c.pace_offset_ns) / pacing_.interval_ns;
        return uint64_t(pacing_.rate_per_conn * double(k * pacing_.interval_ns) / 1e9) + 1;
    }
    int64_t NextGridPoint(const Connection& c, int64_t now) const {
        if (now < c.pace_offset_ns) return c.pace_offset_ns;
        const int64_t k = (now - c.pace_offset_ns) / pacing_.interval_ns + 1;
        return c.pace_offset_ns + k * pacing_.interval_ns;
    }
    // The grid point at which request j of connection c became due.
    int64_t GridPointOf(const Connection& c, uint64_t j) const {
        const double per_batch = pacing_.rate_per_conn * double(pacing_.interval_ns) / 1e9;
        const int64_t k = int64_t(std::ceil(double(j) / per_batch - 1e-9));
        return c.pace_offset_ns + k * pacing_.interval_ns;
    }

    // Tops connection i up with one batch of new requests (to the window, or paced: what its
    // schedule has made due) and writes it.
    void Refill(size_t i) {
        Connection& c = *conns_[i];
        if (!c.alive || !issuing_ || run_.stop.load(std::memory_order_relaxed)) return;
        const size_t room =
            size_t(opts_.window) - std::min(c.inflight.size(), size_t(opts_.window));
        uint64_t want = room;
        const int64_t now = want > 0 ? NanosSince(run_.start) : 0;
        if (paced() && want > 0) {
            const uint64_t due = DueBy(c, now);
            want = due > c.pace_written ? std::min<uint64_t>(want, due - c.pace_written) : 0;
        }
        if (want > 0) {
            uint64_t first = run_.claimed.fetch_add(want, std::memory_order_relaxed);
            if (first >= opts_.messages) {
                want = 0;
            } else {
                want = std::min<uint64_t>(want, opts_.messages - first);
                const int64_t unix_ms = UnixMs();
                for (uint64_t k = 0; k < want; k++) {
                    const uint32_t id = c.next_id++;
                    encoder_.Append(&c.out, first + k, id, unix_ms);
                    c.inflight.Insert(id, now);
                }
                result_.written += want;
                if (paced()) {
                    for (uint64_t k = 0; k < want; k++) {
                        const int64_t lag = now - GridPointOf(c, c.pace_written + k);
                        if (lag > pacing_.late_ns) result_.late++;
                        result_.max_lag_ns = std::max(result_.max_lag_ns, lag);
                    }
                    c.pace_written += want;
                }
            }
        }
        if (c.out.size() > c.out_sent) Flush(i);
    }

    void Flush(size_t i) {
        Connection& c = *conns_[i];
        while (c.out_sent < c.out.size()) {
            ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                               MSG_NOSIGNAL);
            if (n > 0) {
                c.out_sent += size_t(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            Drop(i, "write failed");
            return;
        }
        if (c.out_sent == c.out.size()) {
            c.out.clear();
            c.out_sent = 0;
        }
        const bool want_write = !c.out.empty();
        if (want_write != c.want_write) {
            epoll_event ev{};
            ev.events = want_write ? uint32_t(EPOLLIN | EPOLLOUT) : uint32_t(EPOLLIN);
            ev.data.u64 = i;
            ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
            c.want_write = want_write;
        }
    }

    void ReadReplies(size_t i) {
        Connection& c = *conns_[i];
        ssize_t n = c.replies.ReadFrom(c.fd.get());
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (n <= 0) {
            Drop(i, "closed");
            return;
        }
        const int64_t now = NanosSince(run_.start);
        Reply r;
        int got;
        while ((got = c.replies.Next(&r)) == 1) {
            if (c.setup_replies > 0) {
                c.setup_replies--;
                if (!r.ok) {
                    Drop(i, "use failed");
                    return;
                }
                continue;
            }
            const uint32_t id = opts_.proto == Proto::kMega ? r.opaque : c.next_reply++;
            int64_t written_at;
            if (!c.inflight.Take(id, &written_at)) {
                result_.errors["unmatched reply"]++;
                result_.failed++;
                continue;
            }
            result_.latency.Record(uint64_t(std::max<int64_t>(0, now - written_at)));
            if (r.ok) {
                result_.ok++;
            } else {
                result_.failed++;
                auto e = result_.errors.find(r.label);
                if (e == result_.errors.end())
                    e = result_.errors.emplace(std::string(r.label), 0).first;
                e->second++;
            }
        }
        result_.last_reply = Clock::now();
        if (got < 0) {
            result_.protocol_error = true;
            Drop(i, "protocol error");
        }
    }

    // The connection is gone: what it had in flight counts as failed under `why`.
    void Drop(size_t i, const char* why) {
        Connection& c = *conns_[i];
        if (!c.inflight.empty()) {
            result_.errors[why] += c.inflight.size();
            result_.failed += c.inflight.size();
        }
        if (!run_.stop.load(std::memory_order_relaxed)) result_.connections_lost++;
        c.inflight.clear();
        c.alive = false;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
        c.fd.Reset();
    }

    SharedRun& run_;
    const Options& opts_;
    RequestEncoder encoder_;
    UniqueFd epoll_;
    Pacing pacing_;
    bool issuing_ = true;  // before the end of --duration
    std::vector<std::unique_ptr<Connection>> conns_;
    ThreadResult result_;
};

// Lifts the soft descriptor limit to cover `wanted` sockets; false (with a message) if the
// hard limit cannot.
bool RaiseFileLimit(int wanted) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return true;
    const rlim_t need = rlim_t(wanted) + 64;
    if (rl.rlim_cur >= need) return true;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        std::fprintf(stderr,
                     "mega-bench: %d connections need %llu descriptors; the hard limit is %llu\n",
                     wanted, static_cast<unsigned long long>(need),
                     static_cast<unsigned long long>(rl.rlim_max));
        return false;
    }
    rl.rlim_cur = need;
    return ::setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

// Idle connections still open: a non-blocking peek finds nothing to read (EAGAIN). EOF
// (the server closed it) or an error (reset) counts as closed; bytes (never expected)
// count as open.
int CountOpen(const std::vector<UniqueFd>& fds) {
    int open = 0;
    for (const auto& fd : fds) {
        char b;
        const ssize_t n = ::recv(fd.get(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) open++;
    }
    return open;
}

std::string JsonEscape(std::string_view s) {
    std::string out;
    for (char ch : s) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (static_cast<unsigned char>(ch) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", ch);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (auto done = ParseArgs(argc, argv, &o)) return *done;
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    if (!ResolveLoopback(o, &addr, &addr_len)) return mega::exit_code::kUsage;
    if (!RaiseFileLimit(o.connections + o.idle)) return mega::exit_code::kOsError;

    // Connect everything before the clock starts: the idle connections first.
    const Clock::time_point connect_start = Clock::now();
    double paused_seconds = 0;  // --pause-after-idle: not connecting time
    std::vector<UniqueFd> idle;
    idle.reserve(size_t(o.idle));
    for (int i = 0; i < o.idle; i++) {
        UniqueFd fd = ConnectTo(addr, addr_len);
        if (!fd) {
            std::fprintf(stderr, "mega-bench: connect to %s:%d (idle connection %d): %s\n",
                         o.host.c_str(), o.port, i + 1, std::strerror(errno));
            return mega::exit_code::kUnavailable;
        }
        idle.push_back(std::move(fd));
    }
    if (o.pause_after_idle) {
        const double idle_seconds =
            std::chrono::duration<double>(Clock::now() - connect_start).count();
        std::fprintf(stderr, "mega-bench: idle connections open: %d in %.3f s\n", o.idle,
                     idle_seconds);
        std::fflush(stderr);
        int ch;
        while ((ch = std::getchar()) != EOF && ch != '\n') {
        }
        paused_seconds =
            std::chrono::duration<double>(Clock::now() - connect_start).count() - idle_seconds;
    }
    std::vector<std::vector<UniqueFd>> per_thread(size_t(o.threads));
    const std::vector<sockaddr_storage> servers = ServerAddresses(o, addr);
    for (int i = 0; i < o.connections; i++) {
        UniqueFd fd = ConnectTo(servers[size_t(i) % servers.size()], addr_len);
        if (!fd) {
            std::fprintf(stderr, "mega-bench: connect to %s:%d (connection %d): %s\n",
                         o.host.c_str(), PortOf(servers[size_t(i) % servers.size()]), i + 1,
                         std::strerror(errno));
            return mega::exit_code::kUnavailable;
        }
        per_thread[size_t(i % o.threads)].push_back(std::move(fd));
    }

    const double connect_seconds =
        std::chrono::duration<double>(Clock::now() - connect_start).count() - paused_seconds;

    Pacing pacing;
    if (o.rate > 0) {
        pacing.rate_per_conn = o.rate / o.connections;
        const double interval_s = std::min(3600.0, o.pace_batch / pacing.rate_per_conn);
        pacing.interval_ns = std::max<int64_t>(1000, int64_t(interval_s * 1e9));
    }
    SharedRun run{o};
    std::vector<ThreadResult> results(size_t(o.threads));
    std::barrier start_line(o.threads + 1);
    {
        std::vector<std::jthread> workers;
        for (int t = 0; t < o.threads; t++) {
            workers.emplace_back([&, t] {
                LoadLoop loop(run, std::move(per_thread[size_t(t)]), pacing, t, o.threads);
                start_line.arrive_and_wait();
                results[size_t(t)] = loop.Run();
            });
        }
        auto after = [](Clock::time_point from, double seconds) {
            return from + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(seconds));
        };
        run.start = Clock::now();
        run.deadline = after(run.start, o.max_seconds);
        run.issue_until =
            o.duration > 0 ? std::min(run.deadline, after(run.start, o.duration)) : run.deadline;
        start_line.arrive_and_wait();
    }
    const int idle_open = CountOpen(idle);

    ThreadResult total;
    Clock::time_point last = run.start;
    bool protocol_error = false;
    for (auto& r : results) {
        total.written += r.written;
        total.ok += r.ok;
        total.failed += r.failed;
        total.lost += r.lost;
        total.connections_lost += r.connections_lost;
        total.late += r.late;
        total.max_lag_ns = std::max(total.max_lag_ns, r.max_lag_ns);
        for (auto& [k, v] : r.errors) total.errors[k] += v;
        total.latency.Merge(r.latency);
        last = std::max(last, r.last_reply);
        protocol_error |= r.protocol_error;
    }
    const double seconds = std::max(1e-9, std::chrono::duration<double>(last - run.start).count());
    const bool timed_out = Clock::now() >= run.deadline;
    const bool all_answered = total.lost == 0 && total.ok + total.failed == total.written;
    const bool by_count = total.ok + total.failed >= o.messages;
    const bool by_duration =
        !by_count && o.duration > 0 && !timed_out && all_answered && total.connections_lost == 0;
    const bool complete = by_count || by_duration;
    const char* stopped_by = by_count      ? "count"
                             : by_duration ? "duration"
                             : timed_out   ? "time"
                                           : "connections lost";
    const int per_request = o.proto == Proto::kHttp ? o.http_batch : 1;
    const double msgs_per_s = double(total.ok) * per_request / seconds;
    auto ms = [](uint64_t ns) { return double(ns) / 1e6; };
    const auto& h = total.latency;

    std::string errors_text, errors_json;
    for (auto& [k, v] : total.errors) {
        errors_text += (errors_text.empty() ? "" : ", ") + k + ": " + std::to_string(v);
        errors_json += std::string(errors_json.empty() ? "" : ",") + "\"" + JsonEscape(k) +
                       "\":" + std::to_string(v);
    }
    const char* cmd = o.proto == Proto::kHttp                       ? "post"
                      : o.proto == Proto::kRedis                    ? "lpush"
                      : o.proto != Proto::kMega                     ? "put"
                      : o.command == mega::protocol::Command::kSend ? "send"
                                                                    : "push";
    FILE* human = o.json ? stderr : stdout;
    std::fprintf(human,
                 "mega-bench %s %s on %s:%d: %d connections x window %d, %d threads, "
                 "%zu-byte bodies\n"
                 "  %" PRIu64 " of %" PRIu64 "%s acknowledged ok, %" PRIu64 " failed, %" PRIu64
                 " unanswered, in %.3f s (stopped by %s)\n"
                 "  throughput %.0f msgs/s\n"
                 "  ack latency ms: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n"
                 "  errors: %s; connections closed by the server: %" PRIu64
                 "\n"
                 "  connected in %.3f s; idle connections still open at the end: %d of %d\n",
                 ProtoName(o.proto), cmd, o.host.c_str(), o.port, o.connections, o.window,
                 o.threads, RequestEncoder(o).body_size(), total.ok,
                 o.duration > 0 && !o.messages_set ? total.written : o.messages,
                 o.duration > 0 && !o.messages_set ? " written" : "", total.failed, total.lost,
                 seconds, stopped_by, msgs_per_s, ms(h.Quantile(0.5)), ms(h.Quantile(0.99)),
                 ms(h.Quantile(0.999)), ms(h.max()),
                 errors_text.empty() ? "none" : errors_text.c_str(), total.connections_lost,
                 connect_seconds, idle_open, o.idle);
    if (o.rate > 0)
        std::fprintf(human,
                     "  paced at %.0f msgs/s: a batch of %d per connection every %.3f ms; %" PRIu64
                     " requests written over 1 ms behind schedule, at most %.3f ms\n",
                     o.rate, o.pace_batch, double(pacing.interval_ns) / 1e6, total.late,
                     double(total.max_lag_ns) / 1e6);
    std::string pacing_json = "null";
    if (o.rate > 0) {
        char buf[200];
        std::snprintf(buf, sizeof buf,
                      "{\"rate\":%.1f,\"batch\":%d,\"batch_interval_ms\":%.4f,\"late\":%" PRIu64
                      ",\"max_lag_ms\":%.4f}",
                      o.rate, o.pace_batch, double(pacing.interval_ns) / 1e6, total.late,
                      double(total.max_lag_ns) / 1e6);
        pacing_json = buf;
    }
    if (o.json) {
        std::printf(
            "{\"proto\":\"%s\",\"cmd\":\"%s\",\"connections\":%d,\"window\":%d,\"threads\":%d,"
            "\"body_bytes\":%zu,\"messages\":%" PRIu64 ",\"written\":%" PRIu64 ",\"ok\":%" PRIu64
            ",\"failed\":%" PRIu64 ",\"unanswered\":%" PRIu64
            ",\"errors\":{%s},\"connections_lost\":%" PRIu64
            ",\"seconds\":%.6f,\"msgs_per_s\":%.1f,"
            "\"latency_ms\":{\"p50\":%.4f,\"p99\":%.4f,\"p999\":%.4f,\"max\":%.4f},"
            "\"stopped_by\":\"%s\",\"duration\":%.3f,\"idle\":%d,\"idle_open\":%d,"
            "\"connect_seconds\":%.3f,\"pacing\":%s,\"http_batch\":%d}\n",
            ProtoName(o.proto), cmd, o.connections, o.window, o.threads,
            RequestEncoder(o).body_size(), o.messages, total.written, total.ok, total.failed,
            total.lost, errors_json.c_str(), total.connections_lost, seconds, msgs_per_s,
            ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), ms(h.Quantile(0.999)), ms(h.max()),
            stopped_by, o.duration, o.idle, idle_open, connect_seconds, pacing_json.c_str(),
            per_request);
    }
    std::fflush(stdout);
    if (protocol_error) return 1;
    return complete && total.failed == 0 && idle_open == o.idle ? 0 : 1;
}
