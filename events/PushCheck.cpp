// VerifyUrl and OpenPush over WechatCrypto and EventXml.
#include "events/PushCheck.h"

#include <charconv>

#include "events/WechatCrypto.h"

namespace mega {
namespace {

struct Signed {
    std::string signature, timestamp, nonce;
};

// The timestamp is a number within kMaxPushAgeS of now.
bool Fresh(const std::string& timestamp, int64_t now_s) {
    int64_t t = 0;
    auto r = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), t);
    if (r.ec != std::errc() || r.ptr != timestamp.data() + timestamp.size()) return false;
    return t >= now_s - kMaxPushAgeS && t <= now_s + kMaxPushAgeS;
}

Status Refuse(PushRefusal reason, PushRefusal* why, std::string message) {
    *why = reason;
    return Status::Invalid(std::move(message));
}

}  // namespace

Status VerifyUrl(const EventAccount& account, const HttpRequest& request, int64_t now_s,
                 std::string* echostr) {
    Signed s;
    if (!request.QueryParam("signature", &s.signature) ||
        !request.QueryParam("timestamp", &s.timestamp) || !request.QueryParam("nonce", &s.nonce) ||
        !request.QueryParam("echostr", echostr))
        return Status::Invalid("signature, timestamp, nonce and echostr are required");
    if (!Fresh(s.timestamp, now_s)) return Status::Invalid("stale timestamp");
    if (!SignatureMatches(SortedSha1({account.token, s.timestamp, s.nonce}), s.signature))
        return Status::Invalid("bad signature");
    return Status::Ok();
}

Status OpenPush(const EventAccount& account, const HttpRequest& request, int64_t now_s,
                WechatEvent* event, PushRefusal* why) {
    *why = PushRefusal::kNone;
    Signed s;
    std::string encrypt_type, msg_signature;
    request.QueryParam("timestamp", &s.timestamp);
    request.QueryParam("nonce", &s.nonce);
    request.QueryParam("encrypt_type", &encrypt_type);
    if (!Fresh(s.timestamp, now_s)) return Refuse(PushRefusal::kStale, why, "stale timestamp");
    if (encrypt_type != "aes") {
        request.QueryParam("signature", &s.signature);
        if (!SignatureMatches(SortedSha1({account.token, s.timestamp, s.nonce}), s.signature))
            return Refuse(PushRefusal::kSignature, why, "bad signature");
        Status p = ParseEventXml(request.body, event);
        return p.ok() ? p : Refuse(PushRefusal::kMalformed, why, p.message());
    }
    SafeModeCipher cipher;
    if (!SafeModeCipher::Make(account.encoding_aes_key, account.appid, &cipher).ok())
        return Refuse(PushRefusal::kMalformed, why, "safe mode is not set up (encoding_aes_key)");
    WechatEvent outer;
    if (Status p = ParseEventXml(request.body, &outer); !p.ok() || outer.encrypt.empty())
        return Refuse(PushRefusal::kMalformed, why, "no <Encrypt> in the body");
    request.QueryParam("msg_signature", &msg_signature);
    if (!SignatureMatches(SortedSha1({account.token, s.timestamp, s.nonce, outer.encrypt}),
                          msg_signature))
        return Refuse(PushRefusal::kSignature, why, "bad msg_signature");
    std::string xml;
    if (Status d = cipher.Decrypt(outer.encrypt, &xml); !d.ok())
        return Refuse(
            d.message() == "appid does not match" ? PushRefusal::kAppid : PushRefusal::kMalformed,
            why, d.message());
    Status p = ParseEventXml(xml, event);
    return p.ok() ? p : Refuse(PushRefusal::kMalformed, why, p.message());
}

}  // namespace mega
