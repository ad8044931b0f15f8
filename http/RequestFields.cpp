// Reading ids, numbers and JSON members from admin requests.
#include "http/RequestFields.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cstdlib>

namespace mega {

bool ParseId(std::string_view text, uint64_t* id) {
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, *id);
    return !text.empty() && ec == std::errc() && p == end;
}

bool JsonId(const rapidjson::Value& body, const char* key, uint64_t* id) {
    if (!body.IsObject() || !body.HasMember(key)) return false;
    const rapidjson::Value& v = body[key];
    if (v.IsUint64()) return *id = v.GetUint64(), true;
    return v.IsString() && ParseId({v.GetString(), v.GetStringLength()}, id);
}

std::optional<std::string_view> JsonString(const rapidjson::Value& body, const char* key) {
    if (!body.IsObject() || !body.HasMember(key) || !body[key].IsString()) return std::nullopt;
    return std::string_view(body[key].GetString(), body[key].GetStringLength());
}

std::string JsonText(const rapidjson::Value& body, const char* key) {
    if (!body.IsObject() || !body.HasMember(key)) return "null";
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    body[key].Accept(w);
    return std::string(sb.GetString(), sb.GetSize());
}

uint64_t QueryUint(const HttpRequest& request, std::string_view name, uint64_t absent) {
    std::string v;
    return request.QueryParam(name, &v) ? std::strtoull(v.c_str(), nullptr, 10) : absent;
}

int64_t QueryInt(const HttpRequest& request, std::string_view name, int64_t absent) {
    std::string v;
    return request.QueryParam(name, &v) ? std::strtoll(v.c_str(), nullptr, 10) : absent;
}

}  // namespace mega
