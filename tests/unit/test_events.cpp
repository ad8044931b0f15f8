// The events module's pure parts: safe-mode decryption against a vector made by an
// independent implementation (tests/vectors/make_safe_mode_vector.py, python3-cryptography),
// the signatures, PushCheck's refusals, the XML reader and the journal line codec.
#include <doctest/doctest.h>

#include "events/EventXml.h"
#include "events/PushCheck.h"
#include "events/Receipt.h"
#include "events/WechatCrypto.h"
#include "store/Receipts.h"

using namespace mega;

namespace {

// tests/vectors/make_safe_mode_vector.py prints these.
constexpr const char* kVectorEncrypt =
    "Q3stYC6hdFzMh9T8HCvyDHBEfCyMYHKzZviFny3pbA+"
    "LnCJjduZgFojHz6h5N6mhb0bxE3UnvZQwiAdXdRDkF6kdPG1kEEJtJrd7tXbu8RKTG9iMu+"
    "XYqo8tT9XUj5oAzISbZJJVXTObcNLiFfQKKhN4TCWazMCejD6rsnzoRGyMRG0msCjyWGz8lBIcK4RYbalmOVXfRU4Cgkqk"
    "VGUDDvA/+v9dzAs/Z3VOX3VY7D4rI6/sztfzsP7zktdgcNCayEnwTLp2y2FPR6nA5w6lkCuQKpvn/"
    "5SmWGp7w4nNxyVjU2GP8sLMyU6QJgT9/"
    "8fQMLbUrO7o56tcjYYzEr1qVqpbTPXGrsx+bxv1anbl5ycPN4o1LF3AEh41mbhoQTCw/"
    "NtkieTl8Ox8ZE8tPbkSMF+wRF9Z/"
    "O35l50mJ7F+3bwOCscVGutGB5QQ1vdiQVniZX4SCHHfTEcMdjt467q4yEk9QWL8+CHTDh+6LBLefZsf5oDcJNYYqBPq++"
    "FkQ/+o";
constexpr const char* kVectorMsgSignature = "1e2428475910d5caa64e1a33bec60b0e750a5bd4";
constexpr const char* kVectorKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
constexpr const char* kVectorAppid = "wx5823bf96d3bd56c7";
constexpr const char* kVectorXml =
    "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
    "<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>"
    "<CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>"
    "<Status><![CDATA[failed:user block]]></Status></xml>";

EventAccount TestAccount() {
    return {"default", kVectorAppid, "QDG6eK", kVectorKey};
}

HttpRequest SafePush(const std::string& timestamp, const std::string& signature) {
    HttpRequest r;
    r.method = "POST";
    r.query =
        "timestamp=" + timestamp + "&nonce=xxxxxx&encrypt_type=aes&msg_signature=" + signature;
    r.body = std::string(
                 "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><Encrypt>"
                 "<![CDATA[") +
             kVectorEncrypt + "]]></Encrypt></xml>";
    return r;
}

}  // namespace

TEST_CASE("safe mode decrypts a vector made by python3-cryptography to the expected XML") {
    SafeModeCipher cipher;
    REQUIRE(SafeModeCipher::Make(kVectorKey, kVectorAppid, &cipher).ok());
    std::string xml;
    REQUIRE(cipher.Decrypt(kVectorEncrypt, &xml).ok());
    CHECK(xml == kVectorXml);
    // and mega's own encryption with the same random bytes gives the same text
    CHECK(cipher.Encrypt(kVectorXml, "0123456789abcdef") == kVectorEncrypt);
}

TEST_CASE("safe mode refuses another appid, bad Base64 and a bad key") {
    SafeModeCipher other;
    REQUIRE(SafeModeCipher::Make(kVectorKey, "wxother", &other).ok());
    std::string xml;
    Status s = other.Decrypt(kVectorEncrypt, &xml);
    CHECK(s.message() == "appid does not match");
    CHECK(xml.empty());
    CHECK_FALSE(other.Decrypt("not base64!", &xml).ok());
    CHECK_FALSE(other.Decrypt("QUJD", &xml).ok());  // 3 bytes: not a block
    SafeModeCipher bad;
    CHECK_FALSE(SafeModeCipher::Make("short", "x", &bad).ok());
}

TEST_CASE("the signatures are SHA-1 over the sorted parts") {
    // WeChat's URL verification: sha1(sort(token, timestamp, nonce))
    CHECK(SortedSha1({"b", "a", "c"}) == SortedSha1({"a", "b", "c"}));
    CHECK(SortedSha1({"abc"}) == "a9993e364706816aba3e25717850c26c9cd0d89d");  // FIPS 180 sample
    CHECK(SortedSha1({"QDG6eK", "1409304348", "xxxxxx", kVectorEncrypt}) == kVectorMsgSignature);
}

TEST_CASE("OpenPush takes a good safe-mode push and refuses forged, stale and foreign ones") {
    const int64_t now = 1409304348;
    WechatEvent event;
    PushRefusal why;
    REQUIRE(OpenPush(TestAccount(), SafePush("1409304348", kVectorMsgSignature), now, &event, &why)
                .ok());
    CHECK(event.event == "TEMPLATESENDJOBFINISH");
    CHECK(event.msgid == 200163836);
    CHECK(event.status == "failed:user block");

    std::string forged = kVectorMsgSignature;
    forged[0] = forged[0] == '0' ? '1' : '0';
    CHECK_FALSE(OpenPush(TestAccount(), SafePush("1409304348", forged), now, &event, &why).ok());
    CHECK(why == PushRefusal::kSignature);
    CHECK_FALSE(OpenPush(TestAccount(), SafePush("1409304348", kVectorMsgSignature),
                         now + kMaxPushAgeS + 1, &event, &why)
                    .ok());
    CHECK(why == PushRefusal::kStale);
    EventAccount foreign = TestAccount();
    foreign.appid = "wxother";
    CHECK_FALSE(
        OpenPush(foreign, SafePush("1409304348", kVectorMsgSignature), now, &event, &why).ok());
    CHECK(why == PushRefusal::kAppid);
}

TEST_CASE("plain pushes and URL verification check `signature`") {
    EventAccount account = TestAccount();
    HttpRequest get;
    get.query = "timestamp=100&nonce=n1&echostr=hello&signature=" +
                SortedSha1({account.token, "100", "n1"});
    std::string echostr;
    CHECK(VerifyUrl(account, get, 100, &echostr).ok());
    CHECK(echostr == "hello");
    get.query = "timestamp=100&nonce=n1&echostr=hello&signature=00";
    CHECK_FALSE(VerifyUrl(account, get, 100, &echostr).ok());

    HttpRequest post;
    post.query = "timestamp=100&nonce=n1&signature=" + SortedSha1({account.token, "100", "n1"});
    post.body = kVectorXml;
    WechatEvent event;
    PushRefusal why;
    CHECK(OpenPush(account, post, 100, &event, &why).ok());
    CHECK(event.msgid == 200163836);
    post.body = "<xml><unclosed>";
    CHECK_FALSE(OpenPush(account, post, 100, &event, &why).ok());
    CHECK(why == PushRefusal::kMalformed);
}

TEST_CASE("subscribe events: List as one item or several; choices; no DOCTYPE") {
    WechatEvent e;
    REQUIRE(ParseEventXml("<xml><FromUserName>o1</FromUserName><Event>subscribe_msg_sent_event"
                          "</Event><SubscribeMsgSentEvent><List><TemplateId>T1</TemplateId>"
                          "<MsgID>11</MsgID><ErrorStatus>success</ErrorStatus></List><List>"
                          "<TemplateId>T2</TemplateId><MsgID>12</MsgID><ErrorStatus>failed:user "
                          "block</ErrorStatus></List></SubscribeMsgSentEvent></xml>",
                          &e)
                .ok());
    auto receipts = ReceiptsOf(e);
    REQUIRE(receipts.size() == 2);
    CHECK(receipts[1].msgid == 12);
    CHECK(receipts[1].status == "failed:user block");
    REQUIRE(ParseEventXml("<xml><FromUserName>o1</FromUserName><Event>subscribe_msg_change_event"
                          "</Event><SubscribeMsgChangeEvent><List><TemplateId>T1</TemplateId>"
                          "<SubscribeStatusString>reject</SubscribeStatusString></List>"
                          "</SubscribeMsgChangeEvent></xml>",
                          &e)
                .ok());
    receipts = ReceiptsOf(e);
    REQUIRE(receipts.size() == 1);
    CHECK(receipts[0].kind == Receipt::Kind::kChoice);
    CHECK(receipts[0].openid == "o1");
    CHECK(receipts[0].status == "reject");
    CHECK_FALSE(
        ParseEventXml("<!DOCTYPE xml [<!ENTITY a \"b\">]><xml><Status>&a;</Status></xml>", &e)
            .ok());
}

TEST_CASE("a journal line round-trips and tabs in values cannot add fields") {
    Receipt r{Receipt::Kind::kDelivery, 42, "failed: system\tfailed", "o\n1", "", ""};
    Receipt back;
    REQUIRE(DecodeReceipt(EncodeReceipt(r), &back));
    CHECK(back.msgid == 42);
    CHECK(back.status == "failed: system failed");
    CHECK(back.openid == "o 1");
    CHECK_FALSE(DecodeReceipt("X\t1\t\t\t\t", &back));
}

TEST_CASE("WeChat's status texts map to the receipt statuses") {
    ReceiptStatus s;
    REQUIRE(ReceiptStatusOf("success", &s));
    CHECK(s == ReceiptStatus::kDelivered);
    REQUIRE(ReceiptStatusOf("failed:user block", &s));
    CHECK(s == ReceiptStatus::kBlocked);
    REQUIRE(ReceiptStatusOf("failed: system failed", &s));
    CHECK(s == ReceiptStatus::kUndelivered);
    REQUIRE(ReceiptStatusOf("failed:freq limit", &s));
    CHECK(s == ReceiptStatus::kUndelivered);
    CHECK_FALSE(ReceiptStatusOf("whatever", &s));
}
