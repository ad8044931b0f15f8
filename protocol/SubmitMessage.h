// SubmitMessage: one message as JSON (a POST /v1/messages body, an outbox row), turned into
// what a push frame carries (openid, template key, data as JSON text, and the option words
// of protocol/README.md), so that it takes the push's own path into the queue. The JSON comes
// from outside: every member is checked for its type, and an unknown member is an error.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

#include "base/Status.h"

namespace mega {

struct SubmitMessage {
    std::string openid, key, data, options;
};

// Reads `message` ({"key","openid","data",priority,delay|at,msgkey,tries,source,account}).
// `source`: the API key's name, used when the message names none. `msgkey`: the request's
// Idempotency-Key, used when the message has none (empty: none). Invalid, naming the member,
// when a member is missing, of the wrong type, or unknown.
Status ParseSubmitMessage(const rapidjson::Value& message, std::string_view source,
                          std::string_view msgkey, SubmitMessage* out);

}  // namespace mega
