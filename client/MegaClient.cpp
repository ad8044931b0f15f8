// MegaClient over a non-blocking socket: poll() supplies every timeout, requests are
// encoded into one output buffer that Pump writes as a batch, and replies are decoded with
// the protocol's FrameDecoder and matched to their callbacks by opaque. Any transport
// failure breaks the connection and fails every pending request with the same Status.
#include "client/MegaClient.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace mega::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxReadsPerPoll = 64;  // then let the caller write and run its loop

// Milliseconds left until `deadline`, rounded up, never negative.
int RemainingMs(Clock::time_point deadline) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    return left > 0x7fffffff ? 0x7fffffff : int(left);
}

Clock::time_point DeadlineAfter(int timeout_ms) {
    return Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
}

std::string ErrnoText(int err) {
    return std::strerror(err);
}

std::string CountOf(size_t n, const char* noun) {
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// A header word must be non-empty and free of the separator (and of control characters,
// which no openid or template key contains).
bool IsHeaderWord(std::string_view word) {
    if (word.empty()) return false;
    for (char c : word)
        if (static_cast<unsigned char>(c) <= ' ') return false;
    return true;
}

std::string_view TrimSpaces(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

struct AddrinfoDeleter {
    void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};

// Sets `flag` for the lifetime of the guard (Pump is not re-entrant).
class FlagGuard {
  public:
    explicit FlagGuard(bool* flag) : flag_(flag) { *flag_ = true; }
    ~FlagGuard() { *flag_ = false; }
    FlagGuard(const FlagGuard&) = delete;
    FlagGuard& operator=(const FlagGuard&) = delete;

  private:
    bool* flag_;
};

}  // namespace

Status ParseHostPort(std::string_view address, std::string* host, uint16_t* port) {
    std::string_view h, p;
    if (!address.empty() && address.front() == '[') {
        size_t close = address.find(']');
        if (close == std::string_view::npos || close + 1 >= address.size() ||
            address[close + 1] != ':')
            return Status::Invalid("bad address '" + std::string(address) +
                                   "' (want [v6addr]:port)");
        h = address.substr(1, close - 1);
        p = address.substr(close + 2);
    } else {
        size_t colon = address.rfind(':');
        if (colon == std::string_view::npos)
            return Status::Invalid("address '" + std::string(address) +
                                   "' has no port (want host:port)");
        h = address.substr(0, colon);
        p = address.substr(colon + 1);
        if (h.find(':') != std::string_view::npos)
            return Status::Invalid("bad address '" + std::string(address) +
                                   "' (write IPv6 addresses as [v6addr]:port)");
    }
    uint32_t value = 0;
    for (char c : p) {
        if (c < '0' || c > '9' || value > 65535) {
            value = 0;
            break;
        }
        value = value * 10 + uint32_t(c - '0');
    }
    if (p.empty() || value == 0 || value > 65535)
        return Status::Invalid("bad port in address '" + std::string(address) + "'");
    *host = std::string(h);
    *port = uint16_t(value);
    return Status::Ok();
}

MegaClient::MegaClient(ClientOptions options)
    : options_(options), decoder_(options.max_frame_bytes) {
    if (options_.window == 0) options_.window = 1;
}

MegaClient::~MegaClient() = default;

Status MegaClient::Connect(std::string_view address) {
    std::string host;
    uint16_t port = 0;
    Status s = ParseHostPort(address, &host, &port);
    if (!s.ok()) return s;
    return Connect(host, port);
}

Status MegaClient::Connect(const std::string& host_in, uint16_t port) {
    Close();
    std::string host = host_in;
    if (host.empty() || host == "0.0.0.0" || host == "*") host = "127.0.0.1";
    if (host == "::") host = "::1";
    const std::string port_text = std::to_string(port);
    peer_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port_text;

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found);
    if (rc != 0) {
        broken_ = Status::Unavailable("resolve " + peer_ + ": " + gai_strerror(rc));
        return broken_;
    }
    std::unique_ptr<addrinfo, AddrinfoDeleter> addresses(found);

    const auto deadline = DeadlineAfter(options_.connect_timeout_ms);
    std::string last_error = "no address";
    for (addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
        UniqueFd sock(::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!sock) {
            last_error = "socket: " + ErrnoText(errno);
            continue;
        }
        if (::connect(sock.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                last_error = ErrnoText(errno);
                continue;
            }
            pollfd p{sock.get(), POLLOUT, 0};
            int n;
            do {
                n = ::poll(&p, 1, RemainingMs(deadline));
            } while (n < 0 && errno == EINTR);
            if (n == 0) {
                last_error =
                    "timed out after " + std::to_string(options_.connect_timeout_ms) + " ms";
                continue;
            }
            int err = 0;
            socklen_t len = sizeof err;
            if (n < 0)
                err = errno;
            else if (::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
            if (err != 0) {
                last_error = ErrnoText(err);
                continue;
            }
        }
        int one = 1;
        ::setsockopt(sock.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fd_ = std::move(sock);
        broken_ = Status::Ok();
        decoder_ = protocol::FrameDecoder(options_.max_frame_bytes);
        out_.clear();
        out_sent_ = 0;
        return Status::Ok();
    }
    broken_ = Status::Unavailable("connect " + peer_ + ": " + last_error);
    return broken_;
}

void MegaClient::Close() {
    if (!fd_ && pending_.empty()) return;
    Fail(Status::IoError("connection to " + peer_ + " closed by client"));
}

Status MegaClient::Broken() const {
    return broken_.ok() ? Status::IoError("not connected") : broken_;
}

Status MegaClient::Fail(Status why) {
    broken_ = why;
    fd_.Reset();
    out_.clear();
    out_sent_ = 0;
    decoder_ = protocol::FrameDecoder(options_.max_frame_bytes);
    // Callbacks may Submit (refused now) or Close (a no-op now): work on a detached map.
    std::map<uint32_t, Callback> victims;
    victims.swap(pending_);
    for (auto& [opaque, callback] : victims) {
        Reply none;
        none.opaque = opaque;
        callback(why, none);
    }
    return why;
}

Status MegaClient::Submit(protocol::Command command, std::string_view openid, std::string_view key,
                          std::string_view data_json, std::string_view options, Callback callback,
                          uint32_t* opaque) {
    if (!fd_) return Broken();
    if (pending_.size() >= options_.window)
        return Status::Full("window of " + std::to_string(options_.window) +
                            " requests in flight is full");
    if (command == protocol::Command::kResult)
        return Status::Invalid("a client cannot send result frames");
    if (command != protocol::Command::kTset && !IsHeaderWord(openid))
        return Status::Invalid("openid '" + std::string(openid) +
                               "' must be one word without spaces");
    if (!IsHeaderWord(key))
        return Status::Invalid("template key '" + std::string(key) +
                               "' must be one word without spaces");
    options = TrimSpaces(options);
    if (data_json.empty()) data_json = "null";

    uint32_t op = next_opaque_;
    while (op == 0 || pending_.count(op) != 0) ++op;  // 0 is what the server uses for errors
    next_opaque_ = op + 1;

    const size_t before = out_.size();
    protocol::AppendRequest(&out_, command, openid, key, op, data_json, options);
    if (out_.size() - before > options_.max_frame_bytes) {
        const size_t size = out_.size() - before;
        out_.resize(before);
        return Status::Invalid("request of " + std::to_string(size) +
                               " bytes exceeds the frame limit of " +
                               std::to_string(options_.max_frame_bytes));
    }
    pending_.emplace(op, std::move(callback));
    if (opaque != nullptr) *opaque = op;
    return Status::Ok();
}

Status MegaClient::WriteSome(size_t* replies) {
    while (out_sent_ < out_.size()) {
        ssize_t n =
            ::send(fd_.get(), out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
        if (n > 0) {
            out_sent_ += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Status::Ok();
        const int err = n < 0 ? errno : EPIPE;
        // The server may have answered (a 500, say) and closed: hand out those replies first.
        Status read = ReadAvailable(replies);
        if (!fd_) return read.ok() ? Broken() : read;
        return Fail(Status::IoError("send to " + peer_ + ": " + ErrnoText(err)));
    }
    out_.clear();
    out_sent_ = 0;
    return Status::Ok();
}

Status MegaClient::ReadAvailable(size_t* replies) {
    for (int round = 0; round < kMaxReadsPerPoll && fd_; ++round) {
        size_t len = 0;
        char* space = decoder_.Writable(&len);
        ssize_t n = ::recv(fd_.get(), space, len, 0);
        if (n > 0) {
            decoder_.Commit(size_t(n));
            protocol::Frame frame;
            while (fd_) {
                auto r = decoder_.Next(&frame);
                if (r == protocol::FrameDecoder::Result::kNeedMore) break;
                if (r == protocol::FrameDecoder::Result::kError)
                    return Fail(Status::IoError("undecodable reply from " + peer_ + " (" +
                                                decoder_.error() + ")"));
                Status s = Dispatch(frame, replies);
                if (!s.ok()) return s;
            }
            if (size_t(n) < len) return Status::Ok();  // the socket is drained
            continue;
        }
        if (n == 0) {
            if (decoder_.buffered() > 0)
                return Fail(Status::IoError(
                    peer_ + " closed the connection in the middle of a reply (" +
                    std::to_string(decoder_.buffered()) + " bytes of an incomplete frame)"));
            if (!pending_.empty())
                return Fail(Status::IoError(peer_ + " closed the connection with " +
                                            CountOf(pending_.size(), "request") +
                                            " awaiting a reply"));
            broken_ = Status::IoError(peer_ + " closed the connection");
            fd_.Reset();
            out_.clear();
            out_sent_ = 0;
            return Status::Ok();
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::Ok();
        return Fail(Status::IoError("recv from " + peer_ + ": " + ErrnoText(errno)));
    }
    return Status::Ok();
}

Status MegaClient::Dispatch(const protocol::Frame& frame, size_t* replies) {
    if (frame.command != protocol::Command::kResult)
        return Fail(Status::IoError("unexpected request frame from " + peer_));
    auto it = pending_.find(frame.opaque);
    if (it == pending_.end()) {
        // Opaque 0 is the server refusing a frame it could not decode; it closes next.
        if (frame.opaque == 0 && frame.code != 200)
            return Fail(Status::IoError(
                peer_ + " rejected the request stream: " + std::to_string(frame.code) + " " +
                std::string(frame.body)));
        ++stray_replies_;
        return Status::Ok();
    }
    Callback callback = std::move(it->second);
    pending_.erase(it);
    Reply reply;
    reply.code = frame.code;
    reply.message = std::string(frame.body);
    reply.opaque = frame.opaque;
    ++*replies;
    callback(Status::Ok(), reply);
    return Status::Ok();
}

Status MegaClient::Pump(int timeout_ms, size_t* replies) {
    size_t handled = 0;
    if (replies != nullptr) *replies = 0;
    if (in_pump_) return Status::Invalid("MegaClient::Pump called from a reply callback");
    if (!fd_) return Broken();
    FlagGuard guard(&in_pump_);
    const auto deadline = DeadlineAfter(timeout_ms);
    Status s;
    while (fd_) {
        if (out_sent_ < out_.size()) {
            s = WriteSome(&handled);
            if (!s.ok()) break;
        }
        if (handled > 0 || (pending_.empty() && out_.empty())) break;
        const bool want_write = out_sent_ < out_.size();
        pollfd p{fd_.get(), short(POLLIN | (want_write ? POLLOUT : 0)), 0};
        int n = ::poll(&p, 1, RemainingMs(deadline));
        if (n < 0) {
            if (errno == EINTR) continue;
            s = Fail(Status::IoError("poll: " + ErrnoText(errno)));
            break;
        }
        if (n == 0) break;  // timed out
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            s = ReadAvailable(&handled);
            if (!s.ok()) break;
        }
    }
    if (replies != nullptr) *replies = handled;
    return s;
}

Status MegaClient::Drain(int timeout_ms) {
    const auto deadline = DeadlineAfter(timeout_ms);
    while (!pending_.empty()) {
        const int left = RemainingMs(deadline);
        if (left == 0)
            return Status::Unavailable(CountOf(pending_.size(), "request") +
                                       " still awaiting a reply from " + peer_ + " after " +
                                       std::to_string(timeout_ms) + " ms");
        Status s = Pump(left);
        if (!s.ok()) return s;
    }
    return Status::Ok();
}

Status MegaClient::Call(protocol::Command command, std::string_view openid, std::string_view key,
                        std::string_view data_json, std::string_view options, Reply* reply) {
    if (in_pump_) return Status::Invalid("blocking call from inside a reply callback");
    if (!fd_) return Broken();
    const auto deadline = DeadlineAfter(options_.io_timeout_ms);
    while (!CanSubmit()) {
        if (!fd_) return Broken();
        const int left = RemainingMs(deadline);
        if (left == 0)
            return Status::Unavailable("timed out waiting for room in the request window");
        Status s = Pump(left);
        if (!s.ok()) return s;
    }
    Reply local;
    if (reply == nullptr) reply = &local;
    bool done = false;
    Status result;
    uint32_t opaque = 0;
    Status s = Submit(
        command, openid, key, data_json, options,
        [&done, &result, reply](const Status& status, const Reply& r) {
            done = true;
            result = status;
            *reply = r;
        },
        &opaque);
    if (!s.ok()) return s;
    while (!done) {
        const int left = RemainingMs(deadline);
        if (left == 0) {
            pending_.erase(opaque);  // a late reply will be counted as stray
            return Status::Unavailable("no reply from " + peer_ + " within " +
                                       std::to_string(options_.io_timeout_ms) + " ms");
        }
        Status p = Pump(left);
        if (!p.ok() && !done) return p;
    }
    return result;
}

Status MegaClient::Push(std::string_view openid, std::string_view key, std::string_view data_json,
                        std::string_view options, Reply* reply) {
    return Call(protocol::Command::kPush, openid, key, data_json, options, reply);
}

Status MegaClient::Send(std::string_view openid, std::string_view key, std::string_view data_json,
                        std::string_view options, Reply* reply) {
    return Call(protocol::Command::kSend, openid, key, data_json, options, reply);
}

Status MegaClient::Tset(std::string_view key, Reply* reply) {
    return Call(protocol::Command::kTset, {}, key, {}, {}, reply);
}

}  // namespace mega::client
