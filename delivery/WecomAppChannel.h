// The WeCom app message (POST /cgi-bin/message/send?access_token=): the template's JSON
// (any msgtype: text, markdown, textcard, news, template_card) rendered with the push, its
// `touser` a "|"-list from ${OPENID}; the channel adds the account's `agentid` and WeCom's
// duplicate check. The reply's msgid is a string (kept for recall) and its invaliduser /
// invalidparty / invalidtag lists become the note logged with a sent message.
#pragma once

#include <string>

#include "delivery/Channel.h"

namespace mega {

class WecomAppChannel : public Channel {
  public:
    // `agent_id`: the app's AgentId (digits, checked by CheckAccounts).
    explicit WecomAppChannel(std::string agent_id) : agent_id_(std::move(agent_id)) {}
    std::string_view name() const override { return "wecom_app"; }
    Status Render(const DeliveryJob& job, std::string* body,
                  Template::Scratch* scratch) const override;
    void AppendUrl(std::string_view base, std::string_view token, std::string* url) const override;
    std::unique_ptr<ReplyReader> NewReplyReader() const override;
    Outcome Classify(bool transport_ok, long http_status, int errcode) const override;

  private:
    std::string agent_id_;
};

// The seconds WeCom checks a repeat over (duplicate_check_interval; WeCom's default and max
// is 4 hours, its default 1800 s).
constexpr int kWecomDuplicateCheckS = 1800;

}  // namespace mega
