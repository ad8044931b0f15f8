// CallbackJson with RapidJSON's writer; CallbackSignature with libcrypto's HMAC.
#include "callbacks/CallbackEvent.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace mega {
namespace {

void Put(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key, std::string_view v) {
    w.Key(key);
    w.String(v.data(), rapidjson::SizeType(v.size()));
}

}  // namespace

std::string CallbackJson(const CallbackEvent& e) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    Put(w, "id", std::to_string(e.id));
    Put(w, "msgkey", e.msgkey);
    Put(w, "source", e.source);
    Put(w, "account", e.account);
    Put(w, "key", e.key);
    Put(w, "openid", e.openid);
    Put(w, "status", e.status);
    w.Key("errcode");
    w.Int(e.errcode);
    Put(w, "errmsg", e.errmsg);
    Put(w, "msgid", e.msgid ? std::to_string(e.msgid) : "");
    w.Key("at");
    w.Int64(e.at_ms);
    w.Key("created");
    w.Int64(e.created_ms);
    w.EndObject();
    return sb.GetString();
}

std::string CallbackSignature(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
    std::string text = std::string(timestamp) + std::string(body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()),
         reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned i = 0; i < len; i++) {
        hex.push_back(kHex[mac[i] >> 4]);
        hex.push_back(kHex[mac[i] & 15]);
    }
    return hex;
}

}  // namespace mega
