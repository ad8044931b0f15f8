// WebhookChannel: render, sign with OpenSSL's HMAC, classify by HTTP status.
#include "delivery/WebhookChannel.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>

namespace mega {
namespace {

// Any answer is read as understood: the HTTP status decides (Classify).
class StatusOnlyReader : public ReplyReader {
  public:
    ChannelReply Read(std::string_view) override {
        ChannelReply r;
        r.understood = true;
        return r;
    }
};

}  // namespace

std::string WebhookSignature(std::string_view secret, std::string_view timestamp,
                             std::string_view body) {
    std::string message;
    message.reserve(timestamp.size() + 1 + body.size());
    message.append(timestamp).append(".").append(body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &n);
    static const char kHex[] = "0123456789abcdef";
    std::string out = "sha256=";
    for (unsigned int i = 0; i < n; i++) {
        out += kHex[mac[i] >> 4];
        out += kHex[mac[i] & 15];
    }
    return out;
}

Status WebhookChannel::Render(const DeliveryJob& job, std::string* body,
                              Template::Scratch* scratch) const {
    return job.tmpl->Render(job.openid, job.data, {}, body, scratch);
}

void WebhookChannel::AppendUrl(std::string_view base, std::string_view, std::string* url) const {
    url->append(base);
}

void WebhookChannel::AppendHeaders(std::string_view body, std::vector<std::string>* headers) const {
    const std::string timestamp = std::to_string(std::time(nullptr));
    headers->push_back("X-Mega-Timestamp: " + timestamp);
    headers->push_back("X-Mega-Signature: " + WebhookSignature(secret_, timestamp, body));
}

std::unique_ptr<ReplyReader> WebhookChannel::NewReplyReader() const {
    return std::make_unique<StatusOnlyReader>();
}

Outcome WebhookChannel::Classify(bool transport_ok, long http_status, int) const {
    if (!transport_ok) return Outcome::kTransient;
    if (http_status >= 200 && http_status < 300) return Outcome::kSent;
    if (http_status >= 500 || http_status == 429) return Outcome::kTransient;
    return Outcome::kPermanent;
}

}  // namespace mega
