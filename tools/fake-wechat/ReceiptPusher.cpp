// ReceiptPusher: four worker threads with blocking libcurl pushes (a test tool: simplicity
// over scale), the XML and safe-mode envelope built with mega's own events/WechatCrypto
// (mega's unit test checks that against an independent implementation).
#include "tools/fake-wechat/ReceiptPusher.h"

#include <curl/curl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <memory>
#include <random>

#include "events/WechatCrypto.h"

namespace fakewechat {
namespace {

int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

mega::HttpResponse JsonResponse(std::string body, int status = 200) {
    mega::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

std::string EventXml(const ReceiptSettings& s, uint64_t msgid, const std::string& touser,
                     const std::string& status) {
    return "<xml><ToUserName><![CDATA[" + s.to_user + "]]></ToUserName><FromUserName><![CDATA[" +
           touser + "]]></FromUserName><CreateTime>" + std::to_string(NowMs() / 1000) +
           "</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA["
           "TEMPLATESENDJOBFINISH]]></Event><MsgID>" +
           std::to_string(msgid) + "</MsgID><Status><![CDATA[" + status + "]]></Status></xml>";
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

// A blocking request; returns the HTTP status (0: none) and the body.
long Fetch(const std::string& url, const std::string* post_body, std::string* answer) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 5000L);  // WeChat waits 5 s
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
        curl_slist_append(nullptr, "Content-Type: text/xml"), curl_slist_free_all);
    if (post_body) {
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, post_body->c_str());
        curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    }
    long status = 0;
    if (curl_easy_perform(curl.get()) == CURLE_OK)
        curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    return status;
}

std::string Nonce() {
    static thread_local std::mt19937_64 rng(std::random_device{}());
    return std::to_string(rng() % 1000000000);
}

}  // namespace

ReceiptPusher::ReceiptPusher(std::string appid) : default_appid_(std::move(appid)) {
    for (int i = 0; i < 4; i++) workers_.emplace_back([this] { Work(); });
}

ReceiptPusher::~ReceiptPusher() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
}

std::string ReceiptPusher::PickStatus() {
    // The status furthest below its share of what was drawn so far, counting this one.
    uint64_t total = 1;
    for (auto& [s, n] : drawn_) total += n;
    const std::string* best = &settings_.shares.front().first;
    double most = -1e18;
    for (const auto& [status, share] : settings_.shares) {
        const double lack = share * double(total) - double(drawn_[status]);
        if (lack > most) most = lack, best = &status;
    }
    drawn_[*best]++;
    return *best;
}

void ReceiptPusher::OnSent(uint64_t msgid, const std::string& touser) {
    std::lock_guard lock(mu_);
    if (!enabled_) return;
    const std::string status = PickStatus();
    const int64_t due = NowMs() + settings_.delay_ms;
    for (int i = 0; i <= settings_.repeats; i++) queue_.push_back({due, msgid, touser, status});
    cv_.notify_all();
}

void ReceiptPusher::Work() {
    std::unique_lock lock(mu_);
    while (!stop_) {
        if (queue_.empty()) {
            cv_.wait(lock);
            continue;
        }
        const int64_t wait = queue_.front().due_ms - NowMs();
        if (wait > 0) {
            cv_.wait_for(lock, std::chrono::milliseconds(wait));
            continue;
        }
        Push push = std::move(queue_.front());
        queue_.pop_front();
        ReceiptSettings settings = settings_;
        in_flight_++;
        lock.unlock();
        const long status = Send(settings, push);
        lock.lock();
        answers_[status]++;
        pushed_++;
        in_flight_--;
    }
}

long ReceiptPusher::Send(const ReceiptSettings& s, const Push& push) {
    const std::string xml = EventXml(s, push.msgid, push.touser, push.status);
    const std::string timestamp = std::to_string(NowMs() / 1000), nonce = Nonce();
    std::string url = s.url + "?timestamp=" + timestamp + "&nonce=" + nonce +
                      "&signature=" + mega::SortedSha1({s.token, timestamp, nonce});
    std::string body = xml, answer;
    if (!s.encoding_aes_key.empty()) {
        mega::SafeModeCipher cipher;
        if (!mega::SafeModeCipher::Make(s.encoding_aes_key, s.appid, &cipher).ok()) return -1;
        const std::string encrypt = cipher.Encrypt(xml, Nonce() + "0123456789abcdef");
        body = "<xml><ToUserName><![CDATA[" + s.to_user + "]]></ToUserName><Encrypt><![CDATA[" +
               encrypt + "]]></Encrypt></xml>";
        url += "&encrypt_type=aes&msg_signature=" +
               mega::SortedSha1({s.token, timestamp, nonce, encrypt});
    }
    const long status = Fetch(url, &body, &answer);
    return status == 200 && answer != "success" && !answer.empty() ? -2 : status;
}

bool ReceiptPusher::Handle(const mega::HttpRequest& request, const mega::HttpResponder& responder) {
    if (request.path == "/fake/receipts" && request.method == "GET") {
        responder.Send(Stats());
    } else if (request.path == "/fake/receipts" && request.method == "POST") {
        responder.Send(Configure(request.body));
    } else if (request.path == "/fake/verify-url" && request.method == "POST") {
        responder.Send(VerifyUrl(request.body));  // blocks the fake's loop briefly: a test tool
    } else {
        return false;
    }
    return true;
}

mega::HttpResponse ReceiptPusher::Stats() {
    std::lock_guard lock(mu_);
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("pushed");
    w.Uint64(pushed_);
    w.Key("waiting");
    w.Uint64(queue_.size() + in_flight_);
    w.Key("drawn");
    w.StartObject();
    for (auto& [status, n] : drawn_) {
        w.Key(status.c_str());
        w.Uint64(n);
    }
    w.EndObject();
    w.Key("answers");  // HTTP status → count; 0: no answer, -2: 200 with a body not "success"
    w.StartObject();
    for (auto& [status, n] : answers_) {
        w.Key(std::to_string(status).c_str());
        w.Uint64(n);
    }
    w.EndObject();
    w.EndObject();
    return JsonResponse(sb.GetString());
}

mega::HttpResponse ReceiptPusher::Configure(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("url") || !d["url"].IsString())
        return JsonResponse(R"({"error":"expected {\"url\":…}"})", 400);
    ReceiptSettings s;
    s.appid = default_appid_;
    s.url = d["url"].GetString();
    auto text = [&](const char* key, std::string* out) {
        if (d.HasMember(key) && d[key].IsString()) *out = d[key].GetString();
    };
    text("token", &s.token);
    text("encoding_aes_key", &s.encoding_aes_key);
    text("appid", &s.appid);
    if (d.HasMember("delay_ms") && d["delay_ms"].IsInt()) s.delay_ms = d["delay_ms"].GetInt();
    if (d.HasMember("repeats") && d["repeats"].IsInt()) s.repeats = d["repeats"].GetInt();
    if (d.HasMember("shares") && d["shares"].IsObject()) {
        s.shares.clear();
        for (auto& m : d["shares"].GetObject())
            if (m.value.IsNumber()) s.shares.emplace_back(m.name.GetString(), m.value.GetDouble());
        if (s.shares.empty()) return JsonResponse(R"({"error":"shares is empty"})", 400);
    }
    std::lock_guard lock(mu_);
    settings_ = std::move(s);
    enabled_ = !settings_.url.empty();  // "url": "" stops the pushes
    drawn_.clear();
    answers_.clear();
    pushed_ = 0;
    return JsonResponse(R"({"ok":true})");
}

mega::HttpResponse ReceiptPusher::VerifyUrl(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("url") || !d["url"].IsString() ||
        !d.HasMember("token") || !d["token"].IsString())
        return JsonResponse(R"({"error":"expected {\"url\",\"token\"}"})", 400);
    const std::string token = d["token"].GetString(), echostr = "echo" + Nonce();
    const std::string timestamp = std::to_string(NowMs() / 1000), nonce = Nonce();
    std::string answer;
    const long status =
        Fetch(std::string(d["url"].GetString()) +
                  "?signature=" + mega::SortedSha1({token, timestamp, nonce}) +
                  "&timestamp=" + timestamp + "&nonce=" + nonce + "&echostr=" + echostr,
              nullptr, &answer);
    const bool ok = status == 200 && answer == echostr;
    return JsonResponse(std::string(R"({"verified":)") + (ok ? "true" : "false") + R"(,"status":)" +
                        std::to_string(status) + "}");
}

}  // namespace fakewechat
