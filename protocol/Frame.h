// The Mega-Wechat wire protocol: length-prefixed frames, big-endian u32 fields.
//   request = packLength headerLength header opaque [bodyLength body]
//   reply   = packLength headerLength header opaque msgLength msg
// FrameDecoder is a streaming decoder that owns its read buffer (libuv reads straight into
// it) and yields views into that buffer, so decoding allocates nothing per frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mega::protocol {

enum class Command { kPush, kSend, kTset, kResult };

// A decoded frame. Every view points into the decoder's buffer and stays valid until the
// next call to FrameDecoder::Next() or Writable().
struct Frame {
    Command command = Command::kPush;
    std::string_view openid;   // push/send
    std::string_view key;      // push/send/tset
    std::string_view options;  // header words after the standard ones ("a=1 b=2"), may be empty
    uint32_t opaque = 0;
    std::string_view body;  // push/send: JSON text; result: message
    uint32_t code = 0;      // result only
};

class FrameDecoder {
  public:
    enum class Result { kFrame, kNeedMore, kError };

    explicit FrameDecoder(size_t max_frame_bytes = 2465792) : max_frame_bytes_(max_frame_bytes) {}

    // Space to read into (at least one byte). It grows with what has arrived, never with
    // what a length word announces: a client must send bytes to make the decoder allocate.
    // Call Commit(n) with what was read.
    char* Writable(size_t* len);
    void Commit(size_t n) { end_ += n; }
    void Append(std::string_view bytes);  // for callers that do not read in place
    // Frees the buffer when nothing is buffered (an idle connection holds no memory).
    void ReleaseIfEmpty();
    size_t capacity() const { return capacity_; }

    // Decodes the next complete frame. kError sets error() to the reply text the original
    // sends ("Unknown command", "Package too big"); the connection must then be closed.
    Result Next(Frame* frame);
    const char* error() const { return error_; }

    size_t buffered() const { return end_ - begin_; }

  private:
    void Reallocate(size_t capacity);  // keeps the unread bytes, at the front

    size_t max_frame_bytes_;
    std::unique_ptr<char[]> buf_;  // uninitialised: the kernel writes it
    size_t capacity_ = 0;
    size_t begin_ = 0, end_ = 0;
    const char* error_ = "";
};

// Appends an encoded frame to `out` (no allocation when `out` has capacity).
void AppendResult(std::string* out, uint32_t code, uint32_t opaque, std::string_view message);
void AppendRequest(std::string* out, Command command, std::string_view openid, std::string_view key,
                   uint32_t opaque, std::string_view body, std::string_view options = {});

// Splits "a=1 b=2" into name/value pairs; returns false on a word without '='.
struct Option {
    std::string_view name, value;
};
bool ParseOptions(std::string_view words, std::vector<Option>* out, std::string_view* bad);

}  // namespace mega::protocol
