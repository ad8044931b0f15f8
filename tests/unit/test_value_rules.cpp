// Tests of the value rules checked before a call (delivery/ValueRules): each subscribe key
// type at and over its limit, and the template field cap.
#include <doctest/doctest.h>

#include "delivery/ValueRules.h"

using mega::CheckSubscribeValue;

TEST_CASE("subscribe values: each type at and over its rule") {
    CHECK(CheckSubscribeValue("thing1", std::string(20 * 3, 'a').substr(0, 20)).ok());
    CHECK(CheckSubscribeValue("thing1", "一二三四五六七八九十一二三四五六七八九十").ok());
    const mega::Status s =
        CheckSubscribeValue("thing1", "一二三四五六七八九十一二三四五六七八九十一");
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("data.thing1") != std::string::npos);
    CHECK(CheckSubscribeValue("number2", "-12.50").ok());
    CHECK_FALSE(CheckSubscribeValue("number2", "12a").ok());
    CHECK_FALSE(CheckSubscribeValue("number2", std::string(33, '1')).ok());
    CHECK(CheckSubscribeValue("letter3", "abc").ok());
    CHECK_FALSE(CheckSubscribeValue("letter3", "ab1").ok());
    CHECK(CheckSubscribeValue("symbol4", "%#").ok());
    CHECK_FALSE(CheckSubscribeValue("symbol4", "%%%%%%").ok());
    CHECK(CheckSubscribeValue("character_string5", "A-1_b").ok());
    CHECK_FALSE(CheckSubscribeValue("character_string5", "订单").ok());
    CHECK(CheckSubscribeValue("time6", "15:01").ok());
    CHECK(CheckSubscribeValue("date7", "2019年10月1日 15:01").ok());
    CHECK(CheckSubscribeValue("date7", "2019-10-01 ~ 2019-10-02").ok());
    CHECK_FALSE(CheckSubscribeValue("time6", "tomorrow").ok());
    CHECK(CheckSubscribeValue("amount8", "¥100.00").ok());
    CHECK_FALSE(CheckSubscribeValue("amount8", "¥12345678901").ok());
    CHECK(CheckSubscribeValue("phone_number9", "+86-10-12345678").ok());
    CHECK_FALSE(CheckSubscribeValue("phone_number9", "call me").ok());
    CHECK(CheckSubscribeValue("car_number10", "粤A12345").ok());
    CHECK_FALSE(CheckSubscribeValue("car_number10", "粤A1234567").ok());
    CHECK(CheckSubscribeValue("name11", "张三").ok());
    CHECK(CheckSubscribeValue("name11", "John Smith").ok());
    CHECK_FALSE(CheckSubscribeValue("name11", "一二三四五六七八九十一").ok());
    CHECK(CheckSubscribeValue("phrase12", "已发货").ok());
    CHECK_FALSE(CheckSubscribeValue("phrase12", "已经发货了吧").ok());
    CHECK_FALSE(CheckSubscribeValue("phrase12", "ok").ok());
    CHECK(CheckSubscribeValue("enum13", "anything at all, as long as the template lists it").ok());
}

TEST_CASE("bodies: every data value is checked; the template cap only when set") {
    const std::string body = R"({"touser":"o","data":{"thing1":{"value":"short"},)"
                             R"("thing2":{"value":"this value is longer than twenty"}}})";
    const mega::Status s = mega::CheckSubscribeBody(body);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("data.thing2") != std::string::npos);
    CHECK(mega::CheckTemplateBody(body, 0).ok());
    CHECK_FALSE(mega::CheckTemplateBody(body, 20).ok());
    CHECK(mega::CheckTemplateBody(body, 40).ok());
}
