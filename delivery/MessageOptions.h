// The extension words of a push/send header (`priority=high delay=30 msgkey=order-1881
// tries=5 source=shop callback=crm`), documented in protocol/README.md. Parsed once when the frame
// arrives (to validate and route it) and again from the stored record when it is sent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/Status.h"
#include "queue/Message.h"

namespace mega {

struct MessageOptions {
    Priority priority = Priority::kNormal;
    int64_t not_before_ms = 0;  // from delay= or at=
    int tries = 0;              // 0 = the configured [retry] tries
    std::string_view msgkey;
    std::string_view source;
    uint64_t task = 0;          // the batch task that queued it (set by the server's task runner)
    std::string_view callback;  // callback=NAME: [callback.NAME] hears of its status changes
};

// Parses `words` with `now_ms` as the time of arrival. Invalid, with the reply text
// ("unknown option NAME" or "bad value for NAME"), when a word is not a valid option.
Status ParseMessageOptions(std::string_view words, int64_t now_ms, MessageOptions* out);

}  // namespace mega
