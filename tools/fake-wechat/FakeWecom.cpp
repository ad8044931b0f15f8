// FakeWecom: WeCom's app-message endpoints with its JSON and error codes (WECHAT-API.md,
// WeCom section). Where WeCom's exact code is not documented there (an unknown or too old
// msgid on recall), this fake answers 40008 / 301025 and says so in its README.
#include "tools/fake-wechat/FakeWecom.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace fakewechat {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;
constexpr uint64_t kRecallWindowMs = 24 * 3600 * 1000ull;
constexpr size_t kMaxSent = 100'000;

mega::HttpResponse JsonResponse(std::string body, int status = 200) {
    mega::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

std::string_view Text(const rapidjson::Value& v, const char* name) {
    auto it = v.FindMember(name);
    if (it == v.MemberEnd() || !it->value.IsString()) return {};
    return {it->value.GetString(), it->value.GetStringLength()};
}

void Put(JsonWriter& w, const char* key, std::string_view value) {
    w.Key(key);
    w.String(value.data(), rapidjson::SizeType(value.size()));
}

std::vector<std::string> SplitBar(std::string_view list) {
    std::vector<std::string> out;
    while (!list.empty()) {
        const size_t bar = list.find('|');
        if (bar) out.emplace_back(list.substr(0, bar));
        if (bar == std::string_view::npos) break;
        list.remove_prefix(bar + 1);
    }
    return out;
}

}  // namespace

bool FakeWecom::Handle(const mega::HttpRequest& request, const mega::HttpResponder& responder) {
    const std::string& path = request.path;
    if (path == "/cgi-bin/gettoken") {
        GetToken(request, responder);
    } else if (path == "/cgi-bin/message/send") {
        Send(request, responder);
    } else if (path == "/cgi-bin/message/recall") {
        Recall(request, responder);
    } else if (path == "/fake/wecom" && request.method == "GET") {
        responder.Send(Report());
    } else if (path == "/fake/wecom" && request.method == "POST") {
        responder.Send(Configure(request.body));
    } else {
        return false;
    }
    return true;
}

void FakeWecom::Reset() {
    corps_.clear();
    invalid_users_.clear();
    token_ttl_s_ = 7200;
    tokens_.clear();
    sent_.clear();
    errors_.clear();
    token_requests_ = 0;
}

void FakeWecom::Error(const mega::HttpResponder& responder, int errcode) {
    ++errors_[errcode];
    responder.Send(JsonResponse(R"({"errcode":)" + std::to_string(errcode) +
                                R"(,"errmsg":"fake-wechat: wecom error )" +
                                std::to_string(errcode) + R"("})"));
}

void FakeWecom::GetToken(const mega::HttpRequest& request, const mega::HttpResponder& responder) {
    ++token_requests_;
    std::string corpid, secret;
    if (!request.QueryParam("corpid", &corpid) || corpid.empty()) return Error(responder, 41002);
    auto corp = corps_.find(corpid);
    if (corp == corps_.end()) return Error(responder, 40013);  // invalid corpid
    if (!request.QueryParam("corpsecret", &secret) || secret.empty())
        return Error(responder, 41004);
    if (secret != corp->second.secret) return Error(responder, 40001);  // invalid secret
    const std::string token = "wecom_" + std::to_string(++serial_) + "_" + corpid;
    tokens_[token] = Token{corpid, Now() + uint64_t(token_ttl_s_) * 1000};
    responder.Send(JsonResponse(R"({"errcode":0,"errmsg":"ok","access_token":")" + token +
                                R"(","expires_in":)" + std::to_string(token_ttl_s_) + "}"));
}

int FakeWecom::CheckToken(const mega::HttpRequest& request, std::string* corpid) {
    std::string token;
    if (!request.QueryParam("access_token", &token) || token.empty()) return 41001;
    auto it = tokens_.find(token);
    if (it == tokens_.end()) return 40014;
    if (Now() >= it->second.expires_at_ms) return 42001;
    *corpid = it->second.corpid;
    return 0;
}

void FakeWecom::Send(const mega::HttpRequest& request, const mega::HttpResponder& responder) {
    std::string corpid;
    if (request.method != "POST") return Error(responder, 43002);
    if (int code = CheckToken(request, &corpid)) return Error(responder, code);
    rapidjson::Document json;
    json.Parse(request.body.data(), request.body.size());
    if (json.HasParseError() || !json.IsObject()) return Error(responder, 47001);
    auto agent = json.FindMember("agentid");
    if (agent == json.MemberEnd() || !agent->value.IsInt64() ||
        agent->value.GetInt64() != corps_[corpid].agentid)
        return Error(responder, 40056);  // invalid agentid
    if (Text(json, "msgtype").empty()) return Error(responder, 41008);
    std::string valid, invalid;
    for (const std::string& user : SplitBar(Text(json, "touser"))) {
        std::string& list = invalid_users_.count(user) ? invalid : valid;
        list += (list.empty() ? "" : "|") + user;
    }
    if (valid.empty()) return Error(responder, 81013);  // no valid receiver
    Sent s{"fake_wecom_" + std::to_string(++serial_), corpid, valid, invalid, request.body, Now()};
    rapidjson::StringBuffer out;
    JsonWriter w(out);
    w.StartObject();
    w.Key("errcode");
    w.Int(0);
    Put(w, "errmsg", "ok");
    Put(w, "invaliduser", invalid);
    Put(w, "invalidparty", "");
    Put(w, "invalidtag", "");
    Put(w, "unlicenseduser", "");
    Put(w, "msgid", s.msgid);
    Put(w, "response_code", "fake_response_code");
    w.EndObject();
    if (sent_.size() < kMaxSent) sent_.push_back(std::move(s));
    responder.Send(JsonResponse(out.GetString()));
}

void FakeWecom::Recall(const mega::HttpRequest& request, const mega::HttpResponder& responder) {
    std::string corpid;
    if (request.method != "POST") return Error(responder, 43002);
    if (int code = CheckToken(request, &corpid)) return Error(responder, code);
    rapidjson::Document json;
    json.Parse(request.body.data(), request.body.size());
    if (json.HasParseError() || !json.IsObject()) return Error(responder, 47001);
    const std::string_view msgid = Text(json, "msgid");
    for (Sent& s : sent_) {
        if (s.msgid != msgid || s.corpid != corpid || s.recalled) continue;
        if (Now() + s.aged_ms >= s.at_ms + kRecallWindowMs)
            return Error(responder, 301025);  // too old
        s.recalled = true;
        return responder.Send(JsonResponse(R"({"errcode":0,"errmsg":"ok"})"));
    }
    Error(responder, 40008);  // no such (recallable) message
}

mega::HttpResponse FakeWecom::Configure(const std::string& body) {
    rapidjson::Document json;
    json.Parse(body.data(), body.size());
    if (json.HasParseError() || !json.IsObject())
        return JsonResponse(R"({"error":"expected a JSON object"})", 400);
    auto corps = json.FindMember("corps");  // {"corpid":{"secret":"…","agentid":N}}
    if (corps != json.MemberEnd() && corps->value.IsObject()) {
        for (const auto& c : corps->value.GetObject()) {
            auto agent = c.value.IsObject() ? c.value.FindMember("agentid") : c.value.MemberEnd();
            if (!c.value.IsObject() || agent == c.value.MemberEnd() || !agent->value.IsInt64())
                return JsonResponse(R"({"error":"corps: {\"ID\":{\"secret\",\"agentid\"}}"})", 400);
            corps_[c.name.GetString()] =
                Corp{std::string(Text(c.value, "secret")), agent->value.GetInt64()};
        }
    }
    auto invalid = json.FindMember("invalid_users");  // ["userid", …]
    if (invalid != json.MemberEnd() && invalid->value.IsArray()) {
        invalid_users_.clear();
        for (const auto& u : invalid->value.GetArray())
            if (u.IsString()) invalid_users_.insert(u.GetString());
    }
    auto age = json.FindMember("age_s");  // every message sent this many seconds earlier
    if (age != json.MemberEnd() && age->value.IsUint64()) {
        for (Sent& s : sent_) s.aged_ms += age->value.GetUint64() * 1000;
    }
    auto expire = json.FindMember("expire_tokens");  // true: every token answers 42001
    if (expire != json.MemberEnd() && expire->value.IsBool() && expire->value.GetBool()) {
        for (auto& [token, t] : tokens_) t.expires_at_ms = std::min(t.expires_at_ms, Now());
    }
    auto ttl = json.FindMember("token_ttl_s");
    if (ttl != json.MemberEnd() && ttl->value.IsInt() && ttl->value.GetInt() > 0)
        token_ttl_s_ = ttl->value.GetInt();
    return JsonResponse(R"({"ok":true})");
}

mega::HttpResponse FakeWecom::Report() const {
    rapidjson::StringBuffer out;
    JsonWriter w(out);
    w.StartObject();
    w.Key("token_requests");
    w.Uint64(token_requests_);
    w.Key("sent");
    w.StartArray();
    for (const Sent& s : sent_) {
        w.StartObject();
        Put(w, "msgid", s.msgid);
        Put(w, "corpid", s.corpid);
        Put(w, "touser", s.touser);
        Put(w, "invaliduser", s.invaliduser);
        Put(w, "body", s.body);
        w.Key("recalled");
        w.Bool(s.recalled);
        w.EndObject();
    }
    w.EndArray();
    w.Key("errors");
    w.StartObject();
    for (const auto& [code, n] : errors_) {
        const std::string key = std::to_string(code);
        w.Key(key.c_str());
        w.Uint64(n);
    }
    w.EndObject();
    w.EndObject();
    return JsonResponse(out.GetString());
}

}  // namespace fakewechat
