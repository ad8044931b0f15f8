// The value rules WeChat applies to message fields, checked before a call so that a message
// that would be refused (47003) never spends quota: subscribe messages by each data key's
// type (the key's name without its digits: thing3 → thing; WECHAT-API.md lists the rules),
// template messages by the 20-character cap of May 2023 when it is switched on.
#pragma once

#include <string>
#include <string_view>

#include "base/Status.h"

namespace mega {

// Checks `value` of the subscribe data key `key` (thing1, time4, ...); Invalid names the key
// and the rule. Keys of types without a rule here (enum, unknown) pass.
Status CheckSubscribeValue(std::string_view key, std::string_view value);
// Checks every data.KEY.value of the rendered request `body` (a JSON object) with
// CheckSubscribeValue, or (when `max_chars` > 0, template messages) for at most that many
// characters.
Status CheckSubscribeBody(std::string_view body);
Status CheckTemplateBody(std::string_view body, size_t max_chars);

}  // namespace mega
