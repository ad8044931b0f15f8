// ReceiptPusher: fake-wechat's side of WeChat's server-URL pushes. Once configured (POST
// /fake/receipts), every successful template send is followed, after `delay_ms`, by a
// TEMPLATESENDJOBFINISH push to `url` (plain, or safe mode with `encoding_aes_key`), signed
// with `token`, its Status drawn by the configured shares (deterministically: the counts stay
// as close to the shares as whole numbers allow), and pushed `repeats` more times as WeChat
// does when unsure. POST /fake/verify-url does WeChat's URL verification (GET with echostr).
// GET /fake/receipts: what was pushed and how mega answered.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/HttpServer.h"

namespace fakewechat {

struct ReceiptSettings {
    std::string url;  // mega's server URL, http://127.0.0.1:PORT/wechat/default
    std::string token, encoding_aes_key, appid, to_user = "gh_fakewechat";
    // Status texts and their shares: success, failed:user block, failed: system failed.
    std::vector<std::pair<std::string, double>> shares{{"success", 1.0}};
    int delay_ms = 0;
    int repeats = 0;  // extra copies of each push
};

class ReceiptPusher {
  public:
    explicit ReceiptPusher(std::string appid);
    ~ReceiptPusher();
    ReceiptPusher(const ReceiptPusher&) = delete;
    ReceiptPusher& operator=(const ReceiptPusher&) = delete;

    // Loop thread: a template send succeeded.
    void OnSent(uint64_t msgid, const std::string& touser);
    // Loop thread: /fake/receipts (GET, POST) and /fake/verify-url (POST); false if the path
    // is not one of these.
    bool Handle(const mega::HttpRequest& request, const mega::HttpResponder& responder);

  private:
    struct Push {
        int64_t due_ms;
        uint64_t msgid;
        std::string touser, status;
    };
    void Work();
    // One push over HTTP; the HTTP status mega answered (0: no answer).
    long Send(const ReceiptSettings& settings, const Push& push);
    std::string PickStatus();  // under mu_
    mega::HttpResponse Stats();
    mega::HttpResponse Configure(const std::string& body);
    mega::HttpResponse VerifyUrl(const std::string& body);

    std::string default_appid_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool enabled_ = false;
    ReceiptSettings settings_;               // guarded by mu_
    std::map<std::string, uint64_t> drawn_;  // status → pushes drawn (first copies)
    std::deque<Push> queue_;                 // guarded by mu_, in due order
    std::map<long, uint64_t> answers_;       // HTTP status → count, guarded by mu_
    std::atomic<uint64_t> pushed_{0}, in_flight_{0};
    std::vector<std::thread> workers_;
};

}  // namespace fakewechat
