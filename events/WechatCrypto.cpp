// SortedSha1 and SafeModeCipher on libcrypto's EVP interface (SHA-1, AES-256-CBC with
// padding off: WeChat pads with PKCS#7 to 32-byte blocks, which OpenSSL's own padding
// (16-byte blocks) would not strip) and its Base64 block codec.
#include "events/WechatCrypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>

namespace mega {
namespace {

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Base64 → bytes; false on anything but canonical Base64 ('=' padding counted off).
bool DecodeBase64(std::string_view text, std::string* out) {
    if (text.empty() || text.size() % 4 != 0) return false;
    out->assign(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                            reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
    if (n < 0) return false;
    size_t pad = 0;
    if (text.back() == '=') pad++;
    if (text.size() >= 2 && text[text.size() - 2] == '=') pad++;
    out->resize(size_t(n) - pad);
    return true;
}

std::string EncodeBase64(std::string_view bytes) {
    std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
    int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
    out.resize(size_t(n));
    return out;
}

// AES-256-CBC without OpenSSL's padding; `in` is a whole number of 16-byte blocks.
bool RunCbc(bool encrypt, const std::string& key, std::string_view in, std::string* out) {
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return false;
    const auto* k = reinterpret_cast<const unsigned char*>(key.data());
    if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, k, k, encrypt ? 1 : 0) != 1)
        return false;
    EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
    out->assign(in.size() + 32, '\0');
    int n = 0, tail = 0;
    auto* o = reinterpret_cast<unsigned char*>(out->data());
    if (EVP_CipherUpdate(ctx.get(), o, &n, reinterpret_cast<const unsigned char*>(in.data()),
                         int(in.size())) != 1 ||
        EVP_CipherFinal_ex(ctx.get(), o + n, &tail) != 1)
        return false;
    out->resize(size_t(n + tail));
    return true;
}

}  // namespace

std::string SortedSha1(std::vector<std::string_view> parts) {
    std::sort(parts.begin(), parts.end());
    std::string joined;
    for (std::string_view p : parts) joined.append(p);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(joined.data(), joined.size(), digest, &len, EVP_sha1(), nullptr);
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned i = 0; i < len; i++) {
        hex.push_back(kHex[digest[i] >> 4]);
        hex.push_back(kHex[digest[i] & 15]);
    }
    return hex;
}

bool SignatureMatches(std::string_view expected, std::string_view given) {
    return expected.size() == given.size() &&
           CRYPTO_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

Status SafeModeCipher::Make(std::string_view encoding_aes_key, std::string appid,
                            SafeModeCipher* out) {
    std::string key;
    if (encoding_aes_key.size() != 43 || !DecodeBase64(std::string(encoding_aes_key) + "=", &key) ||
        key.size() != 32)
        return Status::Invalid("encoding_aes_key must be 43 Base64 characters");
    out->key_ = std::move(key);
    out->appid_ = std::move(appid);
    return Status::Ok();
}

Status SafeModeCipher::Decrypt(std::string_view encrypt_base64, std::string* xml) const {
    std::string cipher, plain;
    if (!DecodeBase64(encrypt_base64, &cipher)) return Status::Invalid("Encrypt is not Base64");
    if (cipher.empty() || cipher.size() % 16 != 0 || !RunCbc(false, key_, cipher, &plain))
        return Status::Invalid("Encrypt does not decrypt");
    const unsigned pad = static_cast<unsigned char>(plain.back());
    if (pad < 1 || pad > 32 || pad > plain.size()) return Status::Invalid("bad padding");
    plain.resize(plain.size() - pad);
    if (plain.size() < 20) return Status::Invalid("decrypted text too short");
    const auto* p = reinterpret_cast<const unsigned char*>(plain.data()) + 16;
    const size_t len = (size_t(p[0]) << 24) | (size_t(p[1]) << 16) | (size_t(p[2]) << 8) | p[3];
    if (len > plain.size() - 20) return Status::Invalid("bad message length");
    std::string_view appid = std::string_view(plain).substr(20 + len);
    if (appid != appid_) return Status::Invalid("appid does not match");
    xml->assign(plain, 20, len);
    return Status::Ok();
}

std::string SafeModeCipher::Encrypt(std::string_view xml, std::string_view random16) const {
    std::string plain(random16.substr(0, 16));
    plain.resize(16, '\0');
    const uint32_t len = uint32_t(xml.size());
    for (int shift : {24, 16, 8, 0}) plain.push_back(char((len >> shift) & 0xff));
    plain.append(xml);
    plain.append(appid_);
    const size_t pad = 32 - plain.size() % 32;
    plain.append(pad, char(pad));
    std::string cipher;
    RunCbc(true, key_, plain, &cipher);
    return EncodeBase64(cipher);
}

}  // namespace mega
