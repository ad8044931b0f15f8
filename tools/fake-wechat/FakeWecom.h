// fake-wechat's WeCom app API: gettoken per configured corp (corpid + corpsecret), message/send
// with an agentid check, invaliduser for the users a test marks invalid (81013 when no
// receiver is valid), string msgids, and message/recall within 24 hours. Configured and read
// through /fake/wecom. Loop thread only, like FakeWechat.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "http/HttpServer.h"

namespace fakewechat {

class FakeWecom {
  public:
    explicit FakeWecom(uv_loop_t* loop) : loop_(loop) {}
    // /cgi-bin/gettoken, /cgi-bin/message/send, /cgi-bin/message/recall and /fake/wecom (GET:
    // what was sent and recalled; POST: corps, invalid users, ageing); false for other paths.
    bool Handle(const mega::HttpRequest& request, const mega::HttpResponder& responder);
    void Reset();  // /fake/reset: no corps, no tokens, no messages

  private:
    struct Corp {
        std::string secret;
        int64_t agentid = 0;
    };
    struct Token {
        std::string corpid;
        uint64_t expires_at_ms;  // loop clock
    };
    struct Sent {
        std::string msgid, corpid, touser, invaliduser, body;
        uint64_t at_ms;        // loop clock
        uint64_t aged_ms = 0;  // how far /fake/wecom age_s moved it into the past
        bool recalled = false;
    };
    void GetToken(const mega::HttpRequest& request, const mega::HttpResponder& responder);
    void Send(const mega::HttpRequest& request, const mega::HttpResponder& responder);
    void Recall(const mega::HttpRequest& request, const mega::HttpResponder& responder);
    // The token's corp, or an errcode (41001 missing, 40014 unknown, 42001 expired).
    int CheckToken(const mega::HttpRequest& request, std::string* corpid);
    mega::HttpResponse Configure(const std::string& body);
    mega::HttpResponse Report() const;
    void Error(const mega::HttpResponder& responder, int errcode);
    uint64_t Now() const { return uv_now(loop_); }

    uv_loop_t* loop_;
    std::map<std::string, Corp> corps_;  // corpid → secret, agentid
    std::set<std::string> invalid_users_;
    int token_ttl_s_ = 7200;
    std::map<std::string, Token> tokens_;
    std::vector<Sent> sent_;  // in order
    std::map<int, uint64_t> errors_;
    uint64_t token_requests_ = 0, serial_ = 0;
};

}  // namespace fakewechat
