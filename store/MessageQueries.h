// Reads of the message log for the admin API: the filtered message list, one message,
// the aggregates of the stats endpoint (counts by status, success rates, per template
// and per source) and the history buckets. Blocking MySQL calls: run them on the libuv
// thread pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"
#include "store/MessageHistory.h"

namespace mega {

struct MessageFilter {
    std::string status, openid, key, source, account, kind;
    int64_t from_ms = 0, to_ms = 0;
    uint64_t offset = 0, limit = 50;
};

struct MessageRow {
    uint64_t id = 0, msgid = 0;
    std::string openid, key, source, status, errmsg, body;
    std::string account, kind;  // the template's when it was queued (schema 008)
    std::string remote_msgid;   // WeCom's msgid of a sent WeCom app message (schema 010)
    int priority = 1, attempts = 0, errcode = 0;
    int64_t created_ms = 0, updated_ms = 0, sent_ms = 0;
    std::string attempt_log;       // GetMessage only (MessageTimeline.h)
    bool has_attempt_log = false;  // false: NULL, a row from before schema 006
};

struct LogSummary {
    struct Count {
        std::string name;
        uint64_t sent = 0, failed = 0;
    };
    std::vector<std::pair<std::string, uint64_t>> by_status;
    Count overall, today, last_hour;
    std::vector<Count> by_template, by_source;
};

Status ListMessages(const Config& config, const MessageFilter& filter, uint64_t* total,
                    std::vector<MessageRow>* rows);
Status GetMessage(const Config& config, uint64_t id, MessageRow* row);  // NotFound if absent
// The newest message logged with this msgkey; NotFound if none.
Status FindMessageByMsgkey(const Config& config, const std::string& msgkey, MessageRow* row);
// A sent message recalled (status `recalled`, `note` in errmsg); changes nothing otherwise.
Status MarkRecalled(const Config& config, uint64_t id, const std::string& note, int64_t now_ms);
Status SummarizeLog(const Config& config, int64_t now_ms, LogSummary* out);
// The buckets of `window` added up per step by MySQL (at most window.count rows).
Status ReadHistory(const Config& config, const HistoryWindow& window,
                   std::vector<HistoryPoint>* steps);

}  // namespace mega
