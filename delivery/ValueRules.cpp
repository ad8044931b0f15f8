// Subscribe-message value rules by key type, and the template field cap (ValueRules.h).
#include "delivery/ValueRules.h"

#include <rapidjson/document.h>

#include <cctype>
#include <functional>
#include <vector>

#include "base/Utf8.h"

namespace mega {
namespace {

// The code points of a UTF-8 string (one per malformed byte, which JSON parsing rules out).
std::vector<uint32_t> CodePoints(std::string_view s) {
    std::vector<uint32_t> out;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        const size_t len = std::max<size_t>(1, Utf8SequenceLength(p, i, s.size()));
        uint32_t cp = len == 1 ? p[i] : p[i] & (0xFF >> (len + 1));
        for (size_t k = 1; k < len; k++) cp = (cp << 6) | (p[i + k] & 0x3F);
        out.push_back(cp);
        i += len;
    }
    return out;
}

bool IsDigit(uint32_t c) {
    return c >= '0' && c <= '9';
}
bool IsLetter(uint32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsSymbol(uint32_t c) {
    return c < 0x80 && std::ispunct(int(c));
}
bool IsChinese(uint32_t c) {
    return c >= 0x3400 && c <= 0x9FFF;
}

bool All(const std::vector<uint32_t>& cps, const std::function<bool(uint32_t)>& ok) {
    for (uint32_t c : cps)
        if (!ok(c)) return false;
    return true;
}

bool IsNumber(const std::vector<uint32_t>& cps) {  // ≤ 32 digits, one optional decimal point
    size_t digits = 0, points = 0;
    for (size_t i = 0; i < cps.size(); i++) {
        if (IsDigit(cps[i]))
            digits++;
        else if (cps[i] == '.' && i > 0)
            points++;
        else if (!(cps[i] == '-' && i == 0))
            return false;
    }
    return digits >= 1 && digits <= 32 && points <= 1;
}

bool IsTime(const std::vector<uint32_t>& cps) {  // 15:01, 2019年10月1日 15:01, ranges with ~
    static const std::u32string kAllowed = U"-:/. 年月日时分秒~";
    size_t digits = 0;
    for (uint32_t c : cps) {
        if (IsDigit(c))
            digits++;
        else if (kAllowed.find(char32_t(c)) == std::u32string::npos)
            return false;
    }
    return digits >= 2;
}

bool IsAmount(const std::vector<uint32_t>& cps) {  // one currency sign + ≤ 10 digits (.dd)
    size_t i = !cps.empty() && !IsDigit(cps[0]) ? 1 : 0;
    size_t whole = 0, fraction = 0;
    for (; i < cps.size() && IsDigit(cps[i]); i++) whole++;
    if (i < cps.size() && cps[i] == '.')
        for (i++; i < cps.size() && IsDigit(cps[i]); i++) fraction++;
    return i == cps.size() && whole >= 1 && whole <= 10 && fraction <= 2;
}

Status Broken(std::string_view key, const char* rule) {
    return Status::Invalid("data." + std::string(key) + ".value breaks the rule: " + rule);
}

// Each data.KEY.value string of `body`, until `check` fails.
Status ForEachValue(std::string_view body,
                    const std::function<Status(std::string_view, std::string_view)>& check) {
    rapidjson::Document d;
    d.Parse(body.data(), body.size());
    if (d.HasParseError() || !d.IsObject()) return Status::Invalid("body is not a JSON object");
    const auto data = d.FindMember("data");
    if (data == d.MemberEnd() || !data->value.IsObject()) return Status::Ok();
    for (const auto& m : data->value.GetObject()) {
        if (!m.value.IsObject()) continue;
        const auto v = m.value.FindMember("value");
        if (v == m.value.MemberEnd() || !v->value.IsString()) continue;
        Status s = check(std::string_view(m.name.GetString(), m.name.GetStringLength()),
                         std::string_view(v->value.GetString(), v->value.GetStringLength()));
        if (!s.ok()) return s;
    }
    return Status::Ok();
}

}  // namespace

Status CheckSubscribeValue(std::string_view key, std::string_view value) {
    std::string_view type = key;
    while (!type.empty() && IsDigit(uint32_t(type.back()))) type.remove_suffix(1);
    const std::vector<uint32_t> cps = CodePoints(value);
    const size_t n = cps.size();
    if (type == "thing")
        return n <= 20 ? Status::Ok() : Broken(key, "thing: at most 20 characters");
    if (type == "number")
        return IsNumber(cps) ? Status::Ok() : Broken(key, "number: at most 32 digits");
    if (type == "letter")
        return n <= 32 && All(cps, IsLetter) ? Status::Ok()
                                             : Broken(key, "letter: at most 32 letters");
    if (type == "symbol")
        return n <= 5 && All(cps, IsSymbol) ? Status::Ok()
                                            : Broken(key, "symbol: at most 5 symbols");
    if (type == "character_string")
        return n <= 32 &&
                       All(cps, [](uint32_t c) { return IsDigit(c) || IsLetter(c) || IsSymbol(c); })
                   ? Status::Ok()
                   : Broken(key, "character_string: at most 32 digits, letters and symbols");
    if (type == "time" || type == "date")
        return IsTime(cps) ? Status::Ok() : Broken(key, "time/date: a date or time format");
    if (type == "amount")
        return IsAmount(cps) ? Status::Ok()
                             : Broken(key, "amount: a currency sign and at most 10 digits");
    if (type == "phone_number")
        return n <= 17 && All(cps, [](uint32_t c) { return IsDigit(c) || IsSymbol(c) || c == ' '; })
                   ? Status::Ok()
                   : Broken(key, "phone_number: at most 17 digits and symbols");
    if (type == "car_number")
        return n <= 8 ? Status::Ok() : Broken(key, "car_number: at most 8 characters");
    if (type == "name") {
        const bool latin = All(cps, [](uint32_t c) { return IsLetter(c) || c == ' '; });
        return n <= (latin ? 20u : 10u)
                   ? Status::Ok()
                   : Broken(key, "name: at most 10 Chinese characters or 20 letters");
    }
    if (type == "phrase")
        return n <= 5 && All(cps, IsChinese) ? Status::Ok()
                                             : Broken(key, "phrase: at most 5 Chinese characters");
    return Status::Ok();
}

Status CheckSubscribeBody(std::string_view body) {
    return ForEachValue(body, CheckSubscribeValue);
}

Status CheckTemplateBody(std::string_view body, size_t max_chars) {
    if (max_chars == 0) return Status::Ok();
    return ForEachValue(body, [max_chars](std::string_view key, std::string_view value) {
        if (CodePoints(value).size() <= max_chars) return Status::Ok();
        return Status::Invalid("data." + std::string(key) + ".value is over " +
                               std::to_string(max_chars) + " characters");
    });
}

}  // namespace mega
