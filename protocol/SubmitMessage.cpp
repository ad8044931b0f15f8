// ParseSubmitMessage: member by member, into option words. Values that would break the words
// apart (spaces, control characters) are refused here; the option parser checks the rest.
#include "protocol/SubmitMessage.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>

namespace mega {
namespace {

constexpr std::array<std::string_view, 11> kMembers = {"key",    "openid",  "data",    "priority",
                                                       "delay",  "at",      "msgkey",  "tries",
                                                       "source", "account", "callback"};

bool IsWord(std::string_view value) {
    return !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
    });
}

// A string member as an option word `name=value`; absent members write nothing.
Status AddWord(const rapidjson::Value& m, const char* name, std::string_view fallback,
               std::string* words) {
    std::string_view value = fallback;
    if (auto it = m.FindMember(name); it != m.MemberEnd()) {
        if (!it->value.IsString()) return Status::Invalid(std::string(name) + " must be a string");
        value = std::string_view(it->value.GetString(), it->value.GetStringLength());
    }
    if (value.empty()) return Status::Ok();
    if (!IsWord(value))
        return Status::Invalid(std::string(name) +
                               " must not contain spaces or control characters");
    words->append(words->empty() ? "" : " ").append(name).append("=").append(value);
    return Status::Ok();
}

// An integer member as `name=N`.
Status AddNumber(const rapidjson::Value& m, const char* name, std::string* words) {
    auto it = m.FindMember(name);
    if (it == m.MemberEnd()) return Status::Ok();
    if (!it->value.IsInt64()) return Status::Invalid(std::string(name) + " must be an integer");
    words->append(words->empty() ? "" : " ")
        .append(name)
        .append("=")
        .append(std::to_string(it->value.GetInt64()));
    return Status::Ok();
}

Status RequiredString(const rapidjson::Value& m, const char* name, std::string* out) {
    auto it = m.FindMember(name);
    if (it == m.MemberEnd() || !it->value.IsString() || it->value.GetStringLength() == 0)
        return Status::Invalid(std::string(name) + " is required (a non-empty string)");
    out->assign(it->value.GetString(), it->value.GetStringLength());
    return Status::Ok();
}

Status DataText(const rapidjson::Value& m, std::string* out) {
    auto it = m.FindMember("data");
    if (it == m.MemberEnd()) {
        *out = "{}";
        return Status::Ok();
    }
    if (!it->value.IsObject()) return Status::Invalid("data must be an object");
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    it->value.Accept(w);
    out->assign(sb.GetString(), sb.GetSize());
    return Status::Ok();
}

Status CheckMembers(const rapidjson::Value& m) {
    for (auto it = m.MemberBegin(); it != m.MemberEnd(); ++it) {
        const std::string_view name(it->name.GetString(), it->name.GetStringLength());
        if (std::find(kMembers.begin(), kMembers.end(), name) == kMembers.end())
            return Status::Invalid("unknown member \"" + std::string(name.substr(0, 64)) + "\"");
    }
    if (m.HasMember("delay") && m.HasMember("at"))
        return Status::Invalid("give delay or at, not both");
    if (auto it = m.FindMember("account"); it != m.MemberEnd()) {
        if (!it->value.IsString() || std::string_view(it->value.GetString()) != "default")
            return Status::Invalid("account: only \"default\" exists");
    }
    return Status::Ok();
}

}  // namespace

Status ParseSubmitMessage(const rapidjson::Value& m, std::string_view source,
                          std::string_view msgkey, SubmitMessage* out) {
    if (!m.IsObject()) return Status::Invalid("a message must be a JSON object");
    *out = SubmitMessage{};
    Status s = CheckMembers(m);
    if (s.ok()) s = RequiredString(m, "key", &out->key);
    if (s.ok()) s = RequiredString(m, "openid", &out->openid);
    if (s.ok()) s = DataText(m, &out->data);
    if (s.ok()) s = AddWord(m, "priority", {}, &out->options);
    if (s.ok()) s = AddNumber(m, "delay", &out->options);
    if (s.ok()) s = AddNumber(m, "at", &out->options);
    if (s.ok()) s = AddWord(m, "msgkey", msgkey, &out->options);
    if (s.ok()) s = AddNumber(m, "tries", &out->options);
    if (s.ok()) s = AddWord(m, "source", source, &out->options);
    if (s.ok()) s = AddWord(m, "callback", {}, &out->options);
    return s;
}

}  // namespace mega
