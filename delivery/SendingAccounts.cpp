// SendingAccounts: one TokenCache per account, and the kind → channel table.
#include "delivery/SendingAccounts.h"

namespace mega {

namespace {

WechatSendOptions Options(const Config& c, WechatSendOptions::Call call) {
    WechatSendOptions o;
    o.call = call;
    o.template_max_chars = size_t(c.template_value_max_chars);
    o.reject_missing = c.missing_var_reject;
    return o;
}

}  // namespace

SendingAccounts::SendingAccounts(const Config& config)
    : template_(Options(config, WechatSendOptions::Call::kTemplate)),
      biz_subscribe_(Options(config, WechatSendOptions::Call::kBizSubscribe)),
      mini_subscribe_(Options(config, WechatSendOptions::Call::kMiniSubscribe)),
      robot_(Options(config, WechatSendOptions::Call::kRobot)) {
    for (AccountConfig& a : AllAccounts(config)) {
        auto s = std::make_unique<SendingAccount>();
        s->config = ConfigForAccount(config, a);
        s->account = std::move(a);
        const std::string& type = s->account.type;
        // A robot's key and a webhook's URL are fixed: no token to fetch.
        s->tokens = type == "wecom_robot"
                        ? std::make_unique<TokenCache>(s->config, s->account.robot_key)
                    : type == "webhook" ? std::make_unique<TokenCache>(s->config, "")
                    : type == "wecom_app"
                        ? std::make_unique<TokenCache>(s->config, TokenCache::WecomGettoken{})
                        : std::make_unique<TokenCache>(s->config);
        webhooks_.push_back(type == "webhook" ? std::make_unique<WebhookChannel>(s->account.secret)
                                              : nullptr);
        wecom_apps_.push_back(
            type == "wecom_app" ? std::make_unique<WecomAppChannel>(s->account.agent_id) : nullptr);
        accounts_.push_back(std::move(s));
    }
}

int SendingAccounts::Find(std::string_view name) const {
    for (size_t i = 0; i < accounts_.size(); ++i)
        if (accounts_[i]->account.name == name) return int(i);
    return -1;
}

const Channel* SendingAccounts::ChannelFor(size_t i, std::string_view kind,
                                           std::string* error) const {
    const AccountConfig& a = accounts_[i]->account;
    if (a.type == "wechat_oa" && kind == "template") return &template_;
    if (a.type == "wechat_oa" && kind == "subscribe") return &biz_subscribe_;
    if (a.type == "wechat_mini" && kind == "subscribe") return &mini_subscribe_;
    if (a.type == "wecom_robot" && kind == "message") return &robot_;
    if (a.type == "webhook" && kind == "message") return webhooks_[i].get();
    if (a.type == "wecom_app" && kind == "message") return wecom_apps_[i].get();
    *error =
        "account " + a.name + " (" + a.type + ") does not send kind `" + std::string(kind) + "`";
    return nullptr;
}

}  // namespace mega
