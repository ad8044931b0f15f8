// WeChat's server-URL checks and safe-mode cipher, on OpenSSL's libcrypto (no hand-written
// crypto): the SHA-1 signatures over sorted strings (URL verification, `signature` and
// `msg_signature`) and the AES-256-CBC envelope of safe mode (key = Base64(EncodingAESKey +
// "="), IV = the key's first 16 bytes, PKCS#7 to 32-byte blocks, plaintext = random(16) +
// length(4, network order) + XML + appid). See docs/EVENTS.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"

namespace mega {

// SHA-1 hex (lower case) of the parts sorted bytewise and concatenated: WeChat's
// `signature` (token, timestamp, nonce) and `msg_signature` (… plus the Encrypt text).
std::string SortedSha1(std::vector<std::string_view> parts);
// Compares a signature from a request with the expected one in constant time.
bool SignatureMatches(std::string_view expected, std::string_view given);

class SafeModeCipher {
  public:
    // Invalid unless `encoding_aes_key` is 43 Base64 characters (32 bytes once "=" is added).
    static Status Make(std::string_view encoding_aes_key, std::string appid, SafeModeCipher* out);
    // The XML inside a base64 <Encrypt> text. Invalid on bad base64, padding, length or
    // an appid other than this account's.
    Status Decrypt(std::string_view encrypt_base64, std::string* xml) const;
    // The <Encrypt> text for `xml` with these 16 random bytes (fake-wechat, tests).
    std::string Encrypt(std::string_view xml, std::string_view random16) const;

  private:
    std::string key_;  // 32 bytes
    std::string appid_;
};

}  // namespace mega
