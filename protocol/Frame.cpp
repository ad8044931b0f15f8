// Frame decoding and encoding. The decoder validates lengths before trusting them: a frame
// larger than package_max_length is refused as soon as its length word arrives, and a
// smaller one is buffered only as its bytes come in. The buffer starts at one read chunk
// and at most doubles with each read of a partial frame, so memory stays within twice what
// the client actually sent; a buffer grown by a large frame is freed once it is consumed.
#include "protocol/Frame.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace mega::protocol {
namespace {

constexpr size_t kReadChunk = 64 * 1024;  // one read; pipelined frames arrive in batches

uint32_t LoadU32(const char* p) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return (uint32_t(u[0]) << 24) | (uint32_t(u[1]) << 16) | (uint32_t(u[2]) << 8) | u[3];
}

void PutU32(std::string* out, uint32_t v) {
    char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    out->append(b, 4);
}

// Takes the next space-separated word off `rest`; false if there is none or it is empty.
bool NextWord(std::string_view* rest, std::string_view* word) {
    if (rest->empty()) return false;
    size_t sp = rest->find(' ');
    *word = rest->substr(0, sp);
    *rest = sp == std::string_view::npos ? std::string_view{} : rest->substr(sp + 1);
    return !word->empty();
}

const char* CommandWord(Command c) {
    switch (c) {
        case Command::kPush:
            return "push";
        case Command::kSend:
            return "send";
        case Command::kTset:
            return "tset";
        case Command::kResult:
            return "result";
    }
    return "";
}

}  // namespace

char* FrameDecoder::Writable(size_t* len) {
    if (begin_ == end_) begin_ = end_ = 0;
    const size_t have = end_ - begin_;
    size_t want = kReadChunk;
    if (have >= 4) {  // a partial frame of known size: room for at most as much again
        const size_t total = 4 + size_t(LoadU32(buf_.get() + begin_));
        if (total <= max_frame_bytes_ && total > have)
            want = std::max(kReadChunk, std::min(total - have, have));
    }
    const size_t needed = have + want;
    if (capacity_ > std::max(kReadChunk, 2 * needed)) {
        Reallocate(std::max(kReadChunk, needed));  // shrink after a large frame
    } else if (capacity_ - end_ < want && capacity_ - end_ < kReadChunk / 2) {
        if (begin_ > 0) {  // the consumed prefix goes first
            std::memmove(buf_.get(), buf_.get() + begin_, have);
            begin_ = 0;
            end_ = have;
        }
        if (capacity_ - end_ < want) Reallocate(std::max(kReadChunk, needed));
    }
    *len = capacity_ - end_;
    return buf_.get() + end_;
}

void FrameDecoder::Reallocate(size_t capacity) {
    const size_t have = end_ - begin_;
    auto fresh = std::make_unique_for_overwrite<char[]>(capacity);
    if (have > 0) std::memcpy(fresh.get(), buf_.get() + begin_, have);
    buf_ = std::move(fresh);
    capacity_ = capacity;
    begin_ = 0;
    end_ = have;
}

void FrameDecoder::ReleaseIfEmpty() {
    if (begin_ != end_) return;
    buf_.reset();
    capacity_ = begin_ = end_ = 0;
}

void FrameDecoder::Append(std::string_view bytes) {
    while (!bytes.empty()) {
        size_t len;
        char* p = Writable(&len);
        const size_t n = std::min(len, bytes.size());
        std::memcpy(p, bytes.data(), n);
        Commit(n);
        bytes.remove_prefix(n);
    }
}

FrameDecoder::Result FrameDecoder::Next(Frame* f) {
    const size_t avail = end_ - begin_;
    if (avail < 4) return Result::kNeedMore;
    const char* p = buf_.get() + begin_;
    const size_t pack = LoadU32(p);
    if (4 + pack > max_frame_bytes_) {
        error_ = "Package too big";
        return Result::kError;
    }
    if (avail < 4 + pack) return Result::kNeedMore;

    error_ = "Unknown command";
    const char* q = p + 4;
    const char* end = q + pack;
    if (pack < 8) return Result::kError;
    const size_t hlen = LoadU32(q);
    q += 4;
    if (hlen > size_t(end - q) || size_t(end - q) - hlen < 4) return Result::kError;
    std::string_view rest(q, hlen), word;
    q += hlen;
    *f = Frame{};
    f->opaque = LoadU32(q);
    q += 4;
    // The optional length-prefixed tail (body of push/send, message of result).
    bool has_tail = false;
    if (q != end) {
        if (end - q < 4) return Result::kError;
        const size_t blen = LoadU32(q);
        q += 4;
        if (blen != size_t(end - q)) return Result::kError;
        f->body = std::string_view(q, blen);
        has_tail = true;
    }
    if (!NextWord(&rest, &word)) return Result::kError;
    if (word == "push" || word == "send") {
        f->command = word == "push" ? Command::kPush : Command::kSend;
        if (!NextWord(&rest, &f->openid) || !NextWord(&rest, &f->key)) return Result::kError;
    } else if (word == "tset") {
        f->command = Command::kTset;
        if (!NextWord(&rest, &f->key)) return Result::kError;
    } else if (word == "result") {
        f->command = Command::kResult;
        std::string_view code;
        if (!NextWord(&rest, &code) || !has_tail || code.size() > 9) return Result::kError;
        for (char c : code) {
            if (c < '0' || c > '9') return Result::kError;
            f->code = f->code * 10 + uint32_t(c - '0');
        }
    } else {
        return Result::kError;
    }
    f->options = rest;
    begin_ += 4 + pack;
    error_ = "";
    return Result::kFrame;
}

void AppendResult(std::string* out, uint32_t code, uint32_t opaque, std::string_view message) {
    char header[24] = "result ";
    const int hlen = int(std::to_chars(header + 7, header + sizeof header, code).ptr - header);
    PutU32(out, uint32_t(4 + hlen + 4 + 4 + message.size()));
    PutU32(out, uint32_t(hlen));
    out->append(header, size_t(hlen));
    PutU32(out, opaque);
    PutU32(out, uint32_t(message.size()));
    out->append(message);
}

void AppendRequest(std::string* out, Command command, std::string_view openid, std::string_view key,
                   uint32_t opaque, std::string_view body, std::string_view options) {
    const std::string_view word = CommandWord(command);
    size_t hlen = word.size() + 1 + key.size();
    if (command != Command::kTset) hlen += openid.size() + 1;
    if (!options.empty()) hlen += 1 + options.size();
    const bool has_body = command != Command::kTset;
    PutU32(out, uint32_t(4 + hlen + 4 + (has_body ? 4 + body.size() : 0)));
    PutU32(out, uint32_t(hlen));
    out->append(word);
    out->push_back(' ');
    if (command != Command::kTset) {
        out->append(openid);
        out->push_back(' ');
    }
    out->append(key);
    if (!options.empty()) {
        out->push_back(' ');
        out->append(options);
    }
    PutU32(out, opaque);
    if (has_body) {
        PutU32(out, uint32_t(body.size()));
        out->append(body);
    }
}

bool ParseOptions(std::string_view words, std::vector<Option>* out, std::string_view* bad) {
    out->clear();
    std::string_view word;
    while (!words.empty()) {
        if (!NextWord(&words, &word)) continue;  // tolerate doubled spaces between options
        size_t eq = word.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            *bad = word;
            return false;
        }
        out->push_back({word.substr(0, eq), word.substr(eq + 1)});
    }
    return true;
}

}  // namespace mega::protocol
