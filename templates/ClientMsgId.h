// The client_msg_id of a template message. WeChat sends one message per openid +
// client_msg_id within 10 minutes, so every send of a message (a retry after a timeout, or
// a resend after a crash and restart) carries the same one: its msgkey, or one derived from
// its message id. Both are in the queue record, so the id is the same after a restart.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mega {

class ClientMsgId {
  public:
    // The most bytes sent. WeChat documents no limit for the template message's
    // client_msg_id; the mass send's clientmsgid is documented as 64 bytes, and a user
    // reports a 36-byte UUID refused there (45067). 32 bytes keeps clear of both.
    static constexpr size_t kMaxBytes = 32;
    // Starts every derived id; a msgkey starting with it is mapped too, so that a msgkey can
    // never equal the id of another message.
    static constexpr std::string_view kPrefix = "mega-";

    // From `msgkey` (empty: none) and the message id. A msgkey of 1 to kMaxBytes bytes that
    // does not start with kPrefix is used as it is; no msgkey gives "mega-" and the decimal
    // message id; a longer (or "mega-") msgkey gives "mega-k" and 16 hex digits of its 64-bit
    // FNV-1a hash. Nothing is allocated.
    ClientMsgId(std::string_view msgkey, uint64_t message_id);
    ClientMsgId(const ClientMsgId&) = delete;  // view() may point into this object
    ClientMsgId& operator=(const ClientMsgId&) = delete;

    std::string_view view() const { return view_; }

  private:
    std::array<char, kMaxBytes> buf_;
    std::string_view view_;
};

}  // namespace mega
