// FakeWechat implementation: request routing, token issuing and checking, the template/send
// decision chain (validation, then injected faults, then delivery) and the control endpoints.
// All state lives in one object on one loop thread; nothing here blocks.
#include "tools/fake-wechat/FakeWechat.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

namespace fakewechat {

namespace {

constexpr size_t kMaxStoredMessages = 2'000'000;
constexpr size_t kDefaultMessagesPage = 100'000;

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

std::string_view ErrorText(int errcode) {
    switch (errcode) {
        case -1:
            return "system error";
        case 40001:
            return "invalid credential, access_token is invalid or not latest";
        case 40002:
            return "invalid grant_type";
        case 40003:
            return "invalid openid";
        case 40013:
            return "invalid appid";
        case 40014:
            return "invalid access_token";
        case 40037:
            return "invalid template_id";
        case 40125:
            return "invalid appsecret";
        case 40241:
            return "duplicate message";
        case 41001:
            return "access_token missing";
        case 41002:
            return "appid missing";
        case 41004:
            return "appsecret missing";
        case 42001:
            return "access_token expired";
        case 43002:
            return "require POST method";
        case 43004:
            return "require subscribe hint";
        case 43101:
            return "user refuse to accept the msg";
        case 43116:
            return "this template has been banned";
        case 43117:
            return "message sent to this user too frequently";
        case 45009:
            return "reach max api daily quota limit";
        case 45011:
            return "api minute-quota reach limit  mustslower  retry next minute";
        case 47001:
            return "data format error";
        case 47003:
            return "argument invalid!";
        case 48001:
            return "api unauthorized";
        case 48017:
            return "ip not allowed";
        default:
            return "injected error";
    }
}

std::string WechatError(int errcode, std::string_view rid) {
    rapidjson::StringBuffer out;
    JsonWriter w(out);
    std::string message(ErrorText(errcode));
    if (!rid.empty()) message.append(" rid: ").append(rid);
    w.StartObject();
    w.Key("errcode");
    w.Int(errcode);
    w.Key("errmsg");
    w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
    w.EndObject();
    return out.GetString();
}

HttpResponse Json(std::string body, int status = 200) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

HttpResponse ControlError(int status, std::string_view message) {
    rapidjson::StringBuffer out;
    JsonWriter w(out);
    w.StartObject();
    w.Key("error");
    w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
    w.EndObject();
    return Json(out.GetString(), status);
}

HttpResponse HttpErrorPage(int status) {
    HttpResponse r;
    r.status = status;
    r.content_type = "text/html";
    std::string title = std::to_string(status) + " " + std::string(HttpReason(status));
    r.body = "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" +
             title + "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    return r;
}

int64_t UnixMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string_view StringMember(const rapidjson::Value& object, const char* name) {
    auto it = object.FindMember(name);
    if (it == object.MemberEnd() || !it->value.IsString()) return {};
    return {it->value.GetString(), it->value.GetStringLength()};
}

// Small documents parse without touching the heap.
class ParsedJson {
  public:
    explicit ParsedJson(std::string_view text)
        : allocator_(buffer_, sizeof(buffer_)), document_(&allocator_) {
        document_.Parse(text.data(), text.size());
    }
    bool object() const { return !document_.HasParseError() && document_.IsObject(); }
    const rapidjson::Document& get() const { return document_; }

  private:
    char buffer_[16384];
    rapidjson::MemoryPoolAllocator<> allocator_;
    rapidjson::Document document_;
};

void WriteIntMap(JsonWriter& w, const std::map<std::string, int>& map) {
    w.StartObject();
    for (const auto& [key, code] : map) {
        w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
        w.Int(code);
    }
    w.EndObject();
}

template <typename Container>
void WriteIntList(JsonWriter& w, const Container& list) {
    w.StartArray();
    for (int code : list) w.Int(code);
    w.EndArray();
}

}  // namespace

FakeWechat::FakeWechat(uv_loop_t* loop, FakeWechatOptions options)
    : loop_(loop),
      options_(std::move(options)),
      random_(options_.seed),
      delayed_(loop),
      server_(loop, [this](HttpRequest&& request, HttpResponder responder) {
          Handle(std::move(request), std::move(responder));
      }) {
    defaults_.latency_ms = options_.latency_ms;
    config_ = defaults_;
}

void FakeWechat::Handle(HttpRequest&& request, HttpResponder responder) {
    const std::string& path = request.path;
    const bool control = path.starts_with("/fake/");
    if (config_.refuse && !control) {  // a dead API domain: the request goes unanswered
        ++state_.refused;
        responder.CloseConnection();
        return;
    }
    if (!control) ++state_.by_endpoint[path];
    if (wecom_.Handle(request, responder)) return;  // WeCom app messages, /fake/wecom
    // Subscribe messages (official account and mini program) are answered as template sends.
    if (path == "/cgi-bin/message/template/send" || path == "/cgi-bin/message/subscribe/bizsend" ||
        path == "/cgi-bin/message/subscribe/send")
        return HandleTemplateSend(std::move(request), std::move(responder));
    if (path == "/cgi-bin/webhook/send")
        return HandleRobotSend(std::move(request), std::move(responder));
    if (path.starts_with("/webhook/"))
        return HandleWebhook(std::move(request), std::move(responder));
    if (path == "/cgi-bin/token") return HandleClassicToken(request, responder);
    if (path == "/cgi-bin/stable_token") return HandleStableToken(request, responder);
    if (!control) return responder.Send(Json(R"({"errcode":404,"errmsg":"no such api"})", 404));

    if (receipts_.Handle(request, responder)) return;  // /fake/receipts, /fake/verify-url
    const bool get = request.method == "GET";
    const bool post = request.method == "POST";
    if (path == "/fake/stats" && get) return HandleStats(responder);
    if (path == "/fake/messages" && get) return HandleMessages(request, responder);
    if (path == "/fake/config" && (get || post)) return HandleConfig(request, responder);
    if (path == "/fake/reset" && post) {
        config_ = defaults_;
        state_ = State{};
        wecom_.Reset();
        random_.seed(options_.seed);
        return responder.Send(Json(R"({"ok":true})"));
    }
    if (path == "/fake/expire_tokens" && post) {
        uint64_t now = Now();
        for (auto& [token, record] : state_.tokens)
            record.expires_at_ms = std::min(record.expires_at_ms, now);
        return responder.Send(Json(R"({"ok":true})"));
    }
    if ((path == "/fake/clear_quota" || path == "/fake/new_day") && post) {
        state_.day_sends = 0;
        if (path == "/fake/new_day") {
            state_.classic_fetches_today = 0;
            state_.stable_forced_today = 0;
        }
        return responder.Send(Json(R"({"ok":true})"));
    }
    responder.Send(ControlError(
        404, "no such control endpoint or wrong method: " + request.method + " " + path));
}

std::string FakeWechat::IssueToken() {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    std::string token = std::to_string(++token_serial_) + "_";
    while (token.size() < 136) token.push_back(kAlphabet[random_() % (sizeof(kAlphabet) - 1)]);
    state_.tokens.emplace(token, Token{Now() + static_cast<uint64_t>(config_.token_ttl_s) * 1000});
    // Superseded tokens past their grace are as good as unknown: forget them.
    if (state_.tokens.size() > 10'000) {
        uint64_t now = Now();
        std::erase_if(state_.tokens,
                      [now](const auto& entry) { return now >= entry.second.dead_after_ms; });
    }
    return token;
}

std::string FakeWechat::RequestId() {
    char rid[40];
    uint64_t r = random_();
    std::snprintf(rid, sizeof(rid), "%08x-%08x-%08x", static_cast<unsigned>(UnixMillis() / 1000),
                  static_cast<unsigned>(r >> 32), static_cast<unsigned>(r));
    return rid;
}

bool FakeWechat::Chance(double probability) {
    if (probability <= 0) return false;
    if (probability >= 1) return true;
    return std::uniform_real_distribution<double>(0, 1)(random_) < probability;
}

namespace {

std::string TokenReply(const std::string& token, uint64_t expires_in_s) {
    rapidjson::StringBuffer out;
    JsonWriter w(out);
    w.StartObject();
    w.Key("access_token");
    w.String(token.data(), static_cast<rapidjson::SizeType>(token.size()));
    w.Key("expires_in");
    w.Uint64(expires_in_s);
    w.EndObject();
    return out.GetString();
}

}  // namespace

void FakeWechat::HandleClassicToken(const HttpRequest& request, const HttpResponder& responder) {
    ++state_.token_requests;
    std::string grant_type, appid, secret;
    request.QueryParam("grant_type", &grant_type);
    if (grant_type != "client_credential") return responder.Send(Json(WechatError(40002, "")));
    if (!request.QueryParam("appid", &appid) || appid.empty())
        return responder.Send(Json(WechatError(41002, "")));
    if (appid != options_.appid) return responder.Send(Json(WechatError(40013, "")));
    if (!request.QueryParam("secret", &secret) || secret.empty())
        return responder.Send(Json(WechatError(41004, "")));
    if (secret != ExpectedSecret()) return responder.Send(Json(WechatError(40001, "")));
    if (state_.classic_fetches_today >= config_.token_daily_limit)
        return responder.Send(Json(WechatError(45009, "")));
    ++state_.classic_fetches_today;

    // The previous token keeps working for the grace period, then answers 40001.
    uint64_t now = Now();
    if (auto old = state_.tokens.find(state_.classic_token); old != state_.tokens.end()) {
        old->second.dead_after_ms = std::min(
            old->second.dead_after_ms, now + static_cast<uint64_t>(config_.classic_grace_s) * 1000);
    }
    state_.classic_token = IssueToken();
    responder.Send(
        Json(TokenReply(state_.classic_token, static_cast<uint64_t>(config_.token_ttl_s))));
}

void FakeWechat::HandleStableToken(const HttpRequest& request, const HttpResponder& responder) {
    ++state_.stable_token_requests;
    if (request.method != "POST") return responder.Send(Json(WechatError(43002, RequestId())));
    ParsedJson body(request.body);
    if (!body.object()) return responder.Send(Json(WechatError(47001, RequestId())));
    const rapidjson::Document& json = body.get();
    if (StringMember(json, "grant_type") != "client_credential")
        return responder.Send(Json(WechatError(40002, RequestId())));
    std::string_view appid = StringMember(json, "appid");
    std::string_view secret = StringMember(json, "secret");
    if (appid.empty()) return responder.Send(Json(WechatError(41002, RequestId())));
    if (appid != options_.appid) return responder.Send(Json(WechatError(40013, RequestId())));
    if (secret.empty()) return responder.Send(Json(WechatError(41004, RequestId())));
    if (secret != ExpectedSecret()) return responder.Send(Json(WechatError(40125, RequestId())));
    auto force = json.FindMember("force_refresh");
    const bool force_refresh =
        force != json.MemberEnd() && force->value.IsBool() && force->value.GetBool();

    uint64_t now = Now();
    const uint64_t ttl_ms = static_cast<uint64_t>(config_.token_ttl_s) * 1000;
    // WeChat renews 5 minutes before expiry; scaled down for short test TTLs.
    const uint64_t renew_ms = std::min<uint64_t>(300'000, ttl_ms / 2);
    auto current = state_.tokens.find(state_.stable_token);
    const bool valid = current != state_.tokens.end() && now < current->second.expires_at_ms &&
                       now < current->second.dead_after_ms;

    bool issue = !valid || now + renew_ms >= current->second.expires_at_ms;
    if (force_refresh) {
        if (state_.stable_forced_today >= config_.stable_force_per_day)
            return responder.Send(Json(WechatError(45009, RequestId())));
        // Within the interval WeChat does not refresh: the current token comes back.
        const bool too_soon =
            state_.stable_forced_ever &&
            now < state_.stable_forced_at_ms +
                      static_cast<uint64_t>(config_.stable_force_interval_s) * 1000;
        if (!too_soon) {
            ++state_.stable_forced_today;
            state_.stable_forced_ever = true;
            state_.stable_forced_at_ms = now;
            if (valid) current->second.dead_after_ms = now;  // forced: the old one dies at once
            issue = true;
        }
    }
    if (issue) {
        state_.stable_token =
            IssueToken();  // a renewed (unforced) old token lives until it expires
        current = state_.tokens.find(state_.stable_token);
    }
    uint64_t left_ms =
        current->second.expires_at_ms > now ? current->second.expires_at_ms - now : 0;
    responder.Send(Json(TokenReply(state_.stable_token, left_ms / 1000)));
}

void FakeWechat::AnswerSend(const HttpResponder& responder, int errcode, uint64_t msgid) {
    HttpResponse response;
    if (errcode == 0) {
        response = Json(R"({"errcode":0,"errmsg":"ok","msgid":)" + std::to_string(msgid) + "}");
    } else {
        ++state_.errors[errcode];
        response = errcode >= 500 && errcode <= 599 ? HttpErrorPage(errcode)
                                                    : Json(WechatError(errcode, RequestId()));
    }
    delayed_.Schedule(static_cast<uint64_t>(config_.latency_ms), responder, std::move(response));
}

uint64_t FakeWechat::Deliver(const std::string& touser, const std::string& client_msg_id,
                             std::string body) {
    const uint64_t msgid = next_msgid_++;
    ++state_.delivered;
    ++state_.day_sends;
    const int64_t t_ms = UnixMillis();
    if (t_ms / 1000 != state_.current_second) {
        state_.current_second = t_ms / 1000;
        state_.current_second_sends = 0;
    }
    state_.max_per_second = std::max(state_.max_per_second, ++state_.current_second_sends);
    if (state_.messages.size() < kMaxStoredMessages) {
        state_.messages.push_back(StoredMessage{msgid, t_ms, std::move(body)});
    } else {
        ++state_.messages_not_stored;
    }
    if (!client_msg_id.empty()) {
        const uint64_t now = Now();
        std::string key = touser + '\n' + client_msg_id;
        state_.sent_by_client_msg_id[key] = SentRecord{msgid, now};
        state_.sent_order.emplace_back(std::move(key), now);
        const uint64_t window_ms = static_cast<uint64_t>(config_.dedup_window_s) * 1000;
        while (!state_.sent_order.empty() && state_.sent_order.front().second + window_ms < now) {
            auto& [old_key, at] = state_.sent_order.front();
            auto it = state_.sent_by_client_msg_id.find(old_key);
            if (it != state_.sent_by_client_msg_id.end() && it->second.at_ms == at)
                state_.sent_by_client_msg_id.erase(it);
            state_.sent_order.pop_front();
        }
    }
    return msgid;
}

void FakeWechat::HandleTemplateSend(HttpRequest&& request, HttpResponder responder) {
    ++state_.send_requests;
    if (request.method != "POST") return AnswerSend(responder, 43002);

    std::string token;
    if (!request.QueryParam("access_token", &token) || token.empty())
        return AnswerSend(responder, 41001);
    const uint64_t now = Now();
    auto record = state_.tokens.find(token);
    if (record == state_.tokens.end() || now >= record->second.dead_after_ms)
        return AnswerSend(responder, 40001);
    if (now >= record->second.expires_at_ms) return AnswerSend(responder, 42001);

    ParsedJson body(request.body);
    if (!body.object()) return AnswerSend(responder, 47001);
    const rapidjson::Document& json = body.get();
    const std::string touser(StringMember(json, "touser"));
    if (touser.empty() || touser[0] != 'o') return AnswerSend(responder, 40003);
    const std::string template_id(StringMember(json, "template_id"));
    if (template_id.empty()) return AnswerSend(responder, 40037);
    const std::string client_msg_id(StringMember(json, "client_msg_id"));

    // Injected faults, most specific first.
    if (!config_.next_errors.empty()) {
        int code = config_.next_errors.front();
        config_.next_errors.pop_front();
        return AnswerSend(responder, code);
    }
    if (auto it = config_.fail_openids.find(touser); it != config_.fail_openids.end())
        return AnswerSend(responder, it->second);
    if (auto it = config_.fail_template_ids.find(template_id);
        it != config_.fail_template_ids.end())
        return AnswerSend(responder, it->second);
    if (!client_msg_id.empty()) {
        auto it = state_.sent_by_client_msg_id.find(touser + '\n' + client_msg_id);
        if (it != state_.sent_by_client_msg_id.end() &&
            now < it->second.at_ms + static_cast<uint64_t>(config_.dedup_window_s) * 1000) {
            ++state_.dedup_dropped;  // WeChat answers ok and sends nothing
            return AnswerSend(responder, 0, it->second.msgid);
        }
    }
    if (config_.quota >= 0 && state_.day_sends >= config_.quota)
        return AnswerSend(responder, 45009);
    if (Chance(config_.timeout_rate)) {
        ++state_.held;
        if (Chance(config_.timeout_executes)) {
            ++state_.executed_on_timeout;
            Deliver(touser, client_msg_id, std::move(request.body));
        }
        std::erase_if(held_, [](const HttpResponder& r) { return !r.connection_open(); });
        held_.push_back(std::move(responder));  // never answered
        return;
    }
    if (Chance(config_.fail_rate)) {
        int code = config_.fail_codes.empty()
                       ? -1
                       : config_.fail_codes[random_() % config_.fail_codes.size()];
        return AnswerSend(responder, code);
    }
    const uint64_t msgid = Deliver(touser, client_msg_id, std::move(request.body));
    AnswerSend(responder, 0, msgid);
    receipts_.OnSent(msgid, touser);
}

void FakeWechat::HandleStats(const HttpResponder& responder) {
    std::erase_if(held_, [](const HttpResponder& r) { return !r.connection_open(); });
    rapidjson::StringBuffer out;
    JsonWriter w(out);
    w.StartObject();
    w.Key("endpoints");  // requests per API path
    w.StartObject();
    for (const auto& [path, n] : state_.by_endpoint) {
        w.Key(path.c_str());
        w.Uint64(n);
    }
    w.EndObject();
    w.Key("delivered");
    w.Uint64(state_.delivered);
    w.Key("requests");
    w.Uint64(state_.send_requests);
    w.Key("token_requests");
    w.Uint64(state_.token_requests);
    w.Key("stable_token_requests");
    w.Uint64(state_.stable_token_requests);
    w.Key("errors");
    w.StartObject();
    for (const auto& [code, count] : state_.errors) {
        std::string key = std::to_string(code);
        w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
        w.Uint64(count);
    }
    w.EndObject();
    w.Key("dedup_dropped");
    w.Uint64(state_.dedup_dropped);
    w.Key("inflight");
    w.Uint64(delayed_.pending() + held_.size());
    w.Key("max_per_second");
    w.Uint64(state_.max_per_second);
    w.Key("executed_on_timeout");
    w.Uint64(state_.executed_on_timeout);
    w.Key("held");
    w.Uint64(state_.held);
    w.Key("refused");
    w.Uint64(state_.refused);
    w.Key("day_sends");
    w.Int64(state_.day_sends);
    w.Key("messages_stored");
    w.Uint64(state_.messages.size());
    w.Key("messages_not_stored");
    w.Uint64(state_.messages_not_stored);
    w.Key("connections");
    w.Uint64(server_.connection_count());
    w.Key("http_requests");
    w.Uint64(server_.requests_parsed());
    w.EndObject();
    responder.Send(Json(out.GetString()));
}

void FakeWechat::HandleMessages(const HttpRequest& request, const HttpResponder& responder) {
    auto number = [&request](const char* name, size_t fallback, size_t* value) {
        std::string text;
        if (!request.QueryParam(name, &text)) {
            *value = fallback;
            return true;
        }
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
            text.size() > 18)
            return false;
        *value = std::stoull(text);
        return true;
    };
    size_t since = 0, limit = 0;
    if (!number("since", 0, &since) || !number("limit", kDefaultMessagesPage, &limit))
        return responder.Send(ControlError(400, "since and limit must be non-negative integers"));
    const size_t begin = std::min(since, state_.messages.size());
    const size_t end = begin + std::min(limit, state_.messages.size() - begin);

    rapidjson::StringBuffer out;
    JsonWriter w(out);
    w.StartObject();
    w.Key("next");
    w.Uint64(end);
    w.Key("total");
    w.Uint64(state_.messages.size());
    w.Key("not_stored");
    w.Uint64(state_.messages_not_stored);
    w.Key("messages");
    w.StartArray();
    for (size_t i = begin; i < end; ++i) {
        const StoredMessage& m = state_.messages[i];
        ParsedJson body(m.body);  // fields are re-read from the body rather than kept twice
        auto write_field = [&w, &body](const char* name) {
            std::string_view value =
                body.object() ? StringMember(body.get(), name) : std::string_view();
            w.Key(name);
            w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
        };
        w.StartObject();
        w.Key("seq");
        w.Uint64(i);
        w.Key("msgid");
        w.Uint64(m.msgid);
        write_field("touser");
        write_field("template_id");
        write_field("client_msg_id");
        w.Key("body");
        w.String(m.body.data(), static_cast<rapidjson::SizeType>(m.body.size()));
        w.Key("t_ms");
        w.Int64(m.t_ms);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    responder.Send(Json(std::string(out.GetString(), out.GetSize())));
}

std::string FakeWechat::ConfigJson() const {
    rapidjson::StringBuffer out;
    JsonWriter w(out);
    w.StartObject();
    w.Key("latency_ms");
    w.Int(config_.latency_ms);
    w.Key("fail_rate");
    w.Double(config_.fail_rate);
    w.Key("fail_codes");
    WriteIntList(w, config_.fail_codes);
    w.Key("timeout_rate");
    w.Double(config_.timeout_rate);
    w.Key("timeout_executes");
    w.Double(config_.timeout_executes);
    w.Key("fail_openids");
    WriteIntMap(w, config_.fail_openids);
    w.Key("fail_template_ids");
    WriteIntMap(w, config_.fail_template_ids);
    w.Key("next_errors");
    WriteIntList(w, config_.next_errors);
    w.Key("quota");
    w.Int64(config_.quota);
    w.Key("token_ttl_s");
    w.Int(config_.token_ttl_s);
    w.Key("refuse");
    w.Bool(config_.refuse);
    w.Key("classic_grace_s");
    w.Int(config_.classic_grace_s);
    w.Key("token_daily_limit");
    w.Int(config_.token_daily_limit);
    w.Key("stable_force_per_day");
    w.Int(config_.stable_force_per_day);
    w.Key("stable_force_interval_s");
    w.Int(config_.stable_force_interval_s);
    w.Key("dedup_window_s");
    w.Int(config_.dedup_window_s);
    w.EndObject();
    return out.GetString();
}

namespace {

// Reads one POST /fake/config member into config; false (with why) when the value is wrong.
bool ApplyConfigMember(std::string_view key, const rapidjson::Value& v, FakeWechatConfig* c,
                       std::string* why) {
    auto non_negative_int = [&](int* field) {
        if (!v.IsInt() || v.GetInt() < 0)
            return *why = std::string(key) + " must be an integer >= 0", false;
        *field = v.GetInt();
        return true;
    };
    auto probability = [&](double* field) {
        if (!v.IsNumber() || v.GetDouble() < 0 || v.GetDouble() > 1)
            return *why = std::string(key) + " must be a number in [0, 1]", false;
        *field = v.GetDouble();
        return true;
    };
    auto code_list = [&](auto* field) {
        if (!v.IsArray()) return *why = std::string(key) + " must be a list of errcodes", false;
        field->clear();
        for (const auto& item : v.GetArray()) {
            if (!item.IsInt())
                return *why = std::string(key) + " must be a list of errcodes", false;
            field->push_back(item.GetInt());
        }
        return true;
    };
    auto code_map = [&](std::map<std::string, int>* field) {
        if (!v.IsObject())
            return *why = std::string(key) + " must be an object of name: errcode", false;
        field->clear();
        for (const auto& member : v.GetObject()) {
            if (!member.value.IsInt())
                return *why = std::string(key) + " values must be errcodes", false;
            field->emplace(std::string(member.name.GetString(), member.name.GetStringLength()),
                           member.value.GetInt());
        }
        return true;
    };
    if (key == "latency_ms") return non_negative_int(&c->latency_ms);
    if (key == "fail_rate") return probability(&c->fail_rate);
    if (key == "fail_codes") return code_list(&c->fail_codes);
    if (key == "timeout_rate") return probability(&c->timeout_rate);
    if (key == "timeout_executes") return probability(&c->timeout_executes);
    if (key == "fail_openids") return code_map(&c->fail_openids);
    if (key == "fail_template_ids") return code_map(&c->fail_template_ids);
    if (key == "next_errors") return code_list(&c->next_errors);
    if (key == "quota") {
        if (v.IsNull()) return c->quota = -1, true;
        if (!v.IsInt64() || v.GetInt64() < -1)
            return *why = "quota must be an integer >= 0, or -1/null for none", false;
        c->quota = v.GetInt64();
        return true;
    }
    if (key == "token_ttl_s") {
        if (!v.IsInt() || v.GetInt() < 1)
            return *why = "token_ttl_s must be an integer >= 1", false;
        c->token_ttl_s = v.GetInt();
        return true;
    }
    if (key == "secret") {  // as when the secret is reset in WeChat's console
        if (!v.IsString()) return *why = "secret must be a string", false;
        c->secret = v.GetString();
        return true;
    }
    if (key == "refuse") {
        if (!v.IsBool()) return *why = "refuse must be true or false", false;
        c->refuse = v.GetBool();
        return true;
    }
    if (key == "classic_grace_s") return non_negative_int(&c->classic_grace_s);
    if (key == "token_daily_limit") return non_negative_int(&c->token_daily_limit);
    if (key == "stable_force_per_day") return non_negative_int(&c->stable_force_per_day);
    if (key == "stable_force_interval_s") return non_negative_int(&c->stable_force_interval_s);
    if (key == "dedup_window_s") return non_negative_int(&c->dedup_window_s);
    *why = "unknown config key: " + std::string(key);
    return false;
}

}  // namespace

void FakeWechat::HandleConfig(const HttpRequest& request, const HttpResponder& responder) {
    if (request.method == "POST" && !request.body.empty()) {
        rapidjson::Document json;
        json.Parse(request.body.data(), request.body.size());
        if (json.HasParseError() || !json.IsObject())
            return responder.Send(ControlError(400, "body must be a JSON object"));
        FakeWechatConfig changed = config_;  // all or nothing
        std::string why;
        for (const auto& member : json.GetObject()) {
            std::string_view key(member.name.GetString(), member.name.GetStringLength());
            if (!ApplyConfigMember(key, member.value, &changed, &why))
                return responder.Send(ControlError(400, why));
        }
        config_ = std::move(changed);
    }
    responder.Send(Json(ConfigJson()));
}

}  // namespace fakewechat
