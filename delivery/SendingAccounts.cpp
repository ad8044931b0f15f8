// SendingAccounts: one TokenCache per account, and the kind → channel table.
#include "delivery/SendingAccounts.h"

namespace mega {

SendingAccounts::SendingAccounts(const Config& config, const Channel* template_channel)
    : template_channel_(template_channel) {
    for (AccountConfig& a : AllAccounts(config)) {
        auto s = std::make_unique<SendingAccount>();
        s->config = ConfigForAccount(config, a);
        s->account = std::move(a);
        if (s->account.type != "wechat_oa" && status_.ok())
            status_ = Status::Invalid("[account." + s->account.name + "] type " + s->account.type +
                                      ": not supported by this build yet");
        s->tokens = std::make_unique<TokenCache>(s->config);
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
    if (a.type == "wechat_oa" && kind == "template") return template_channel_;
    *error =
        "account " + a.name + " (" + a.type + ") does not send kind `" + std::string(kind) + "`";
    return nullptr;
}

}  // namespace mega
