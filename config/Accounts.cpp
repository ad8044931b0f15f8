// Parsing and checking of the [account.NAME] sections (config/Accounts.h).
#include "config/Accounts.h"

#include <cstdlib>

#include "config/Config.h"
#include "config/ConfigKeys.h"

namespace mega {
namespace {

Status ParseWhole(const std::string& v, long long lo, long long hi, int* out) {
    long long n;
    if (!ParseWholeNumber(v, lo, hi, &n)) return Status::Invalid("expected a whole number");
    *out = int(n);
    return Status::Ok();
}

std::string DefaultApiBase(const std::string& type) {
    if (type == "wecom_app" || type == "wecom_robot") return "https://qyapi.weixin.qq.com";
    return "https://api.weixin.qq.com";
}

}  // namespace

bool IsAccountType(std::string_view type) {
    return type == "wechat_oa" || type == "wechat_mini" || type == "wecom_app" ||
           type == "wecom_robot" || type == "webhook";
}

const std::vector<std::string_view>& AccountKeys() {
    static const std::vector<std::string_view> kKeys = {"type",
                                                        "app_id",
                                                        "app_secret",
                                                        "corp_id",
                                                        "corp_secret",
                                                        "agent_id",
                                                        "robot_key",
                                                        "url",
                                                        "secret",
                                                        "token",
                                                        "encoding_aes_key",
                                                        "api_base",
                                                        "token_api",
                                                        "rate_burst",
                                                        "quota_probe_s",
                                                        "failover_healthy_s",
                                                        "rate_limit_per_second",
                                                        "robot_window_s"};
    return kKeys;
}

Status ApplyAccountKey(AccountConfig* a, std::string_view name, const std::string& value,
                       bool* known) {
    *known = true;
    std::string* text = name == "app_id"             ? &a->app_id
                        : name == "app_secret"       ? &a->app_secret
                        : name == "corp_id"          ? &a->corp_id
                        : name == "corp_secret"      ? &a->corp_secret
                        : name == "agent_id"         ? &a->agent_id
                        : name == "robot_key"        ? &a->robot_key
                        : name == "secret"           ? &a->secret
                        : name == "token"            ? &a->token
                        : name == "encoding_aes_key" ? &a->encoding_aes_key
                                                     : nullptr;
    if (text) {
        *text = value;
        return Status::Ok();
    }
    if (name == "type") {
        if (!IsAccountType(value))
            return Status::Invalid(
                "expected wechat_oa, wechat_mini, wecom_app, wecom_robot or webhook");
        a->type = value;
    } else if (name == "url" || name == "api_base") {
        auto& list = name == "url" ? a->url : a->api_base;
        list = SplitList(value);
        if (list.empty()) return Status::Invalid("expected at least one URL");
    } else if (name == "token_api") {
        if (value != "stable" && value != "classic")
            return Status::Invalid("expected stable or classic");
        a->stable_token = value == "stable";
    } else if (name == "rate_limit_per_second") {
        char* end = nullptr;
        const double r = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || r < 0 || r > 1e6)
            return Status::Invalid("expected a rate >= 0");
        a->rate_limit_per_second = r;
    } else if (name == "rate_burst") {
        return ParseWhole(value, 0, 1000000, &a->rate_burst);
    } else if (name == "quota_probe_s") {
        return ParseWhole(value, 0, 86400, &a->quota_probe_s);
    } else if (name == "robot_window_s") {
        return ParseWhole(value, 1, 3600, &a->robot_window_s);
    } else if (name == "failover_healthy_s") {
        return ParseWhole(value, 1, 86400, &a->failover_healthy_s);
    } else {
        *known = false;
    }
    return Status::Ok();
}

std::vector<AccountConfig> AllAccounts(const Config& c) {
    std::vector<AccountConfig> all;
    AccountConfig d;
    d.app_id = c.app_id;
    d.app_secret = c.app_secret;
    d.token = c.token;
    d.api_base = c.api_base;
    d.stable_token = c.stable_token;
    d.rate_limit_per_second = c.rate_limit_per_second;
    d.rate_burst = c.rate_burst;
    d.quota_probe_s = c.quota_probe_s;
    d.failover_healthy_s = c.failover_healthy_s;
    all.push_back(std::move(d));
    for (const AccountConfig& a : c.accounts) {
        all.push_back(a);
        if (all.back().api_base.empty()) all.back().api_base = {DefaultApiBase(a.type)};
    }
    return all;
}

Config ConfigForAccount(const Config& c, const AccountConfig& a) {
    Config out = c;
    out.accounts.clear();
    const bool wecom = a.type == "wecom_app";
    out.app_id = wecom ? a.corp_id : a.app_id;
    out.app_secret = wecom ? a.corp_secret : a.app_secret;
    out.token = a.token;
    out.api_base = a.type == "webhook" ? a.url : a.api_base;
    if (out.api_base.empty()) out.api_base = {DefaultApiBase(a.type)};
    out.stable_token = a.stable_token;
    out.rate_limit_per_second = a.rate_limit_per_second;
    out.rate_burst = a.rate_burst;
    out.quota_probe_s = a.quota_probe_s;
    out.failover_healthy_s = a.failover_healthy_s;
    return out;
}

std::vector<std::string> CheckAccounts(const Config& c) {
    std::vector<std::string> errors;
    for (const AccountConfig& a : c.accounts) {
        const std::string where = "[account." + a.name + "] ";
        auto need = [&](const std::string& value, const char* key) {
            if (value.empty()) errors.push_back(where + key + ": required for type " + a.type);
        };
        if (a.name.empty() || a.name == "default")
            errors.push_back(where + "the account `default` is the [wechat] section");
        if (a.type == "wechat_oa" || a.type == "wechat_mini") {
            need(a.app_id, "app_id");
            need(a.app_secret, "app_secret");
        } else if (a.type == "wecom_app") {
            need(a.corp_id, "corp_id");
            need(a.corp_secret, "corp_secret");
            need(a.agent_id, "agent_id");
            if (a.agent_id.find_first_not_of("0123456789") != std::string::npos)
                errors.push_back(where + "agent_id: expected the app's AgentId (digits)");
        } else if (a.type == "wecom_robot") {
            need(a.robot_key, "robot_key");
        } else if (a.type == "webhook") {
            if (a.url.empty()) errors.push_back(where + "url: required for type webhook");
            need(a.secret, "secret");
        }
    }
    return errors;
}

}  // namespace mega
