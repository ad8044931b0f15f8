// The WeChat Official Account template message (POST /cgi-bin/message/template/send): the
// template rendered with the push's data and client_msg_id (templates/ClientMsgId: the msgkey,
// or one derived from the message id, so that WeChat drops a resend), the access_token in the
// URL, and a reply of {"errcode","errmsg","msgid"} classified by delivery/ErrorClass.
#pragma once

#include "delivery/Channel.h"

namespace mega {

class WechatTemplateChannel : public Channel {
  public:
    std::string_view name() const override { return "wechat_template"; }
    Status Render(const DeliveryJob& job, std::string* body,
                  Template::Scratch* scratch) const override;
    void AppendUrl(std::string_view base, std::string_view token, std::string* url) const override;
    std::unique_ptr<ReplyReader> NewReplyReader() const override;
    Outcome Classify(bool transport_ok, long http_status, int errcode) const override;
};

}  // namespace mega
