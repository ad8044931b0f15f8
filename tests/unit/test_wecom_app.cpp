// Tests of the WeCom app channel (delivery/WecomAppChannel): agentid and the duplicate check
// added to the rendered body, the reply's string msgid and invalid lists read, WeCom's codes
// classified (81013 permanent, 40014/42001 token).
#include <doctest/doctest.h>

#include "delivery/WecomAppChannel.h"

using mega::Outcome;

TEST_CASE("WecomAppChannel: the body gains agentid and the duplicate check") {
    const mega::WecomAppChannel c("1000002");
    mega::DeliveryJob job;
    REQUIRE(
        mega::Template::Parse(
            "k", R"({"touser":"${OPENID}","msgtype":"text","text":{"content":"${t}"}})", &job.tmpl)
            .ok());
    job.openid = "a|b";
    job.data = R"({"t":"hi"})";
    std::string body;
    mega::Template::Scratch scratch;
    REQUIRE(c.Render(job, &body, &scratch).ok());
    CHECK(body == R"({"touser":"a|b","msgtype":"text","text":{"content":"hi"},"agentid":1000002,)"
                  R"("enable_duplicate_check":1,"duplicate_check_interval":1800})");
    std::string url;
    c.AppendUrl("http://h", "TOK", &url);
    CHECK(url == "http://h/cgi-bin/message/send?access_token=TOK");
}

TEST_CASE("WecomAppChannel: the reply's string msgid and invalid receivers") {
    auto reader = mega::WecomAppChannel("1").NewReplyReader();
    auto r = reader->Read(
        R"({"errcode":0,"errmsg":"ok","invaliduser":"x|y","invalidparty":"","invalidtag":"7",)"
        R"("msgid":"abc_DEF-1","response_code":"r"})");
    CHECK(r.understood);
    CHECK(r.errcode == 0);
    CHECK(r.remote_msgid == "abc_DEF-1");
    CHECK(r.note == "invaliduser: x|y; invalidtag: 7");
    CHECK_FALSE(reader->Read("not json").understood);
    CHECK(reader->Read(R"({"errcode":81013,"errmsg":"x"})").errcode == 81013);
}

TEST_CASE("WecomAppChannel: WeCom's codes") {
    const mega::WecomAppChannel c("1");
    CHECK(c.Classify(true, 200, 0) == Outcome::kSent);
    CHECK(c.Classify(true, 200, 81013) == Outcome::kPermanent);
    CHECK(c.Classify(true, 200, 40014) == Outcome::kToken);
    CHECK(c.Classify(true, 200, 42001) == Outcome::kToken);
    CHECK(c.Classify(true, 200, 40001) == Outcome::kPermanent);
    CHECK(c.Classify(true, 200, 45009) == Outcome::kTransient);
}
