// A plain JSON POST to one of a webhook account's URLs (the account's failover list), for
// group-chat bot APIs and message providers. The body is the template rendered with the
// push; each request carries X-Mega-Timestamp (unix seconds) and X-Mega-Signature
// ("sha256=" + hex HMAC-SHA256 with the account's secret over "TIMESTAMP.BODY"), which a
// receiver recomputes (README: verifying a webhook). 2xx is sent; 5xx and 429 are transient;
// any other status is permanent; no answer moves to the next URL and retries.
#pragma once

#include <string>

#include "delivery/Channel.h"

namespace mega {

class WebhookChannel : public Channel {
  public:
    explicit WebhookChannel(std::string secret) : secret_(std::move(secret)) {}
    std::string_view name() const override { return "webhook"; }
    Status Render(const DeliveryJob& job, std::string* body,
                  Template::Scratch* scratch) const override;
    void AppendUrl(std::string_view base, std::string_view token, std::string* url) const override;
    void AppendHeaders(std::string_view body, std::vector<std::string>* headers) const override;
    std::unique_ptr<ReplyReader> NewReplyReader() const override;
    Outcome Classify(bool transport_ok, long http_status, int errcode) const override;

  private:
    std::string secret_;  // never logged
};

// "sha256=" + lower-case hex of HMAC-SHA256(`secret`, `timestamp` + "." + `body`).
std::string WebhookSignature(std::string_view secret, std::string_view timestamp,
                             std::string_view body);

}  // namespace mega
