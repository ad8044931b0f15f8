// One event mega keeps from a WeChat push, as the journal stores it and the receipt writer
// applies it: a delivery receipt (by msgid) or a subscribe choice (by openid and template).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "events/EventXml.h"

namespace mega {

struct Receipt {
    enum class Kind : char { kDelivery = 'D', kChoice = 'C' };
    Kind kind = Kind::kDelivery;
    uint64_t msgid = 0;       // delivery
    std::string status;       // delivery: WeChat's status text; choice: "accept" / "reject"
    std::string openid;       // FromUserName
    std::string template_id;  // choice (and subscribe deliveries)
    std::string scene;        // choice: PopupScene ("" for a change event)
};

// The receipts an event carries (none for events mega does not use).
std::vector<Receipt> ReceiptsOf(const WechatEvent& event);
// One journal line: the fields tab-separated, tabs and line breaks in values made spaces.
std::string EncodeReceipt(const Receipt& r);
bool DecodeReceipt(std::string_view line, Receipt* out);  // without the '\n'

}  // namespace mega
