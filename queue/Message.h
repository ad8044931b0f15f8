// A queued message: what a push or send frame asked for, as stored in a queue record
// (layout in queue/FORMAT.md, "Message payload"). Encoding writes a fixed 40-byte header;
// the variable parts are appended from the frame's own buffer, so nothing is copied twice.
#pragma once

#include <cstdint>
#include <string_view>

namespace mega {

enum class MessageKind : uint8_t { kPush = 0, kSend = 1 };
enum class Priority : uint8_t { kHigh = 0, kNormal = 1, kLow = 2 };
inline constexpr int kPriorityLevels = 3;

struct Message {
    uint64_t id = 0;
    int64_t created_ms = 0;
    int64_t not_before_ms = 0;
    MessageKind kind = MessageKind::kPush;
    Priority priority = Priority::kNormal;
    std::string_view openid, key, data, options;
};

inline constexpr size_t kMessageHeaderBytes = 40;

// Fills the fixed header; append openid, key, data, options after it, in that order.
// The caller guarantees openid/key/options < 64 KiB (the frame decoder bounds them).
void EncodeMessageHeader(const Message& m, char (&out)[kMessageHeaderBytes]);
// Parses a record payload; the views point into `payload`. False if it is malformed.
bool DecodeMessage(std::string_view payload, Message* out);

}  // namespace mega
