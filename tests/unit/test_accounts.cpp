// Tests of the [account.NAME] sections (config/Accounts): `default` from [wechat], each
// account's keys and defaults, the per-type required credentials, and bad values.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "config/Config.h"
#include "tests/unit/TempDir.h"

namespace {

mega::Status Load(const std::string& text, mega::Config* c) {
    mega::testing::TempDir dir("accounts");
    const std::string path = dir.path() + "/a.ini";
    std::ofstream(path, std::ios::binary) << text;
    return mega::Config::Load(path, c);
}

}  // namespace

TEST_CASE("[wechat] is the account `default`; [account.NAME] adds more") {
    mega::Config c;
    REQUIRE(Load("[wechat]\napp_id = wxd\napp_secret = s\nrate_limit_per_second = 7\n"
                 "[account.acme]\ntype = wechat_oa\napp_id = wxa\napp_secret = sa\n"
                 "api_base = http://a/, http://b\nrate_limit_per_second = 2.5\nrate_burst = 3\n"
                 "token_api = classic\nquota_probe_s = 0\n"
                 "[account.bot]\ntype = wecom_robot\nrobot_key = k\n",
                 &c)
                .ok());
    const auto all = mega::AllAccounts(c);
    REQUIRE(all.size() == 3);
    CHECK(all[0].name == "default");
    CHECK(all[0].app_id == "wxd");
    CHECK(all[0].rate_limit_per_second == 7);
    CHECK(all[1].name == "acme");
    CHECK(all[1].api_base == std::vector<std::string>{"http://a", "http://b"});
    CHECK(all[1].rate_limit_per_second == 2.5);
    CHECK(all[1].rate_burst == 3);
    CHECK_FALSE(all[1].stable_token);
    CHECK(all[1].quota_probe_s == 0);
    CHECK(all[2].api_base == std::vector<std::string>{"https://qyapi.weixin.qq.com"});
    const mega::Config acme = mega::ConfigForAccount(c, all[1]);
    CHECK(acme.app_id == "wxa");
    CHECK(acme.app_secret == "sa");
    CHECK(acme.rate_limit_per_second == 2.5);
}

TEST_CASE("an original config has the one account `default`") {
    mega::Config c;
    REQUIRE(Load("[wechat]\napp_id = wxd\napp_secret = s\n", &c).ok());
    CHECK(mega::AllAccounts(c).size() == 1);
}

TEST_CASE("bad account sections are refused with the section named") {
    mega::Config c;
    auto error = [&](const std::string& text) {
        const mega::Status s = Load(text, &c);
        REQUIRE_FALSE(s.ok());
        return s.message();
    };
    CHECK(error("[account.x]\ntype = fax\n").find("[account.x] type") != std::string::npos);
    CHECK(error("[account.x]\ntype = wechat_oa\napp_id = a\n").find("app_secret: required") !=
          std::string::npos);
    CHECK(error("[account.w]\ntype = webhook\nsecret = s\n").find("url: required") !=
          std::string::npos);
    CHECK(error("[account.default]\napp_id = a\napp_secret = b\n").find("[wechat] section") !=
          std::string::npos);
    CHECK(error("[account.x]\napp_id = a\napp_secret = b\nrate_burst = -1\n").find("rate_burst") !=
          std::string::npos);
}

TEST_CASE("an unknown key in [account.NAME] is a warning naming it") {
    mega::Config c;
    REQUIRE(Load("[account.x]\napp_id = a\napp_secret = b\napp_secrte = c\n", &c).ok());
    REQUIRE(c.warnings.size() == 1);
    CHECK(c.warnings[0].find("app_secrte") != std::string::npos);
}
