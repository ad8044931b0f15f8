// ParseEventXml: expat calls back per element; the text of each element is collected and
// assigned to the event (depth 2, under <xml>) or to the current <List> item (below one).
#include "events/EventXml.h"

#include <expat.h>

#include <charconv>
#include <memory>

namespace mega {
namespace {

constexpr int kMaxDepth = 8;
constexpr size_t kMaxItems = 64;
constexpr size_t kMaxText = 4096;

struct ParserFree {
    void operator()(XML_Parser p) const { XML_ParserFree(p); }
};

uint64_t ToU64(const std::string& s) {
    uint64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() ? v : 0;
}

class EventReader {
  public:
    explicit EventReader(WechatEvent* out) : out_(out) {}
    std::string error;

    void Start(const XML_Char* name) {
        depth_++;
        text_.clear();
        if (depth_ > kMaxDepth) return Fail("XML nested too deep");
        if (depth_ == 1 && std::string_view(name) != "xml") return Fail("root is not <xml>");
        if (std::string_view(name) == "List" && depth_ >= 2) {
            if (out_->items.size() >= kMaxItems) return Fail("too many List items");
            out_->items.emplace_back();
            list_depth_ = depth_;
        }
    }
    void End(const XML_Char* name) {
        std::string_view n(name);
        if (list_depth_ && depth_ > list_depth_)
            Item(n, &out_->items.back());
        else if (depth_ == 2)
            Top(n);
        if (depth_ == list_depth_) list_depth_ = 0;
        depth_--;
        text_.clear();
    }
    void Text(const XML_Char* s, int len) {
        if (text_.size() + size_t(len) > kMaxText) return Fail("XML text too long");
        text_.append(s, size_t(len));
    }
    void Fail(std::string why) {
        if (error.empty()) error = std::move(why);
        XML_StopParser(parser, XML_FALSE);
    }
    XML_Parser parser = nullptr;

  private:
    void Top(std::string_view n) {
        if (n == "ToUserName")
            out_->to_user = text_;
        else if (n == "FromUserName")
            out_->from_user = text_;
        else if (n == "CreateTime")
            out_->create_time = int64_t(ToU64(text_));
        else if (n == "MsgType")
            out_->msg_type = text_;
        else if (n == "Event")
            out_->event = text_;
        else if (n == "MsgID" || n == "MsgId")
            out_->msgid = ToU64(text_);
        else if (n == "Status")
            out_->status = text_;
        else if (n == "Encrypt")
            out_->encrypt = text_;
    }
    void Item(std::string_view n, SubscribeItem* item) {
        if (n == "TemplateId")
            item->template_id = text_;
        else if (n == "MsgID" || n == "MsgId")
            item->msgid = ToU64(text_);
        else if (n == "ErrorCode")
            item->error_code = text_;
        else if (n == "ErrorStatus")
            item->error_status = text_;
        else if (n == "SubscribeStatusString")
            item->choice = text_;
        else if (n == "PopupScene")
            item->popup_scene = text_;
    }

    WechatEvent* out_;
    int depth_ = 0, list_depth_ = 0;
    std::string text_;
};

void XMLCALL OnStart(void* data, const XML_Char* name, const XML_Char**) {
    static_cast<EventReader*>(data)->Start(name);
}
void XMLCALL OnEnd(void* data, const XML_Char* name) {
    static_cast<EventReader*>(data)->End(name);
}
void XMLCALL OnText(void* data, const XML_Char* s, int len) {
    static_cast<EventReader*>(data)->Text(s, len);
}
void XMLCALL OnDoctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<EventReader*>(data)->Fail("DOCTYPE not allowed");
}

}  // namespace

Status ParseEventXml(std::string_view xml, WechatEvent* out) {
    *out = WechatEvent{};
    std::unique_ptr<XML_ParserStruct, ParserFree> parser(XML_ParserCreate("UTF-8"));
    if (!parser) return Status::Unavailable("out of memory");
    EventReader reader(out);
    reader.parser = parser.get();
    XML_SetUserData(parser.get(), &reader);
    XML_SetElementHandler(parser.get(), OnStart, OnEnd);
    XML_SetCharacterDataHandler(parser.get(), OnText);
    XML_SetStartDoctypeDeclHandler(parser.get(), OnDoctype);
    if (xml.size() > (1u << 20)) return Status::Invalid("XML too large");
    XML_Status s = XML_Parse(parser.get(), xml.data(), int(xml.size()), XML_TRUE);
    if (!reader.error.empty()) return Status::Invalid(reader.error);
    if (s != XML_STATUS_OK)
        return Status::Invalid(std::string("bad XML: ") +
                               XML_ErrorString(XML_GetErrorCode(parser.get())));
    return Status::Ok();
}

}  // namespace mega
