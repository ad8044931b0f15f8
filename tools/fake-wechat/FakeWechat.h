// FakeWechat: the WeChat API stand-in. Serves the token endpoints (classic and stable) and
// template/send with WeChat's JSON and error codes, plus /fake/* control endpoints that let
// tests inject faults, set latency and quota, and read back every delivered message.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/Status.h"
#include "http/HttpServer.h"
#include "tools/fake-wechat/DelayedReplies.h"
#include "tools/fake-wechat/FakeWecom.h"
#include "tools/fake-wechat/ReceiptPusher.h"

namespace fakewechat {

struct FakeWechatOptions {
    std::string appid = "wxtest";
    std::string secret = "secret";
    int latency_ms = 0;
    uint64_t seed = 20240601;
    int robot_window_s = 60;  // a group robot takes 20 messages in any window this long
    std::string webhook_secret = "webhook-secret";  // what /webhook/* signatures are checked with
};

// Everything POST /fake/config can change; /fake/reset restores the start-up values.
struct FakeWechatConfig {
    int latency_ms = 0;
    double fail_rate = 0;
    std::vector<int> fail_codes{-1};
    double timeout_rate = 0;
    double timeout_executes = 0.5;
    std::map<std::string, int> fail_openids;
    std::map<std::string, int> fail_template_ids;
    std::deque<int> next_errors;
    int64_t quota = -1;  // successful sends per day; -1: unlimited
    int token_ttl_s = 7200;
    bool refuse = false;
    std::string secret;  // the app secret WeChat accepts now; empty: the --secret of the start
    int classic_grace_s = 300;
    int token_daily_limit = 2000;  // classic token fetches per day
    int stable_force_per_day = 20;
    int stable_force_interval_s = 30;
    int dedup_window_s = 600;
};

class FakeWechat {
  public:
    FakeWechat(uv_loop_t* loop, FakeWechatOptions options);
    FakeWechat(const FakeWechat&) = delete;
    FakeWechat& operator=(const FakeWechat&) = delete;

    mega::Status Listen(const std::string& host, int port) { return server_.Listen(host, port); }
    int port() const { return server_.port(); }

  private:
    const std::string& ExpectedSecret() const {
        return config_.secret.empty() ? options_.secret : config_.secret;
    }
    struct Token {
        uint64_t expires_at_ms;               // loop clock; past it: 42001
        uint64_t dead_after_ms = UINT64_MAX;  // superseded: past it 40001
    };
    struct StoredMessage {
        uint64_t msgid;
        int64_t t_ms;  // unix ms
        std::string body;
    };
    struct SentRecord {
        uint64_t msgid;
        uint64_t at_ms;  // loop clock
    };
    // Counters and memory that /fake/reset clears.
    struct State {
        std::unordered_map<std::string, Token> tokens;
        std::string classic_token;
        std::string stable_token;
        int classic_fetches_today = 0;
        int stable_forced_today = 0;
        bool stable_forced_ever = false;
        uint64_t stable_forced_at_ms = 0;

        std::vector<StoredMessage> messages;
        uint64_t messages_not_stored = 0;
        std::unordered_map<std::string, SentRecord> sent_by_client_msg_id;  // touser \n id
        std::deque<std::pair<std::string, uint64_t>> sent_order;  // for expiring the above

        std::map<std::string, uint64_t> by_endpoint;              // requests per API path
        std::map<std::string, std::deque<uint64_t>> robot_sends;  // key → accepted at (loop ms)
        uint64_t delivered = 0;
        uint64_t send_requests = 0;
        uint64_t token_requests = 0;
        uint64_t stable_token_requests = 0;
        std::map<int, uint64_t> errors;
        uint64_t dedup_dropped = 0;
        uint64_t executed_on_timeout = 0;
        uint64_t held = 0;
        uint64_t refused = 0;
        int64_t day_sends = 0;
        int64_t current_second = -1;
        uint64_t current_second_sends = 0;
        uint64_t max_per_second = 0;
    };

    void Handle(HttpRequest&& request, HttpResponder responder);
    void HandleClassicToken(const HttpRequest& request, const HttpResponder& responder);
    void HandleStableToken(const HttpRequest& request, const HttpResponder& responder);
    void HandleTemplateSend(HttpRequest&& request, HttpResponder responder);
    // WeCom group robot webhook/send?key= (FakeRobot.cpp): 20 a window per key, 45009 beyond.
    void HandleRobotSend(HttpRequest&& request, HttpResponder responder);
    // A webhook receiver (FakeWebhook.cpp): POST /webhook/*, signature checked.
    void HandleWebhook(HttpRequest&& request, HttpResponder responder);
    void HandleStats(const HttpResponder& responder);
    void HandleMessages(const HttpRequest& request, const HttpResponder& responder);
    void HandleConfig(const HttpRequest& request, const HttpResponder& responder);

    // A template/send answer: counted, delayed by latency_ms, WeChat-shaped (errcode 500..599
    // is an HTTP error with an HTML page instead).
    void AnswerSend(const HttpResponder& responder, int errcode, uint64_t msgid = 0);
    // Records a successful delivery; returns its msgid.
    uint64_t Deliver(const std::string& touser, const std::string& client_msg_id, std::string body);
    std::string IssueToken();
    std::string RequestId();
    std::string ConfigJson() const;
    bool Chance(double probability);
    uint64_t Now() const { return uv_now(loop_); }

    uv_loop_t* loop_;
    FakeWechatOptions options_;
    FakeWechatConfig defaults_;
    FakeWechatConfig config_;
    State state_;
    std::mt19937_64 random_;
    // Kept across /fake/reset, so no token or msgid is ever issued twice by one process.
    uint64_t token_serial_ = 0;
    uint64_t next_msgid_ = 200228332;
    std::vector<HttpResponder> held_;  // timed-out sends, never answered
    DelayedReplies delayed_;
    ReceiptPusher receipts_{options_.appid};  // delivery receipts pushed to mega
    FakeWecom wecom_{loop_};                  // WeCom app messages (FakeWecom.cpp)
    HttpServer server_;
};

}  // namespace fakewechat
