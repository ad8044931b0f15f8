// The WeChat Official Account template message (POST /cgi-bin/message/template/send): the
// template rendered with the push's data and client_msg_id (templates/ClientMsgId: the msgkey,
// or one derived from the message id, so that WeChat drops a resend), the access_token in the
// URL, and a reply of {"errcode","errmsg","msgid"} classified by delivery/ErrorClass.
// The same channel sends subscribe messages (subscribe/bizsend of an official account,
// subscribe/send of a mini program): no client_msg_id, and each data value checked against
// its key type's rule before the call (delivery/ValueRules.h).
#pragma once

#include <string>

#include "delivery/Channel.h"

namespace mega {

struct WechatSendOptions {
    // kRobot: a WeCom group robot's webhook/send?key= (the key in place of a token).
    enum class Call { kTemplate, kBizSubscribe, kMiniSubscribe, kRobot };
    Call call = Call::kTemplate;
    size_t template_max_chars = 0;  // template data values longer fail locally (0: no cap)
    bool reject_missing = false;    // [setting] missing_var = reject
};

class WechatTemplateChannel : public Channel {
  public:
    WechatTemplateChannel() = default;
    explicit WechatTemplateChannel(WechatSendOptions options) : options_(options) {}
    std::string_view name() const override;
    Status Render(const DeliveryJob& job, std::string* body,
                  Template::Scratch* scratch) const override;
    void AppendUrl(std::string_view base, std::string_view token, std::string* url) const override;
    std::unique_ptr<ReplyReader> NewReplyReader() const override;
    Outcome Classify(bool transport_ok, long http_status, int errcode) const override;

  private:
    WechatSendOptions options_;
};

}  // namespace mega
