// The accounts as delivery sees them: for each account (config/Accounts.h; `default` first)
// its own access-token cache and API bases, and the channel that sends each template kind
// through it. Built once at start; the sender threads read it, nobody changes it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"
#include "delivery/Channel.h"
#include "delivery/TokenCache.h"
#include "delivery/WebhookChannel.h"
#include "delivery/WechatTemplateChannel.h"
#include "delivery/WecomAppChannel.h"

namespace mega {

struct SendingAccount {
    AccountConfig account;
    Config config;  // the server's config with this account's [wechat] values (TokenCache reads it)
    std::unique_ptr<TokenCache> tokens;
};

class SendingAccounts {
  public:
    // Every account of `config`, and the channels they send through.
    explicit SendingAccounts(const Config& config);
    // Invalid when an account's type has no channel in this build.
    const Status& status() const { return status_; }

    size_t size() const { return accounts_.size(); }
    SendingAccount& at(size_t i) { return *accounts_[i]; }
    const SendingAccount& at(size_t i) const { return *accounts_[i]; }
    // The index of the account `name`, or -1.
    int Find(std::string_view name) const;
    // The channel that sends a template of `kind` through account `i`; null (and *error
    // set) when that account type does not send that kind.
    const Channel* ChannelFor(size_t i, std::string_view kind, std::string* error) const;

  private:
    std::vector<std::unique_ptr<SendingAccount>> accounts_;
    WechatTemplateChannel template_, biz_subscribe_, mini_subscribe_, robot_;
    std::vector<std::unique_ptr<WebhookChannel>> webhooks_;     // by account index (null: none)
    std::vector<std::unique_ptr<WecomAppChannel>> wecom_apps_;  // by account index (null: none)
    Status status_;
};

}  // namespace mega
