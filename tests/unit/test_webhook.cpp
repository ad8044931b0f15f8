// Tests of the webhook channel (delivery/WebhookChannel): the signature matches the recipe
// README gives receivers (computed here with Python's hmac), and statuses are classified.
#include <doctest/doctest.h>

#include "delivery/WebhookChannel.h"

TEST_CASE("webhook signature: sha256=hex HMAC-SHA256 over TIMESTAMP.BODY") {
    CHECK(mega::WebhookSignature("hook-secret-1", "1700000000", R"({"chat":"x"})") ==
          "sha256=89fa0506b8bbe319cadadbc780987073fca3592863ef90a98171d4804903bc10");
    std::vector<std::string> headers;
    mega::WebhookChannel("k").AppendHeaders("{}", &headers);
    REQUIRE(headers.size() == 2);
    CHECK(headers[0].starts_with("X-Mega-Timestamp: "));
    CHECK(headers[1].starts_with("X-Mega-Signature: sha256="));
}

TEST_CASE("webhook statuses: 2xx sent, 5xx and 429 transient, other 4xx permanent") {
    const mega::WebhookChannel c("k");
    CHECK(c.Classify(true, 200, 0) == mega::Outcome::kSent);
    CHECK(c.Classify(true, 204, 0) == mega::Outcome::kSent);
    CHECK(c.Classify(true, 503, 0) == mega::Outcome::kTransient);
    CHECK(c.Classify(true, 429, 0) == mega::Outcome::kTransient);
    CHECK(c.Classify(true, 404, 0) == mega::Outcome::kPermanent);
    CHECK(c.Classify(false, 0, 0) == mega::Outcome::kTransient);
}
