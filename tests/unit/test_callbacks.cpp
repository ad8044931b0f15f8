// Status callbacks' pure parts: the signature (checked against Python's hmac module, the
// recipe docs/CALLBACKS.md gives receivers), the JSON event, which statuses a callback
// hears of, and the [callback] / [callback.NAME] sections of the ini.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "callbacks/CallbackEvent.h"
#include "callbacks/CallbackSender.h"
#include "config/Config.h"
#include "tests/unit/TempDir.h"

using namespace mega;

namespace {

Status LoadText(const std::string& text, Config* c) {
    testing::TempDir dir("callbacks");
    const std::string path = dir.path() + "/t.ini";
    std::ofstream(path) << text;
    return Config::Load(path, c);
}

}  // namespace

TEST_CASE("the callback signature is HMAC-SHA256 over timestamp + body, as Python computes it") {
    // python3 -c 'import hmac,hashlib; print(hmac.new(b"cb-secret",
    //             b"1764633600" + b"{\"id\":\"1\"}", hashlib.sha256).hexdigest())'
    CHECK(CallbackSignature("cb-secret", "1764633600", R"({"id":"1"})") ==
          "b6c2a142b5c77ef3ef879a4ddca99bca0e86b6b3746788046468bff47c15cdd3");
}

TEST_CASE("the callback event is one JSON line with ids as strings") {
    CallbackEvent e;
    e.id = 1850343424128974855ull;
    e.status = "delivered";
    e.openid = "o\n1";
    e.msgid = 200228332;
    const std::string json = CallbackJson(e);
    CHECK(json.find('\n') == std::string::npos);
    CHECK(json.find(R"("id":"1850343424128974855")") != std::string::npos);
    CHECK(json.find(R"("msgid":"200228332")") != std::string::npos);
    CHECK(json.find(R"("status":"delivered")") != std::string::npos);
}

TEST_CASE("[callback.NAME] sections: url, secret, events; bad values refused") {
    Config c;
    REQUIRE(LoadText("[callback]\nmax_age_s = 600\n[callback.crm]\nurl = http://h/x\n"
                     "secret = s\nevents = sent,delivered\n[callback.all]\nurl = https://a/\n",
                     &c)
                .ok());
    CHECK(c.callback_max_age_s == 600);
    REQUIRE(c.FindCallback("crm"));
    CHECK(c.FindCallback("crm")->url == "http://h/x");
    CHECK(CallbackWants(*c.FindCallback("crm"), "delivered"));
    CHECK_FALSE(CallbackWants(*c.FindCallback("crm"), "failed"));
    CHECK(CallbackWants(*c.FindCallback("all"), "failed"));  // no events: all of them
    CHECK_FALSE(c.FindCallback("nope"));
    CHECK_FALSE(LoadText("[callback.x]\nurl = ftp://h/\n", &c).ok());
    CHECK_FALSE(LoadText("[callback.x]\nurl = http://h/\nevents = sent,arrived\n", &c).ok());
    CHECK_FALSE(LoadText("[callback.x]\nsecret = s\n", &c).ok());  // no url
}
