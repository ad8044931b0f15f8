// Recalling a sent WeCom app message: POST /cgi-bin/message/recall?access_token= with
// {"msgid"} (WeCom allows it for 24 hours after the send). Blocking HTTP: call it off the
// event loop (base/OffLoop.h), never on the loop thread.
#pragma once

#include <cstdint>
#include <string>

#include "base/Status.h"
#include "delivery/TokenCache.h"

namespace mega {

constexpr int64_t kWecomRecallWindowMs = 24 * 3600 * 1000ll;

// Recalls `msgid` with the account's `tokens` (a refused token is refreshed and tried once
// more). Unavailable when WeCom could not be reached; Invalid with WeCom's errcode and errmsg
// when it refused (e.g. past 24 hours).
Status RecallWecomMessage(TokenCache& tokens, long timeout_ms, const std::string& msgid);

}  // namespace mega
