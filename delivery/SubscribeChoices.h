// SubscribeChoices: which openid rejected which subscribe template (WeChat's
// subscribe_msg_change_event, recorded by the events endpoint). The dispatcher asks it before
// a subscribe message is sent: a rejected one fails locally, without a call to WeChat.
// Loaded from MySQL at start, kept current by the receipt writer's thread; a mutex guards it,
// taken only for subscribe messages and for the (rare) change events.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace mega {

class SubscribeChoices {
  public:
    void Set(std::string_view openid, std::string_view template_id, bool rejected);  // any thread
    bool Rejected(std::string_view openid, std::string_view template_id) const;      // any thread
    size_t size() const;

  private:
    static std::string KeyOf(std::string_view openid, std::string_view template_id);
    mutable std::mutex mu_;
    std::unordered_set<std::string> rejected_;  // openid '\n' template_id
};

}  // namespace mega
