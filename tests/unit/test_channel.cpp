// delivery/WechatTemplateChannel: the first channel behind the Channel seam. Its URL, its
// reading of WeChat's replies (only the top-level errcode and msgid count; anything else is
// not understood), its rendering through the template, and its classification.
#include <doctest/doctest.h>

#include <string>

#include "delivery/WechatTemplateChannel.h"

using mega::ChannelReply;
using mega::Outcome;
using mega::WechatTemplateChannel;

TEST_CASE("WechatTemplateChannel: the template/send URL with the token") {
    const WechatTemplateChannel c;
    std::string url;
    c.AppendUrl("https://api.weixin.qq.com", "TOKEN", &url);
    CHECK(url == "https://api.weixin.qq.com/cgi-bin/message/template/send?access_token=TOKEN");
}

TEST_CASE("WechatTemplateChannel: replies read into errcode and msgid") {
    const WechatTemplateChannel c;
    auto reader = c.NewReplyReader();
    ChannelReply r = reader->Read(R"({"errcode":0,"errmsg":"ok","msgid":200228332})");
    CHECK(r.understood);
    CHECK(r.errcode == 0);
    CHECK(r.msgid == 200228332);
    r = reader->Read(R"({"errmsg":"x","data":{"errcode":1},"errcode":40001})");
    CHECK(r.understood);
    CHECK(r.errcode == 40001);  // the top level's, not the nested one
    CHECK(r.msgid == 0);        // reset between replies
    CHECK_FALSE(reader->Read("<html>502 Bad Gateway</html>").understood);
    CHECK_FALSE(reader->Read(R"([{"errcode":0}])").understood);
    CHECK_FALSE(reader->Read(R"({"errmsg":"no code"})").understood);
    CHECK_FALSE(reader->Read("{\"a\":" + std::string(1'000'000, '[')).understood);
}

TEST_CASE("WechatTemplateChannel: renders through the template, classifies by ErrorClass") {
    const WechatTemplateChannel c;
    mega::DeliveryJob job;
    REQUIRE(mega::Template::Parse("k", R"({"touser":"${OPENID}","v":"${a}"})", &job.tmpl).ok());
    job.openid = "oX";
    job.data = R"({"a":"b"})";
    job.msgkey = "m1";
    std::string body;
    mega::Template::Scratch scratch;
    REQUIRE(c.Render(job, &body, &scratch).ok());
    CHECK(body == R"({"client_msg_id":"m1","touser":"oX","v":"b"})");
    CHECK(c.Classify(true, 200, 0) == Outcome::kSent);
    CHECK(c.Classify(true, 200, 45009) == Outcome::kQuota);
    CHECK(c.Classify(false, 0, mega::kErrcodeTransport) == Outcome::kTransient);
}
