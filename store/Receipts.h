// What WeChat's receipts change in MySQL (blocking: the receipt writer's thread, the thread
// pool): a sent message's status becomes delivered / blocked / undelivered, found by the
// msgid of its send reply; and the subscribe choices (who accepted or rejected which
// subscribe template), with the lookup a subscribe send asks before calling WeChat.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"
#include "store/MysqlSession.h"

namespace mega {

// The end a receipt gives a sent message.
enum class ReceiptStatus : uint8_t { kDelivered, kBlocked, kUndelivered };
const char* ReceiptStatusName(ReceiptStatus s);  // "delivered", "blocked", "undelivered"
// WeChat's Status / ErrorStatus text: "success" → delivered, "failed:user block" → blocked,
// any other "failed…" → undelivered; false for anything else.
bool ReceiptStatusOf(std::string_view wechat_status, ReceiptStatus* out);

enum class ReceiptResult : uint8_t {
    kApplied,  // the message was sent and now has the receipt's status
    kRepeat,   // it already had a receipt: nothing changed
    kNotYet,   // no sent message with this msgid (yet: the log may be behind, or unknown)
};
// The message a receipt found (what a status callback tells of it).
struct ReceiptMessage {
    uint64_t id = 0;
    std::string openid, key, source, msgkey, callback;
    int64_t created_ms = 0;
};
// Applies one receipt; `message` gets the message when one was found.
Status ApplyReceipt(MysqlSession& db, const Config& config, uint64_t msgid, ReceiptStatus status,
                    int64_t now_ms, ReceiptResult* result, ReceiptMessage* message);

// Stores the latest choice ("accept" / "reject") of `openid` for a subscribe template.
Status RecordSubscribeChoice(MysqlSession& db, const std::string& openid,
                             const std::string& template_id, const std::string& choice,
                             const std::string& scene, int64_t now_ms);
// Every (openid, template_id) whose latest choice is "reject": a subscribe send to it fails
// locally, with no call to WeChat (delivery/SubscribeChoices keeps them in memory).
Status LoadSubscribeRejections(MysqlSession& db,
                               std::vector<std::pair<std::string, std::string>>* out);

}  // namespace mega
