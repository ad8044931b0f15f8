// The XML of WeChat's server-URL pushes, read with libexpat into a flat WechatEvent: the
// envelope of safe mode (<Encrypt>) and the events mega uses (TEMPLATESENDJOBFINISH and the
// subscribe_msg_* events, whose <List> items may repeat). Bounded: no DOCTYPE (no entities),
// at most 8 levels, 64 list items and 4 KiB per text; anything else is Invalid.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"

namespace mega {

// One <List> item of a subscribe_msg_* event.
struct SubscribeItem {
    std::string template_id;
    uint64_t msgid = 0;        // subscribe_msg_sent_event
    std::string error_code;    // subscribe_msg_sent_event: "0" or WeChat's code
    std::string error_status;  // subscribe_msg_sent_event: "success", "failed:…"
    std::string choice;        // popup/change: SubscribeStatusString, "accept" / "reject"
    std::string popup_scene;   // popup: "0" / "1" / "2"
};

struct WechatEvent {
    std::string to_user, from_user;  // ToUserName (the account), FromUserName (the openid)
    int64_t create_time = 0;
    std::string msg_type, event;  // "event", "TEMPLATESENDJOBFINISH"
    uint64_t msgid = 0;           // MsgID (also read from MsgId: some SDK samples spell it so)
    std::string status;           // TEMPLATESENDJOBFINISH: "success", "failed:user block", …
    std::string encrypt;          // safe mode: the <Encrypt> text
    std::vector<SubscribeItem> items;
};

Status ParseEventXml(std::string_view xml, WechatEvent* out);

}  // namespace mega
