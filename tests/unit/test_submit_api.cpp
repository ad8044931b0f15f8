// The submit API's pure parts: a JSON message into push words (api/SubmitMessage), and the
// OpenAPI document (api/openapi.json) against the routes SubmitApi really has.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <uv.h>

#include <set>
#include <string>
#include <utility>

#include "api/SubmitApi.h"
#include "base/EmbeddedFile.h"
#include "protocol/SubmitMessage.h"

using mega::ParseSubmitMessage;
using mega::Status;
using mega::SubmitMessage;

namespace {

Status Parse(const char* json, SubmitMessage* out, std::string_view source = "shop",
             std::string_view msgkey = {}) {
    rapidjson::Document d;
    d.Parse(json);
    REQUIRE_FALSE(d.HasParseError());
    return ParseSubmitMessage(d, source, msgkey, out);
}

}  // namespace

TEST_CASE("submit message: members become the push's words") {
    SubmitMessage m;
    REQUIRE(Parse(R"({"key":"order_paid","openid":"o1","data":{"a":"b"},"priority":"high",
                     "delay":30,"msgkey":"k-1","tries":2})",
                  &m)
                .ok());
    CHECK(m.key == "order_paid");
    CHECK(m.openid == "o1");
    CHECK(m.data == R"({"a":"b"})");
    CHECK(m.options == "priority=high delay=30 msgkey=k-1 tries=2 source=shop");
}

TEST_CASE("submit message: the body's source and msgkey win over the key's and the header's") {
    SubmitMessage m;
    REQUIRE(
        Parse(R"({"key":"k","openid":"o","source":"crm","msgkey":"body"})", &m, "shop", "header")
            .ok());
    CHECK(m.options == "msgkey=body source=crm");
    REQUIRE(Parse(R"({"key":"k","openid":"o"})", &m, "", "header").ok());
    CHECK(m.options == "msgkey=header");
    CHECK(m.data == "{}");
}

TEST_CASE("submit message: what is refused, naming the member") {
    SubmitMessage m;
    auto refused = [&](const char* json, const char* word) {
        const Status s = Parse(json, &m);
        CHECK_FALSE(s.ok());
        CHECK_MESSAGE(s.message().find(word) != std::string::npos, s.message());
    };
    refused(R"([])", "object");
    refused(R"({"openid":"o"})", "key");
    refused(R"({"key":"k"})", "openid");
    refused(R"({"key":"","openid":"o"})", "key");
    refused(R"({"key":"k","openid":"o","data":[1]})", "data");
    refused(R"({"key":"k","openid":"o","delay":"30"})", "delay");
    refused(R"({"key":"k","openid":"o","delay":1,"at":2})", "not both");
    refused(R"({"key":"k","openid":"o","msgkey":"a b"})", "msgkey");
    refused(R"({"key":"k","openid":"o","source":"a\nb"})", "source");
    refused(R"({"key":"k","openid":"o","priority":1})", "priority");
    refused(R"({"key":"k","openid":"o","tries":1.5})", "tries");
    refused(R"({"key":"k","openid":"o","colour":"red"})", "colour");
    refused(R"({"key":"k","openid":"o","account":"other"})", "account");
}

TEST_CASE("openapi.json lists exactly the submit API's routes") {
    std::string doc_text;
    for (const mega::EmbeddedFile& f : mega::ApiFiles())
        if (std::string_view(f.name) == "openapi.json") doc_text.assign(f.data, f.size);
    rapidjson::Document doc;
    doc.Parse(doc_text.c_str());
    REQUIRE(doc.IsObject());
    REQUIRE(doc.HasMember("paths"));
    std::set<std::pair<std::string, std::string>> documented, routed;
    for (auto& path : doc["paths"].GetObject()) {
        for (auto& op : path.value.GetObject()) {
            std::string method = op.name.GetString();
            if (method == "parameters") continue;
            for (char& c : method) c = char(std::toupper(static_cast<unsigned char>(c)));
            documented.insert({method, path.name.GetString()});
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        mega::Config config;
        mega::SubmitApi api(&loop, nullptr, config);
        for (const mega::Route& r : api.routes().routes()) {
            std::string path = r.pattern;  // /v1/messages/:id → /v1/messages/{id}
            if (const size_t colon = path.find(':'); colon != std::string::npos)
                path = path.substr(0, colon) + "{" + path.substr(colon + 1) + "}";
            routed.insert({r.method, path});
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop) == 0);
    CHECK(documented == routed);
}
