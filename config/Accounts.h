// Accounts: named sets of credentials and limits, one per `[account.NAME]` section of the ini,
// plus the account `default` built from the original [wechat] section (so an original
// config works unchanged). Each account sends through the channel of its `type`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"

namespace mega {

struct Config;

struct AccountConfig {
    std::string name = "default";
    std::string type = "wechat_oa";  // wechat_oa | wechat_mini | wecom_app | wecom_robot | webhook
    std::string app_id, app_secret;  // wechat_oa, wechat_mini (secret: never logged)
    std::string corp_id, corp_secret, agent_id;  // wecom_app (secret: never logged)
    std::string robot_key;                       // wecom_robot (a secret: never logged)
    std::string secret;                          // webhook: the HMAC-SHA256 key (never logged)
    std::vector<std::string> url;                // webhook: target URLs in failover order
    std::string token, encoding_aes_key;         // its server URL (delivery events)
    std::vector<std::string> api_base;           // failover order; empty: the type's default
    bool stable_token = true;                    // token_api = stable | classic (WeChat)
    double rate_limit_per_second = 0;            // 0 = unlimited
    int rate_burst = 0;
    int quota_probe_s = 300;
    int failover_healthy_s = 60;
    // wecom_robot: at most 20 messages in any window of this many seconds (WeCom's limit is
    // 20 a minute; a shorter window is for tests).
    int robot_window_s = 60;
};

// True for the account types mega knows.
bool IsAccountType(std::string_view type);
// Applies `name` = `value` of an [account.X] section to `a`. *known is false when `name` is
// not an account key; Invalid names what is wrong with the value.
Status ApplyAccountKey(AccountConfig* a, std::string_view name, const std::string& value,
                       bool* known);
// The account keys (for the unknown-key warnings).
const std::vector<std::string_view>& AccountKeys();
// Every account of `c`: `default` (from [wechat]) first, then the [account.NAME] sections.
std::vector<AccountConfig> AllAccounts(const Config& c);
// `c` with its [wechat] values replaced by the account's (what TokenCache and ApiBases read).
Config ConfigForAccount(const Config& c, const AccountConfig& a);
// Problems of the [account.*] sections as a whole ("[account.x] type: ..."), empty if none.
std::vector<std::string> CheckAccounts(const Config& c);

}  // namespace mega
