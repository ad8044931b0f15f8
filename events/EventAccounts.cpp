// FindEventAccount over [wechat] (the account `default`).
#include "events/EventAccounts.h"

namespace mega {

Status FindEventAccount(const Config& config, std::string_view name, EventAccount* out) {
    if (name != "default" || config.token.empty()) return Status::NotFound("no such account");
    out->name = "default";
    out->appid = config.app_id;
    out->token = config.token;
    out->encoding_aes_key = config.encoding_aes_key;
    return Status::Ok();
}

}  // namespace mega
