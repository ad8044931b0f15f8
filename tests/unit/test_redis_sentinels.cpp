// [redis] sentinels: the list of host:port the Redis links ask for the primary
// (RedisAddress::ParseSentinels); a bad item is a clear error naming it.
#include <doctest/doctest.h>

#include "queue/RedisLink.h"

using mega::RedisAddress;

TEST_CASE("[redis] sentinels parse as host:port pairs, in order") {
    RedisAddress a;
    REQUIRE(RedisAddress::ParseSentinels("10.0.0.5:26379, sentinel-b:26380 ,::1:5000", &a).ok());
    REQUIRE(a.sentinels.size() == 3);
    CHECK(a.sentinels[0] == std::pair<std::string, int>{"10.0.0.5", 26379});
    CHECK(a.sentinels[1] == std::pair<std::string, int>{"sentinel-b", 26380});
    CHECK(a.sentinels[2] == std::pair<std::string, int>{"::1", 5000});
}

TEST_CASE("a bad [redis] sentinels item is refused, naming it") {
    for (const char* bad :
         {"10.0.0.5", "10.0.0.5:", ":26379", "h:0", "h:70000", "h:26379,", "h:2x", "a:1,,b:2"}) {
        RedisAddress a;
        const mega::Status s = RedisAddress::ParseSentinels(bad, &a);
        CHECK_MESSAGE(s.code() == mega::Status::Code::kInvalid, bad);
        CHECK_MESSAGE(s.message().find("[redis] sentinels") != std::string::npos, bad);
    }
}
