// WecomAppChannel: add agentid and the duplicate check to the rendered body, read WeCom's
// reply (errcode, string msgid, the invalid receivers) with a small DOM, classify its codes.
#include "delivery/WecomAppChannel.h"

#include <rapidjson/document.h>

#include "protocol/JsonCheck.h"

namespace mega {
namespace {

constexpr std::string_view kSendPath = "/cgi-bin/message/send?access_token=";

std::string_view Member(const rapidjson::Value& v, const char* name) {
    auto it = v.FindMember(name);
    if (it == v.MemberEnd() || !it->value.IsString()) return {};
    return {it->value.GetString(), it->value.GetStringLength()};
}

class WecomReplyReader : public ReplyReader {
  public:
    ChannelReply Read(std::string_view body) override {
        ChannelReply r;
        rapidjson::Document doc;
        if (protocol::JsonDepthWithin(body)) doc.Parse(body.data(), body.size());
        if (doc.HasParseError() || !doc.IsObject()) return r;
        auto code = doc.FindMember("errcode");
        if (code == doc.MemberEnd() || !code->value.IsInt()) return r;
        r.understood = true;
        r.errcode = code->value.GetInt();
        r.remote_msgid = Member(doc, "msgid");
        for (const char* list : {"invaliduser", "invalidparty", "invalidtag"}) {
            const std::string_view names = Member(doc, list);
            if (names.empty()) continue;
            if (!r.note.empty()) r.note += "; ";
            r.note.append(list).append(": ").append(names);
        }
        return r;
    }
};

}  // namespace

Status WecomAppChannel::Render(const DeliveryJob& job, std::string* body,
                               Template::Scratch* scratch) const {
    const size_t start = body->size();
    Status s = job.tmpl->Render(job.openid, job.data, {}, body, scratch);
    if (!s.ok()) return s;
    while (body->size() > start && (body->back() == ' ' || body->back() == '\n' ||
                                    body->back() == '\r' || body->back() == '\t'))
        body->pop_back();
    if (body->size() < start + 2 || (*body)[start] != '{' || body->back() != '}')
        return Status::Invalid("a wecom_app template must be a JSON object");
    body->pop_back();
    const bool empty = body->find_first_not_of(" \t\r\n", start + 1) == std::string::npos;
    body->append(empty ? "" : ",").append("\"agentid\":").append(agent_id_);
    body->append(",\"enable_duplicate_check\":1,\"duplicate_check_interval\":");
    body->append(std::to_string(kWecomDuplicateCheckS)).append("}");
    return Status::Ok();
}

void WecomAppChannel::AppendUrl(std::string_view base, std::string_view token,
                                std::string* url) const {
    url->append(base).append(kSendPath).append(token);
}

std::unique_ptr<ReplyReader> WecomAppChannel::NewReplyReader() const {
    return std::make_unique<WecomReplyReader>();
}

Outcome WecomAppChannel::Classify(bool transport_ok, long http_status, int errcode) const {
    switch (errcode) {
        case 40001:
            return Outcome::kPermanent;  // WeCom: invalid secret (configuration)
        case 45009:
            return Outcome::kTransient;  // WeCom: API call over its frequency limit
        case 45033:
            return Outcome::kTransient;  // WeCom: too many concurrent calls
        case 81013:
            return Outcome::kPermanent;  // no valid receiver in touser/toparty/totag
        default:
            return mega::Classify(transport_ok, http_status, errcode);  // 40014/42001: token
    }
}

}  // namespace mega
