// WechatTemplateChannel: the template/send call. The reply is read with a SAX pass that keeps
// only the top-level errcode and msgid (no DOM, nothing allocated per reply), nested at most
// kMaxJsonDepth deep.
#include "delivery/WechatTemplateChannel.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstdint>

#include "delivery/ValueRules.h"
#include "protocol/JsonCheck.h"
#include "templates/ClientMsgId.h"

namespace mega {
namespace {

constexpr std::string_view kSendPath = "/cgi-bin/message/template/send?access_token=";
constexpr std::string_view kBizSubscribePath = "/cgi-bin/message/subscribe/bizsend?access_token=";
constexpr std::string_view kMiniSubscribePath = "/cgi-bin/message/subscribe/send?access_token=";
constexpr std::string_view kRobotPath = "/cgi-bin/webhook/send?key=";

// SAX handler picking errcode and msgid out of a WeChat reply (no DOM).
class ReplyFields : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ReplyFields> {
  public:
    void Reset() {
        depth_ = 0;
        field_ = Field::kOther;
        root_object = has_errcode = false;
        errcode = 0;
        msgid = 0;
    }
    bool Default() { return true; }
    bool StartObject() {
        if (depth_ == 0) root_object = true;
        return ++depth_ <= protocol::kMaxJsonDepth;  // bounds the parser's recursion
    }
    bool StartArray() { return ++depth_ <= protocol::kMaxJsonDepth; }
    bool EndObject(rapidjson::SizeType) { return EndArray(0); }
    bool EndArray(rapidjson::SizeType) {
        --depth_;
        return true;
    }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        const std::string_view key(s, n);
        field_ = depth_ != 1        ? Field::kOther
                 : key == "errcode" ? Field::kErrcode
                 : key == "msgid"   ? Field::kMsgid
                                    : Field::kOther;
        return true;
    }
    bool Int(int i) { return Number(i, i >= 0); }
    bool Uint(unsigned u) { return Number(int64_t(u), true); }
    bool Int64(int64_t i) { return Number(i, i >= 0); }
    bool Uint64(uint64_t u) {
        if (depth_ == 1 && field_ == Field::kMsgid) msgid = u;
        return true;
    }

    bool root_object = false, has_errcode = false;
    int errcode = 0;
    uint64_t msgid = 0;

  private:
    enum class Field { kOther, kErrcode, kMsgid };
    bool Number(int64_t v, bool non_negative) {
        if (depth_ != 1) return true;
        if (field_ == Field::kErrcode && v >= INT32_MIN && v <= INT32_MAX) {
            errcode = int(v);
            has_errcode = true;
        } else if (field_ == Field::kMsgid && non_negative) {
            msgid = uint64_t(v);
        }
        return true;
    }
    int depth_ = 0;
    Field field_ = Field::kOther;
};

class WechatReplyReader : public ReplyReader {
  public:
    ChannelReply Read(std::string_view body) override {
        fields_.Reset();
        rapidjson::MemoryStream in(body.data(), body.size());
        ChannelReply r;
        r.understood =
            !reader_.Parse<0>(in, fields_).IsError() && fields_.root_object && fields_.has_errcode;
        r.errcode = fields_.errcode;
        r.msgid = fields_.msgid;
        return r;
    }

  private:
    ReplyFields fields_;
    rapidjson::Reader reader_;
};

}  // namespace

std::string_view WechatTemplateChannel::name() const {
    switch (options_.call) {
        case WechatSendOptions::Call::kBizSubscribe:
            return "wechat_oa_subscribe";
        case WechatSendOptions::Call::kMiniSubscribe:
            return "wechat_mini_subscribe";
        case WechatSendOptions::Call::kRobot:
            return "wecom_robot";
        default:
            return "wechat_template";
    }
}

Status WechatTemplateChannel::Render(const DeliveryJob& job, std::string* body,
                                     Template::Scratch* scratch) const {
    if (options_.reject_missing) {
        Status s = job.tmpl->CheckAllValues(job.data);
        if (!s.ok()) return s;
    }
    if (options_.call == WechatSendOptions::Call::kRobot)
        return job.tmpl->Render(job.openid, job.data, {}, body, scratch);
    if (options_.call != WechatSendOptions::Call::kTemplate) {
        Status s = job.tmpl->Render(job.openid, job.data, {}, body, scratch);
        return s.ok() ? CheckSubscribeBody(*body) : s;
    }
    const ClientMsgId client_msg_id(job.msgkey, job.id);  // the same on every send
    Status s = job.tmpl->Render(job.openid, job.data, client_msg_id.view(), body, scratch);
    return s.ok() ? CheckTemplateBody(*body, options_.template_max_chars) : s;
}

void WechatTemplateChannel::AppendUrl(std::string_view base, std::string_view token,
                                      std::string* url) const {
    const std::string_view path =
        options_.call == WechatSendOptions::Call::kBizSubscribe    ? kBizSubscribePath
        : options_.call == WechatSendOptions::Call::kMiniSubscribe ? kMiniSubscribePath
        : options_.call == WechatSendOptions::Call::kRobot         ? kRobotPath
                                                                   : kSendPath;
    url->append(base).append(path).append(token);
}

std::unique_ptr<ReplyReader> WechatTemplateChannel::NewReplyReader() const {
    return std::make_unique<WechatReplyReader>();
}

Outcome WechatTemplateChannel::Classify(bool transport_ok, long http_status, int errcode) const {
    // A robot's 45009 is its per-minute limit, not a daily quota: the message waits a while.
    if (options_.call == WechatSendOptions::Call::kRobot && errcode == 45009)
        return Outcome::kTransient;
    return mega::Classify(transport_ok, http_status, errcode);
}

}  // namespace mega
