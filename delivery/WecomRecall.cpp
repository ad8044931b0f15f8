// RecallWecomMessage: one blocking curl call per attempt, the reply read with a small DOM.
#include "delivery/WecomRecall.h"

#include <curl/curl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <memory>

#include "protocol/JsonCheck.h"

namespace mega {
namespace {

struct CurlEasyDeleter {
    void operator()(CURL* h) const { curl_easy_cleanup(h); }
};

size_t AppendTo(char* data, size_t size, size_t n, void* user) {
    auto* out = static_cast<std::string*>(user);
    if (out->size() + size * n > 65536) return 0;  // a recall reply is small
    out->append(data, size * n);
    return size * n;
}

std::string RecallBody(const std::string& msgid) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("msgid");
    w.String(msgid.c_str(), rapidjson::SizeType(msgid.size()));
    w.EndObject();
    return {sb.GetString(), sb.GetSize()};
}

// One call; *errcode is WeCom's (or -1 when the reply was not WeCom's JSON).
Status CallRecall(const std::string& url, const std::string& body, long timeout_ms, int* errcode) {
    std::unique_ptr<CURL, CurlEasyDeleter> easy(curl_easy_init());
    if (!easy) return Status::Unavailable("curl_easy_init failed");
    CURL* h = easy.get();
    std::string reply;
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, long(body.size()));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendTo);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    const CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK)
        return Status::Unavailable(std::string("recall call failed: ") + curl_easy_strerror(rc));
    rapidjson::Document doc;
    if (protocol::JsonDepthWithin(reply)) doc.Parse(reply.data(), reply.size());
    auto code = doc.IsObject() ? doc.FindMember("errcode") : doc.MemberEnd();
    if (doc.HasParseError() || !doc.IsObject() || code == doc.MemberEnd() || !code->value.IsInt()) {
        *errcode = -1;
        return Status::Unavailable("recall: the answer is not WeCom's JSON");
    }
    *errcode = code->value.GetInt();
    if (*errcode == 0) return Status::Ok();
    auto msg = doc.FindMember("errmsg");
    return Status::Invalid("WeCom refused the recall: errcode " + std::to_string(*errcode) +
                           (msg != doc.MemberEnd() && msg->value.IsString()
                                ? std::string(" (") + msg->value.GetString() + ")"
                                : std::string()));
}

}  // namespace

Status RecallWecomMessage(TokenCache& tokens, long timeout_ms, const std::string& msgid) {
    const std::string body = RecallBody(msgid);
    for (int attempt = 0;; ++attempt) {
        std::string token;
        uint64_t generation = 0;
        Status s = tokens.Get(&token, &generation);
        if (!s.ok()) return s;
        const uint64_t epoch = tokens.bases().epoch();
        const std::string url =
            tokens.bases().Url(epoch) + "/cgi-bin/message/recall?access_token=" + token;
        int errcode = 0;
        s = CallRecall(url, body, timeout_ms, &errcode);
        if (attempt == 0 && (errcode == 40014 || errcode == 42001)) {
            tokens.Invalidate(generation);  // expired or replaced: a fresh one, once
            continue;
        }
        return s;
    }
}

}  // namespace mega
