// The checks of one server-URL request, pure (no I/O), in the order WeChat's documentation
// gives them: the timestamp (at most 5 minutes away), the signature (plain: `signature`
// over token, timestamp, nonce; safe mode, `encrypt_type=aes`: `msg_signature` over those and
// the <Encrypt> text), the decryption and its appid, then the event's XML.
#pragma once

#include <cstdint>
#include <string>

#include "base/Status.h"
#include "events/EventAccounts.h"
#include "events/EventXml.h"
#include "http/HttpRequestParser.h"

namespace mega {

enum class PushRefusal : uint8_t { kNone, kSignature, kStale, kAppid, kMalformed };

constexpr int64_t kMaxPushAgeS = 300;  // a push this much older (or newer) is a replay

// GET: the echostr to answer, or Invalid (403).
Status VerifyUrl(const EventAccount& account, const HttpRequest& request, int64_t now_s,
                 std::string* echostr);
// POST: the event inside the request, or Invalid with *why saying which check refused it.
Status OpenPush(const EventAccount& account, const HttpRequest& request, int64_t now_s,
                WechatEvent* event, PushRefusal* why);

}  // namespace mega
