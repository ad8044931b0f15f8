// A status callback: the JSON event mega POSTs to a [callback.NAME] url when a message
// reaches a status that callback lists, and its signature (HMAC-SHA256 with the callback's
// secret over TIMESTAMP + body, hex; headers X-Mega-Timestamp and X-Mega-Signature).
// The verification recipe is in docs/CALLBACKS.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mega {

struct CallbackEvent {
    uint64_t id = 0;
    std::string msgkey, source, account = "default", key, openid;
    std::string status;  // sent, failed, cancelled, delivered, blocked, undelivered
    int errcode = 0;
    std::string errmsg;
    uint64_t msgid = 0;      // WeChat's, once sent
    int64_t at_ms = 0;       // when the message reached `status`
    int64_t created_ms = 0;  // when it was accepted (0: not known here)
};

// {"id":"…","msgkey","source","account","key","openid","status","errcode","errmsg","msgid",
//  "at","created"}: one line (no raw line break), ids as strings.
std::string CallbackJson(const CallbackEvent& event);
// Lower-case hex HMAC-SHA256(secret, timestamp + body), the timestamp in decimal seconds.
std::string CallbackSignature(std::string_view secret, std::string_view timestamp,
                              std::string_view body);

}  // namespace mega
