// A message's timeline for the dashboard: accepted, then each attempt with its outcome. The
// log writer appends one entry per status event to the row's `attempt_log` (schema 006): a
// compact JSON object each, joined by commas, so that MySQL only appends (CONCAT) and a read
// parses "[" + text + "]". BuildTimeline turns a row and its entries into the steps the admin
// API replies with, from the row's own columns where the entries are missing (rows written
// before 006, or a log that reached its size limit). Pure code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/MessageLog.h"
#include "store/MessageQueries.h"

namespace mega {

// attempt_log holds entries while it is below this many characters (a TEXT column).
constexpr size_t kAttemptLogChars = 8000;

struct AttemptEntry {
    int64_t at_ms = 0;
    LogStatus status = LogStatus::kRetrying;  // retrying, sent, failed or cancelled
    int attempt = 0;                          // the message's attempts after this event
    int errcode = 0;
    uint32_t latency_us = 0;  // the WeChat call; 0: none was made
    std::string errmsg;       // cut to 200 characters
};

// Appends the entry of a status event (not "queued" or "sending": false, nothing appended)
// to `log`, unless the log would pass kAttemptLogChars.
bool AppendAttemptEntry(const LogEvent& e, std::string* log);
// Parses the entries of an attempt_log; false (and `out` as far as it got) if it is damaged.
bool ParseAttemptLog(std::string_view text, std::vector<AttemptEntry>* out);

struct TimelineStep {
    // "queued", "retry" (an attempt failed, another follows), "sent", "failed", "cancelled"
    std::string event;
    int64_t at_ms = 0;
    int attempt = 0;
    int errcode = 0;
    std::string errmsg;
    int64_t latency_us = -1;  // -1: no WeChat call, or not known
    bool from_row = false;    // made from the row's columns, not from an entry
};

struct Timeline {
    std::vector<TimelineStep> steps;  // in time order
    bool itemized = false;            // every attempt has its own step
};

// `row.attempt_log` as read (has_attempt_log false: NULL, the row predates schema 006).
Timeline BuildTimeline(const MessageRow& row);

}  // namespace mega
