// Unit tests for the error table (server/ErrorClass): every code WECHAT-API.md lists, the
// transport/HTTP rules, and the local codes the sender uses.
#include <doctest/doctest.h>

#include <initializer_list>
#include <string_view>

#include "delivery/ErrorClass.h"

using mega::Classify;
using mega::Outcome;

TEST_CASE("ErrorClass: success and duplicates count as sent") {
    CHECK(Classify(true, 200, 0) == Outcome::kSent);
    CHECK(Classify(true, 200, 40241) == Outcome::kSent);
}

TEST_CASE("ErrorClass: transport failures and HTTP errors are transient") {
    CHECK(Classify(false, 0, 0) == Outcome::kTransient);
    CHECK(Classify(false, 0, 43004) == Outcome::kTransient);  // errcode ignored without reply
    CHECK(Classify(true, 500, 0) == Outcome::kTransient);
    CHECK(Classify(true, 502, 0) == Outcome::kTransient);
    CHECK(Classify(true, 503, 43004) == Outcome::kTransient);
    CHECK(Classify(true, 404, 0) == Outcome::kTransient);  // a proxy, not WeChat
    CHECK(Classify(true, 200, mega::kErrcodeTransport) == Outcome::kTransient);
    CHECK(Classify(true, 200, mega::kErrcodeBadReply) == Outcome::kTransient);
    CHECK(Classify(true, 200, mega::kErrcodeNoToken) == Outcome::kTransient);
    CHECK(Classify(true, 200, mega::kErrcodeNotSent) == Outcome::kTransient);
}

TEST_CASE("ErrorClass: WeChat's transient codes") {
    for (int code : {-1, 45011, 43117}) {
        CAPTURE(code);
        CHECK(Classify(true, 200, code) == Outcome::kTransient);
    }
    CHECK(mega::MinRetryDelaySeconds(45011) == 60);
    CHECK(mega::MinRetryDelaySeconds(-1) == 0);
    CHECK(mega::MinRetryDelaySeconds(0) == 0);
}

TEST_CASE("ErrorClass: token, quota and permanent codes") {
    for (int code : {40001, 40014, 42001}) {
        CAPTURE(code);
        CHECK(Classify(true, 200, code) == Outcome::kToken);
    }
    CHECK(Classify(true, 200, 45009) == Outcome::kQuota);
    for (int code : {40003, 40037, 43004, 43101, 43116, 47001, 47003, 48001, 40013, 41001}) {
        CAPTURE(code);
        CHECK(Classify(true, 200, code) == Outcome::kPermanent);
    }
    for (int code : {1, 99999, -100, 40002}) {  // unknown: permanent
        CAPTURE(code);
        CHECK(Classify(true, 200, code) == Outcome::kPermanent);
    }
}

TEST_CASE("ErrorClass: outcome names") {
    CHECK(std::string_view(mega::OutcomeName(Outcome::kSent)) == "sent");
    CHECK(std::string_view(mega::OutcomeName(Outcome::kTransient)) == "transient");
    CHECK(std::string_view(mega::OutcomeName(Outcome::kToken)) == "token");
    CHECK(std::string_view(mega::OutcomeName(Outcome::kQuota)) == "quota");
    CHECK(std::string_view(mega::OutcomeName(Outcome::kPermanent)) == "permanent");
}
