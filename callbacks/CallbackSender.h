// CallbackSender: the status callbacks of [callback.NAME] sections, one CallbackLane each.
// Post() is called where a message reaches a status (the server's OnFinal for sent / failed /
// cancelled, the receipt writer for delivered / blocked / undelivered); it never blocks.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"
#include "callbacks/CallbackEvent.h"
#include "callbacks/CallbackLane.h"
#include "config/Config.h"

namespace mega {

class CallbackSender {
  public:
    explicit CallbackSender(const Config& config);
    Status Start();  // blocking, at start: every lane's journal
    // Any thread: queues the event for callback `name` if that callback lists its status.
    void Post(std::string_view name, const CallbackEvent& event);
    std::vector<CallbackCounts> Counts() const;

  private:
    const Config& config_;
    std::vector<std::unique_ptr<CallbackLane>> lanes_;  // in config_.callbacks order
};

// True if a callback with `events` hears of `status` (empty: every status).
bool CallbackWants(const Config::CallbackTarget& target, std::string_view status);

}  // namespace mega
