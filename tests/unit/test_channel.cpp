// delivery/WechatTemplateChannel: the first channel behind the Channel seam. Its URL, its
// reading of WeChat's replies (only the top-level errcode and msgid count; anything else is
// not understood), its rendering through the template with a client_msg_id on every message
// (templates/ClientMsgId), and its classification.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "delivery/WechatTemplateChannel.h"
#include "templates/ClientMsgId.h"

using mega::ChannelReply;
using mega::ClientMsgId;
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

namespace {

// The body the channel renders for message `id` with `msgkey`, with a minimal template.
std::string RenderBody(std::string_view msgkey, uint64_t id) {
    const WechatTemplateChannel c;
    mega::DeliveryJob job;
    REQUIRE(mega::Template::Parse("k", R"({"touser":"${OPENID}"})", &job.tmpl).ok());
    job.openid = "oX";
    job.msgkey = msgkey;
    job.id = id;
    std::string body;
    mega::Template::Scratch scratch;
    REQUIRE(c.Render(job, &body, &scratch).ok());
    return body;
}

std::string IdOf(std::string_view msgkey, uint64_t id) {
    return std::string(ClientMsgId(msgkey, id).view());
}

}  // namespace

TEST_CASE("WechatTemplateChannel: without a msgkey, client_msg_id comes from the message id") {
    const uint64_t id = (uint64_t(1764625000123) << 20) | 7;  // unix ms << 20 | counter
    const std::string body = RenderBody("", id);
    CHECK(body == R"({"client_msg_id":"mega-)" + std::to_string(id) + R"(","touser":"oX"})");
    CHECK(RenderBody("", id) == body);      // every send (and every restart) alike
    CHECK(RenderBody("", id + 1) != body);  // another message, another id
    CHECK(IdOf("", UINT64_MAX) == "mega-18446744073709551615");  // the longest: 25 bytes
    CHECK(IdOf("", 0) == "mega-0");
}

TEST_CASE("WechatTemplateChannel: a msgkey longer than WeChat takes maps to a stable short id") {
    // Up to kMaxBytes, a msgkey is sent as it is.
    const std::string k32(ClientMsgId::kMaxBytes, 'a');
    CHECK(IdOf(k32, 1) == k32);
    CHECK(RenderBody("order-1881", 1) == R"({"client_msg_id":"order-1881","touser":"oX"})");
    // Longer: "mega-k" and 16 hex digits of its 64-bit FNV-1a (fixed: the same id after an
    // upgrade, so WeChat still drops a resend of a message sent by the previous version).
    const std::string key39 = "order-2024-000123/customer-88412/line-7";
    CHECK(IdOf(key39, 1) == "mega-k70a16b7301bb56e7");
    CHECK(IdOf(key39, 2) == IdOf(key39, 1));  // the key's, whatever the message id
    CHECK(RenderBody(key39, 1) == R"({"client_msg_id":"mega-k70a16b7301bb56e7","touser":"oX"})");
    const std::string k128(128, 'x');  // the longest msgkey the protocol accepts
    const std::string k33 = k32 + "a";
    for (const std::string& k : {k33, k128, k128.substr(0, 127) + "y"}) {
        CAPTURE(k);
        const std::string id = IdOf(k, 1);
        CHECK(id.size() == ClientMsgId::kPrefix.size() + 1 + 16);
        CHECK(id.size() <= ClientMsgId::kMaxBytes);
        CHECK(id.starts_with("mega-k"));
    }
    CHECK(IdOf(k128, 1) != IdOf(k128.substr(0, 127) + "y", 1));
    CHECK(IdOf(k33, 1) != IdOf(k128, 1));
}

TEST_CASE("WechatTemplateChannel: a msgkey never takes another message's client_msg_id") {
    // A msgkey in the derived ids' namespace is mapped as well: "mega-5" as a msgkey is not
    // the client_msg_id of message 5 (WeChat would drop one of the two for the same openid).
    CHECK(IdOf("", 5) == "mega-5");
    CHECK(IdOf("mega-5", 9) != "mega-5");
    CHECK(IdOf("mega-5", 9).starts_with("mega-k"));
    CHECK(IdOf("mega-k70a16b7301bb56e7", 9) != "mega-k70a16b7301bb56e7");
    CHECK(IdOf("mega", 9) == "mega");  // only the whole prefix is reserved
}
