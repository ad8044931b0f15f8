// Which account a server-URL path names (/wechat/ACCOUNT) and its secrets: today only
// `default`, from [wechat]. FindEventAccount is the one place to extend for [account.NAME].
#pragma once

#include <string>
#include <string_view>

#include "base/Status.h"
#include "config/Config.h"

namespace mega {

struct EventAccount {
    std::string name;              // "default"
    std::string appid;             // checked after safe-mode decryption
    std::string token;             // signs every push (secret)
    std::string encoding_aes_key;  // safe mode; empty: plain mode only (secret)
};

// NotFound for a name no account has, or an account without a token (it cannot verify).
Status FindEventAccount(const Config& config, std::string_view name, EventAccount* out);

}  // namespace mega
