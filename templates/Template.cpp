// Template parsing and rendering. Parse splits the text into literals and holes once and
// checks the shape with every hole empty. Render decodes the frame's data with one SAX pass
// (numbers keep their original text), stores each referenced member JSON-escaped in a
// reusable buffer, copies literals and values into the output, then re-checks the output.
#include "templates/Template.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <string>

#include "protocol/JsonCheck.h"

namespace mega {
namespace {

constexpr uint32_t kOpenidSlot = UINT32_MAX;
constexpr std::string_view kOpenidName = "OPENID";
constexpr size_t kMaxNameSize = 128;
// Numbers as their original text (39.80 stays 39.80). Invalid UTF-8 is refused before the
// parse (protocol::IsValidUtf8, a word at a time), not by RapidJSON's byte-wise check.
constexpr unsigned kDataFlags = rapidjson::kParseNumbersAsStringsFlag;

bool IsJsonSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool IsPlaceholderName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameSize) return false;
    for (unsigned char c : name) {
        if (c <= 0x20 || c == '"' || c == '\\' || c == '{' || c == '$') return false;
    }
    return true;
}

// Appends `s` as the inside of a JSON string: `"`, `\` and control characters escaped,
// everything else (including non-ASCII UTF-8 and '/') as is.
void AppendEscaped(std::string* out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out->append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"':
                out->append("\\\"");
                break;
            case '\\':
                out->append("\\\\");
                break;
            case '\n':
                out->append("\\n");
                break;
            case '\r':
                out->append("\\r");
                break;
            case '\t':
                out->append("\\t");
                break;
            case '\b':
                out->append("\\b");
                break;
            case '\f':
                out->append("\\f");
                break;
            default: {
                const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
                out->append(u, 6);
            }
        }
    }
    out->append(s.data() + run, s.size() - run);
}

std::string ParseErrorText(const rapidjson::ParseResult& r) {
    return std::string(rapidjson::GetParseError_En(r.Code())) + " at offset " +
           std::to_string(r.Offset());
}

// One data member a template refers to, stored in DataCollector's buffer.
struct ValueSlot {
    enum class Kind : uint8_t {
        kMissing,  // absent or null
        kString,   // JSON-escaped text, without quotes
        kRaw,      // JSON text: a number, true/false, or an object/array
    };
    Kind kind = Kind::kMissing;
    size_t begin = 0, size = 0;
};

// SAX handler over the frame's data: for each top-level member named by the template,
// records its value in `values_` (strings escaped, other values as JSON text). Members the
// template does not use are skipped without copying.
class DataCollector : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DataCollector> {
  public:
    void Reset(const std::vector<std::string>* names) {
        names_ = names;
        slots_.assign(names->size(), ValueSlot{});
        values_.clear();
        depth_ = 0;
        member_ = -1;
        capturing_ = need_comma_ = root_array_ = false;
        error_ = nullptr;
    }
    const char* error() const { return error_; }
    ValueSlot::Kind kind(uint32_t slot) const { return slots_[slot].kind; }
    std::string_view value(uint32_t slot) const {
        return std::string_view(values_).substr(slots_[slot].begin, slots_[slot].size);
    }

    bool Null() { return depth_ == 0 || Scalar(ScalarKind::kNull, "null"); }  // root null: no data
    bool Bool(bool b) { return Scalar(ScalarKind::kRaw, b ? "true" : "false"); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        return Scalar(ScalarKind::kRaw, {s, n});
    }
    bool String(const char* s, rapidjson::SizeType n, bool) {
        if (!protocol::IsValidUtf8({s, n})) return Fail(kBadEscape);
        return Scalar(ScalarKind::kString, {s, n});
    }
    bool StartObject() { return Open('{'); }
    bool StartArray() { return Open('['); }
    bool EndObject(rapidjson::SizeType) { return Close('}'); }
    bool EndArray(rapidjson::SizeType) { return Close(']'); }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        if (!protocol::IsValidUtf8({s, n})) return Fail(kBadEscape);
        if (depth_ == 1) {
            member_ = Find({s, n});
        } else if (capturing_) {
            Comma();
            values_ += '"';
            AppendEscaped(&values_, {s, n});
            values_ += "\":";
            need_comma_ = false;
        }
        return true;
    }

  private:
    enum class ScalarKind { kNull, kString, kRaw };
    static constexpr const char* kBadEscape =
        "data holds an escape that is not UTF-8 "
        "(a lone surrogate)";

    bool Fail(const char* why) {
        error_ = why;
        return false;
    }
    int Find(std::string_view name) const {
        for (size_t i = 0; i < names_->size(); ++i) {
            if ((*names_)[i] == name) return int(i);
        }
        return -1;
    }
    void Comma() {
        if (need_comma_) values_ += ',';
    }
    bool Scalar(ScalarKind kind, std::string_view text) {
        if (depth_ == 0 || root_array_) return Fail("data is not a JSON object");
        if (depth_ == 1) {
            if (member_ < 0) return true;
            ValueSlot& slot = slots_[member_];
            if (kind == ScalarKind::kNull) {  // a later duplicate member wins, as in PHP
                slot.kind = ValueSlot::Kind::kMissing;
                return true;
            }
            slot.begin = values_.size();
            if (kind == ScalarKind::kString) {
                AppendEscaped(&values_, text);
                slot.kind = ValueSlot::Kind::kString;
            } else {
                values_.append(text);
                slot.kind = ValueSlot::Kind::kRaw;
            }
            slot.size = values_.size() - slot.begin;
        } else if (capturing_) {
            Comma();
            if (kind == ScalarKind::kString) {
                values_ += '"';
                AppendEscaped(&values_, text);
                values_ += '"';
            } else {
                values_.append(text);
            }
            need_comma_ = true;
        }
        return true;
    }
    bool Open(char c) {
        if (depth_ >= protocol::kMaxJsonDepth) return Fail("data nests too deep");
        if (depth_ == 0) {
            root_array_ = c == '[';  // PHP's json_encode([]) is `[]`: no data
            depth_ = 1;
            return true;
        }
        if (root_array_) return Fail("data is not a JSON object");
        if (depth_ == 1 && member_ >= 0) {
            capturing_ = true;
            capture_begin_ = values_.size();
            need_comma_ = false;
        }
        if (capturing_) {
            Comma();
            values_ += c;
            need_comma_ = false;
        }
        ++depth_;
        return true;
    }
    bool Close(char c) {
        --depth_;
        if (capturing_ && depth_ >= 1) {
            values_ += c;
            need_comma_ = true;
            if (depth_ == 1) {
                slots_[member_] = {ValueSlot::Kind::kRaw, capture_begin_,
                                   values_.size() - capture_begin_};
                capturing_ = false;
            }
        }
        return true;
    }

    const std::vector<std::string>* names_ = nullptr;
    std::vector<ValueSlot> slots_;
    std::string values_;
    int depth_ = 0;
    int member_ = -1;  // index in names_ of the current top-level member, or -1
    bool capturing_ = false, need_comma_ = false, root_array_ = false;
    size_t capture_begin_ = 0;
    const char* error_ = nullptr;
};

// SAX handler checking a template's shape: the root is an object; notes whether it has a
// top-level client_msg_id member.
class ShapeCheck : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ShapeCheck> {
  public:
    bool Default() { return depth_ > 0; }
    bool StartObject() {
        if (depth_ == 0) root_object = true;
        return ++depth_ <= protocol::kMaxJsonDepth;
    }
    bool StartArray() { return depth_++ > 0 && depth_ <= protocol::kMaxJsonDepth; }
    bool EndObject(rapidjson::SizeType) { return Close(); }
    bool EndArray(rapidjson::SizeType) { return Close(); }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        if (depth_ == 1 && std::string_view(s, n) == "client_msg_id") has_client_msg_id = true;
        return true;
    }
    bool root_object = false, has_client_msg_id = false;

  private:
    bool Close() {
        --depth_;
        return true;
    }
    int depth_ = 0;
};

}  // namespace

struct Template::Scratch::State {
    DataCollector data;
    rapidjson::Reader reader;
    std::string check;  // the output check's NUL-terminated copy
};

Template::Scratch::Scratch() : state_(std::make_unique<State>()) {}
Template::Scratch::~Scratch() = default;

namespace {

// The string value of the first "template_id" member, when it is a plain literal (no escape,
// no ${…}); "" otherwise. Enough for the templates' own top-level member.
std::string LiteralTemplateId(std::string_view text) {
    constexpr std::string_view kName = "\"template_id\"";
    size_t at = text.find(kName);
    if (at == std::string_view::npos) return "";
    at = text.find_first_not_of(" \t\r\n", at + kName.size());
    if (at == std::string_view::npos || text[at] != ':') return "";
    at = text.find_first_not_of(" \t\r\n", at + 1);
    if (at == std::string_view::npos || text[at] != '"') return "";
    const size_t end = text.find('"', at + 1);
    if (end == std::string_view::npos) return "";
    const std::string_view value = text.substr(at + 1, end - at - 1);
    if (value.find('\\') != std::string_view::npos || value.find("${") != std::string_view::npos)
        return "";
    return std::string(value);
}

}  // namespace

Status Template::Parse(std::string key, std::string text, std::shared_ptr<const Template>* out,
                       std::string account, std::string kind) {
    auto t = std::make_shared<Template>();
    t->account_ = std::move(account);
    t->kind_ = std::move(kind);
    t->key_ = std::move(key);
    t->text_ = std::move(text);
    t->template_id_ = LiteralTemplateId(t->text_);
    const std::string_view s = t->text_;

    // Split into literals and holes, tracking whether each hole sits in a JSON string.
    bool in_string = false;
    size_t literal_begin = 0;
    for (size_t i = 0; i < s.size();) {
        const char c = s[i];
        if (in_string && c == '\\') {
            i += 2;
            continue;
        }
        if (c == '"') in_string = !in_string;
        if (c == '$' && i + 1 < s.size() && s[i + 1] == '{') {
            const size_t close = s.find('}', i + 2);
            const std::string_view name =
                close == std::string_view::npos ? "" : s.substr(i + 2, close - i - 2);
            if (IsPlaceholderName(name)) {
                Piece p{literal_begin, i - literal_begin, std::string(name), kOpenidSlot,
                        in_string};
                if (name != kOpenidName) {
                    size_t slot = 0;
                    while (slot < t->names_.size() && t->names_[slot] != name) ++slot;
                    if (slot == t->names_.size()) t->names_.emplace_back(name);
                    p.slot = uint32_t(slot);
                }
                t->pieces_.push_back(std::move(p));
                i = close + 1;
                literal_begin = i;
                continue;
            }
        }
        ++i;
    }
    t->pieces_.push_back(Piece{literal_begin, s.size() - literal_begin, {}, 0, false});

    // The shape, with every hole empty: a string hole adds nothing, another one `""`.
    std::string probe;
    for (size_t i = 0; i < t->pieces_.size(); ++i) {
        const Piece& p = t->pieces_[i];
        probe.append(s.substr(p.literal_begin, p.literal_size));
        if (i + 1 < t->pieces_.size() && !p.in_string) probe.append("\"\"");
    }
    ShapeCheck shape;
    rapidjson::Reader reader;
    rapidjson::MemoryStream in(probe.data(), probe.size());
    const rapidjson::ParseResult r = reader.Parse<rapidjson::kParseValidateEncodingFlag>(in, shape);
    if (!shape.root_object) return Status::Invalid("template " + t->key_ + " is not a JSON object");
    if (!r) {
        return Status::Invalid("template " + t->key_ + " is not valid JSON (with placeholders " +
                               "empty): " + ParseErrorText(r));
    }
    if (in.Tell() != probe.size()) {
        return Status::Invalid("template " + t->key_ + " contains a NUL byte");
    }
    t->has_client_msg_id_ = shape.has_client_msg_id;

    // Where client_msg_id goes: right after the top-level '{' (in the first literal, as the
    // root is an object and nothing but spaces precede it).
    size_t brace = 0;
    while (IsJsonSpace(s[brace])) ++brace;
    t->brace_end_ = brace + 1;
    size_t next = t->brace_end_;
    while (next < s.size() && IsJsonSpace(s[next])) ++next;
    t->object_empty_ = next < s.size() && s[next] == '}';

    *out = std::move(t);
    return Status::Ok();
}

Status Template::CheckAllValues(std::string_view data_json) const {
    if (names_.empty()) return Status::Ok();
    rapidjson::Document d;
    d.Parse(data_json.data(), data_json.size());
    const bool object = !d.HasParseError() && d.IsObject();
    for (const std::string& name : names_) {
        if (!object || !d.HasMember(rapidjson::StringRef(name.data(), name.size())))
            return Status::Invalid("the push has no value for ${" + name + "}");
    }
    return Status::Ok();
}

Status Template::Render(std::string_view openid, std::string_view data_json,
                        std::string_view client_msg_id, std::string* out) const {
    Scratch scratch;
    return Render(openid, data_json, client_msg_id, out, &scratch);
}

Status Template::Render(std::string_view openid, std::string_view data_json,
                        std::string_view client_msg_id, std::string* out, Scratch* scratch) const {
    Scratch::State& st = *scratch->state_;
    DataCollector& data = st.data;
    data.Reset(&names_);

    size_t first = 0;
    while (first < data_json.size() && IsJsonSpace(data_json[first])) ++first;
    if (first < data_json.size()) {  // empty or blank: no data
        if (!protocol::IsValidUtf8(data_json)) return Status::Invalid("data is not valid UTF-8");
        rapidjson::MemoryStream in(data_json.data(), data_json.size());
        const rapidjson::ParseResult r = st.reader.Parse<kDataFlags>(in, data);
        if (data.error() != nullptr) return Status::Invalid(data.error());
        if (!r) return Status::Invalid("data is not valid JSON: " + ParseErrorText(r));
        if (in.Tell() != data_json.size()) {
            return Status::Invalid("data is not valid JSON: NUL byte at offset " +
                                   std::to_string(in.Tell()));
        }
    }

    const size_t start = out->size();
    const std::string_view text = text_;
    for (size_t i = 0; i < pieces_.size(); ++i) {
        const Piece& p = pieces_[i];
        const std::string_view literal = text.substr(p.literal_begin, p.literal_size);
        if (i == 0 && !client_msg_id.empty() && !has_client_msg_id_) {
            out->append(literal.substr(0, brace_end_));
            out->append("\"client_msg_id\":\"");
            AppendEscaped(out, client_msg_id);
            out->append(object_empty_ ? "\"" : "\",");
            out->append(literal.substr(brace_end_));
        } else {
            out->append(literal);
        }
        if (i + 1 == pieces_.size()) break;  // the final literal has no hole

        if (p.slot == kOpenidSlot) {
            if (!p.in_string) *out += '"';
            AppendEscaped(out, openid);
            if (!p.in_string) *out += '"';
            continue;
        }
        const std::string_view value = data.value(p.slot);  // escaped when a string
        switch (data.kind(p.slot)) {
            case ValueSlot::Kind::kMissing:
                if (!p.in_string) out->append("\"\"");
                break;
            case ValueSlot::Kind::kString:
                if (!p.in_string) *out += '"';
                out->append(value);
                if (!p.in_string) *out += '"';
                break;
            case ValueSlot::Kind::kRaw:
                if (p.in_string) {
                    AppendEscaped(out, value);
                } else {
                    out->append(value);
                }
                break;
        }
    }

    // Belt and braces: the result must be one JSON value (a value used as a key would not).
    // The push path's SSE2 check, as the shape is known good and only this is in question.
    const std::string_view rendered(out->data() + start, out->size() - start);
    if (rendered.empty() || !protocol::IsJsonText(rendered, &st.check)) {
        out->resize(start);
        return Status::Invalid("rendered template " + key_ + " is not valid JSON");
    }
    return Status::Ok();
}

}  // namespace mega
