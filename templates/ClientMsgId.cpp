// ClientMsgId: a msgkey as it is, or an id written into a fixed buffer (no allocation: the
// sender threads build one per send).
#include "templates/ClientMsgId.h"

#include <charconv>
#include <cstring>

namespace mega {
namespace {

// The derived forms fit: the prefix and 20 digits (UINT64_MAX), or "k" and 16 hex digits.
static_assert(ClientMsgId::kPrefix.size() + 20 <= ClientMsgId::kMaxBytes);
static_assert(ClientMsgId::kPrefix.size() + 1 + 16 <= ClientMsgId::kMaxBytes);

// 64-bit FNV-1a: fixed by its definition, so the same on every build and every restart.
uint64_t Fnv1a64(std::string_view bytes) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

char* AppendPrefix(char* out, std::string_view extra) {
    std::memcpy(out, ClientMsgId::kPrefix.data(), ClientMsgId::kPrefix.size());
    out += ClientMsgId::kPrefix.size();
    std::memcpy(out, extra.data(), extra.size());
    return out + extra.size();
}

}  // namespace

ClientMsgId::ClientMsgId(std::string_view msgkey, uint64_t message_id) {
    if (!msgkey.empty() && msgkey.size() <= kMaxBytes && !msgkey.starts_with(kPrefix)) {
        view_ = msgkey;
        return;
    }
    char* const end = buf_.data() + buf_.size();
    char* out;
    if (msgkey.empty()) {
        out = std::to_chars(AppendPrefix(buf_.data(), ""), end, message_id).ptr;
    } else {
        static constexpr char kHex[] = "0123456789abcdef";
        out = AppendPrefix(buf_.data(), "k");
        const uint64_t h = Fnv1a64(msgkey);
        for (int shift = 60; shift >= 0; shift -= 4) *out++ = kHex[(h >> shift) & 0xf];
    }
    view_ = std::string_view(buf_.data(), size_t(out - buf_.data()));
}

}  // namespace mega
