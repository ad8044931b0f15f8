// fake-wechat's webhook receiver: POST /webhook/ANYTHING checks X-Mega-Signature
// (sha256=hex HMAC-SHA256 with --webhook-secret over X-Mega-Timestamp + "." + body), the
// recipe README gives receivers. A good one is stored like a template send (touser
// "webhook:PATH") and answered 200 {"ok":true}; a bad or missing one answers 401 and is
// counted in errors["401"].
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tools/fake-wechat/FakeWechat.h"

namespace fakewechat {
namespace {

std::string Signature(const std::string& secret, const std::string& timestamp,
                      const std::string& body) {
    const std::string message = timestamp + "." + body;
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

}  // namespace

void FakeWechat::HandleWebhook(HttpRequest&& request, HttpResponder responder) {
    ++state_.send_requests;
    const std::string* timestamp = request.Header("x-mega-timestamp");
    const std::string* signature = request.Header("x-mega-signature");
    const std::string want =
        timestamp ? Signature(options_.webhook_secret, *timestamp, request.body) : "";
    const bool good = signature && signature->size() == want.size() &&
                      CRYPTO_memcmp(signature->data(), want.data(), want.size()) == 0;
    HttpResponse response;
    if (!good) {
        ++state_.errors[401];
        response.status = 401;
        response.body = R"({"error":"bad signature"})";
    } else {
        Deliver("webhook:" + request.path, "", std::move(request.body));
        response.body = R"({"ok":true})";
    }
    delayed_.Schedule(static_cast<uint64_t>(config_.latency_ms), responder, std::move(response));
}

}  // namespace fakewechat
