// Unit tests for template parsing and rendering (server/Template): escaping, PHP's \uXXXX
// and \/ input, numbers kept as written, missing keys, null/empty data, holes outside
// strings, client_msg_id insertion, and that every rendered body parses as JSON.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <random>
#include <string>

#include "templates/Template.h"

using mega::Status;
using mega::Template;

namespace {

std::shared_ptr<const Template> MustParse(const std::string& text) {
    std::shared_ptr<const Template> t;
    const Status s = Template::Parse("k", text, &t);
    REQUIRE_MESSAGE(s.ok(), s.message());
    return t;
}

std::string MustRender(const Template& t, std::string_view openid, std::string_view data,
                       std::string_view msgkey = {}) {
    std::string out;
    const Status s = t.Render(openid, data, msgkey, &out);
    REQUIRE_MESSAGE(s.ok(), s.message());
    return out;
}

rapidjson::Document MustParseJson(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    REQUIRE_MESSAGE(!d.HasParseError(), text);
    REQUIRE(d.IsObject());
    return d;
}

std::string Str(const rapidjson::Value& v) {
    return std::string(v.GetString(), v.GetStringLength());
}

// The original's documented example template.
const std::string kExample =
    R"({"touser":"${OPENID}","template_id":"ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",)"
    R"( "url":"http://weixin.qq.com/download",)"
    R"( "data":{"first":{"value":"${first}","color":"#173177"},)"
    R"(         "keynote1":{"value":"${product}","color":"#173177"}}})";

}  // namespace

TEST_CASE("Template: renders the documented example") {
    auto t = MustParse(kExample);
    CHECK(t->key() == "k");
    CHECK(t->text() == kExample);
    const std::string out = MustRender(*t, "oOpenid1", R"({"first":"Hello","product":"tea"})");
    auto d = MustParseJson(out);
    CHECK(Str(d["touser"]) == "oOpenid1");
    CHECK(Str(d["url"]) == "http://weixin.qq.com/download");
    CHECK(Str(d["data"]["first"]["value"]) == "Hello");
    CHECK(Str(d["data"]["keynote1"]["value"]) == "tea");
    CHECK(Str(d["data"]["keynote1"]["color"]) == "#173177");
    CHECK(!d.HasMember("client_msg_id"));
}

TEST_CASE("Template: escapes quotes, backslashes and control characters") {
    auto t = MustParse(R"({"touser":"${OPENID}","v":"${v}","w":"pre ${v} post"})");
    const std::string out = MustRender(*t, "o\"x", R"({"v":"a\"b\\c\nd\te\u0001f"})");
    auto d = MustParseJson(out);
    CHECK(Str(d["touser"]) == "o\"x");
    CHECK(Str(d["v"]) ==
          "a\"b\\c\nd\te\x01"
          "f");
    CHECK(Str(d["w"]) ==
          "pre a\"b\\c\nd\te\x01"
          "f post");
    CHECK(out.find("\\u0001") != std::string::npos);
}

TEST_CASE("Template: accepts PHP's \\uXXXX and \\/ as well as raw UTF-8") {
    auto t = MustParse(R"({"touser":"${OPENID}","n":"${name}","u":"${url}"})");
    // The body of golden/push_unicode.bin, as PHP's json_encode wrote it.
    const std::string php = R"({"name":"\u5f20\u4e09","url":"http:\/\/a.b\/c?d=1&e=\"x\""})";
    const std::string raw = R"({"name":"张三","url":"http://a.b/c?d=1&e=\"x\""})";
    const std::string from_php = MustRender(*t, "o1", php);
    CHECK(from_php == MustRender(*t, "o1", raw));
    auto d = MustParseJson(from_php);
    CHECK(Str(d["n"]) == "张三");
    CHECK(Str(d["u"]) == "http://a.b/c?d=1&e=\"x\"");
    CHECK(from_php.find("张三") != std::string::npos);  // written as raw UTF-8

    // A surrogate pair becomes one 4-byte character.
    auto e = MustParseJson(MustRender(*t, "o1", R"({"name":"\ud83d\ude00"})"));
    CHECK(Str(e["n"]) == "\xF0\x9F\x98\x80");
}

TEST_CASE("Template: refuses invalid UTF-8 and bad escapes in the data") {
    auto t = MustParse(R"({"n":"${name}"})");
    std::string out = "keep";
    CHECK(!t->Render("o", "{\"name\":\"\xC3\x28\"}", {}, &out).ok());
    CHECK(!t->Render("o", R"({"name":"\ud800"})", {}, &out).ok());  // lone surrogate
    CHECK(!t->Render("o", R"({"name":"\q"})", {}, &out).ok());
    CHECK(out == "keep");  // untouched on failure
}

TEST_CASE("Template: numbers and booleans as their JSON text") {
    auto t = MustParse(
        R"({"s":"${price}","n":${price},"i":${count},"b":${flag},"bs":"${flag}","big":${big}})");
    const std::string out =
        MustRender(*t, "o", R"({"price":39.80,"count":-7,"flag":true,"big":12345678901234567890})");
    CHECK(out.find(R"("s":"39.80")") != std::string::npos);
    CHECK(out.find(R"("n":39.80)") != std::string::npos);  // not 39.8: the original text
    CHECK(out.find(R"("big":12345678901234567890)") != std::string::npos);
    auto d = MustParseJson(out);
    CHECK(d["i"].GetInt() == -7);
    CHECK(d["b"].GetBool() == true);
    CHECK(Str(d["bs"]) == "true");
}

TEST_CASE("Template: placeholders outside strings take JSON values") {
    auto t = MustParse(R"({"touser":${OPENID},"v":${v},"m":${missing},"o":${obj}})");
    const std::string out =
        MustRender(*t, "o\\1", R"({"v":"x\"y","obj":{"a":[1,"q\"",null,false,{}],"b":{}}})");
    auto d = MustParseJson(out);
    CHECK(Str(d["touser"]) == "o\\1");
    CHECK(Str(d["v"]) == "x\"y");
    CHECK(Str(d["m"]) == "");
    REQUIRE(d["o"].IsObject());
    CHECK(d["o"]["a"].Size() == 5);
    CHECK(Str(d["o"]["a"][1]) == "q\"");
    CHECK(d["o"]["a"][2].IsNull());
    CHECK(d["o"]["b"].IsObject());

    // The same object inside a string: its JSON text, escaped.
    auto s = MustParse(R"({"v":"${obj}"})");
    auto e = MustParseJson(MustRender(*s, "o", R"({"obj":{"a":[1,"q"]}})"));
    CHECK(Str(e["v"]) == R"({"a":[1,"q"]})");
}

TEST_CASE("Template: missing keys, null values and no data render empty") {
    auto t = MustParse(R"({"touser":"${OPENID}","a":"${a}","b":${b},"c":"x${c}y"})");
    for (const char* data :
         {"null", "", "  \n", "{}", "[]", R"({"a":null,"b":null})", R"({"other":1})"}) {
        CAPTURE(data);
        auto d = MustParseJson(MustRender(*t, "o", data));
        CHECK(Str(d["a"]) == "");
        CHECK(Str(d["b"]) == "");
        CHECK(Str(d["c"]) == "xy");
        CHECK(Str(d["touser"]) == "o");
    }
}

TEST_CASE("Template: data that is not an object is refused") {
    auto t = MustParse(R"({"a":"${a}"})");
    for (const char* data : {"[1]", R"(["a"])", R"("text")", "42", "true", R"({"a":)", "{} {}",
                             R"({"a":1}x)", "nul"}) {
        CAPTURE(data);
        std::string out;
        const Status s = t->Render("o", data, {}, &out);
        CHECK(!s.ok());
        CHECK(s.code() == Status::Code::kInvalid);
        CHECK(out.empty());
    }
    std::string out;
    CHECK(!t->Render("o", std::string_view("{}\0x", 4), {}, &out).ok());  // embedded NUL
}

TEST_CASE("Template: the last of duplicate members wins, as in PHP") {
    auto t = MustParse(R"({"a":"${a}"})");
    auto d = MustParseJson(MustRender(*t, "o", R"({"a":"first","a":"second"})"));
    CHECK(Str(d["a"]) == "second");
}

TEST_CASE("Template: client_msg_id becomes the first top-level member") {
    auto t = MustParse(R"(  {"touser":"${OPENID}","data":{}})");
    const std::string out = MustRender(*t, "o", "null", "order-\"1\"");
    CHECK(out.rfind(R"(  {"client_msg_id":"order-\"1\"","touser":"o")", 0) == 0);
    auto d = MustParseJson(out);
    CHECK(Str(d["client_msg_id"]) == "order-\"1\"");

    auto empty = MustParse("{ }");
    CHECK(MustRender(*empty, "o", "null", "m1") == R"({"client_msg_id":"m1" })");

    // A template that sets it itself keeps its own.
    auto own = MustParse(R"({"client_msg_id":"${id}","touser":"${OPENID}"})");
    const std::string kept = MustRender(*own, "o", R"({"id":"mine"})", "m1");
    auto k = MustParseJson(kept);
    CHECK(Str(k["client_msg_id"]) == "mine");
    CHECK(kept.find("m1") == std::string::npos);

    // Nested members of that name do not count.
    auto nested = MustParse(R"({"data":{"client_msg_id":"x"}})");
    CHECK(MustParseJson(MustRender(*nested, "o", "", "m2")).HasMember("client_msg_id"));
}

TEST_CASE("Template: appends to the caller's buffer") {
    auto t = MustParse(R"({"a":"${a}"})");
    std::string out = "prefix:";
    REQUIRE(t->Render("o", R"({"a":1})", {}, &out).ok());
    CHECK(out == R"(prefix:{"a":"1"})");
}

TEST_CASE("Template: text that only looks like a placeholder stays literal") {
    auto t = MustParse(R"({"a":"${a b}","b":"${}","c":"$x","d":"${open","e":"\"${e}\""})");
    auto d = MustParseJson(MustRender(*t, "o", R"({"e":"v"})"));
    CHECK(Str(d["a"]) == "${a b}");
    CHECK(Str(d["b"]) == "${}");
    CHECK(Str(d["c"]) == "$x");
    CHECK(Str(d["d"]) == "${open");
    CHECK(Str(d["e"]) == "\"v\"");  // a hole after an escaped quote is still in the string
}

TEST_CASE("Template: Parse refuses what is not a JSON object") {
    for (const char* text : {"", "[]", "[1,2]", R"("x")", "42", R"({"a":1)", R"({"a":1}x)",
                             R"({"a":1} {})", R"(${x})", R"({"a":"b"c})"}) {
        CAPTURE(text);
        std::shared_ptr<const Template> t;
        const Status s = Template::Parse("k", text, &t);
        CHECK(!s.ok());
        CHECK(s.code() == Status::Code::kInvalid);
        CHECK(t == nullptr);
    }
}

TEST_CASE("Template: a value that breaks the JSON shape is refused at render time") {
    // As a key, a hole outside a string only works with a string value.
    auto t = MustParse(R"({${k}:1})");
    CHECK(MustRender(*t, "o", R"({"k":"name"})") == R"({"name":1})");
    std::string out;
    CHECK(!t->Render("o", R"({"k":5})", {}, &out).ok());
    CHECK(out.empty());
}

TEST_CASE("Template: one scratch reused across renders keeps no stale values") {
    auto t = MustParse(R"({"a":"${a}","b":${b}})");
    Template::Scratch scratch;
    std::string out;
    REQUIRE(t->Render("o", R"({"a":"x","b":{"n":[1,2]}})", {}, &out, &scratch).ok());
    CHECK(out == R"({"a":"x","b":{"n":[1,2]}})");
    out.clear();
    REQUIRE(t->Render("o", R"({"c":1})", {}, &out, &scratch).ok());
    CHECK(out == R"({"a":"","b":""})");
    out.clear();
    CHECK(!t->Render("o", "[1]", {}, &out, &scratch).ok());
    REQUIRE(t->Render("o", R"({"b":2})", {}, &out, &scratch).ok());
    CHECK(out == R"({"a":"","b":2})");
}

TEST_CASE("Template: random string values always render to JSON that round-trips") {
    auto t = MustParse(R"({"touser":"${OPENID}","in":"<${v}>","out":${v}})");
    std::mt19937 rng(12345);
    const std::string alphabet = "ab\"\\/\n\r\t\b\f\x01\x1f {}[]:,$";  // 20 bytes
    Template::Scratch scratch;
    std::string out;
    for (int i = 0; i < 2000; ++i) {
        std::string value;
        const int len = int(rng() % 12);
        for (int j = 0; j < len; ++j) {
            const size_t k = rng() % 24;  // whole multi-byte characters only
            if (k < alphabet.size()) {
                value += alphabet[k];
            } else if (k < 22) {
                value += "\xC3\xA9";
            } else {
                value += "\xE4\xB8\x89";
            }
        }
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        w.StartObject();
        w.Key("v");
        w.String(value.data(), rapidjson::SizeType(value.size()));
        w.EndObject();
        out.clear();
        const Status s = t->Render(value, sb.GetString(), value, &out, &scratch);
        REQUIRE_MESSAGE(s.ok(), s.message(), " data: ", sb.GetString());
        auto d = MustParseJson(out);
        CHECK(Str(d["in"]) == "<" + value + ">");
        CHECK(Str(d["out"]) == value);
        CHECK(Str(d["touser"]) == value);
        if (!value.empty()) CHECK(Str(d["client_msg_id"]) == value);
    }
}

TEST_CASE("Template: deep data and lone surrogate escapes are refused, not rendered") {
    const auto t = MustParse(R"({"touser":"${OPENID}","v":"${a}"})");
    std::string out;
    CHECK_FALSE(t->Render("o", R"({"a":"\udc00"})", {}, &out).ok());
    CHECK(out.empty());
    const std::string deep = "{\"a\":" + std::string(1'000'000, '[');
    const Status s = t->Render("o", deep, {}, &out);
    CHECK_FALSE(s.ok());
    CHECK(s.message() == "data nests too deep");
    std::shared_ptr<const Template> shape;
    CHECK_FALSE(Template::Parse("k", "{\"a\":" + std::string(100'000, '[') + "}", &shape).ok());
}
