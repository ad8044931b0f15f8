// libFuzzer target: a POST /v1/messages body as the submit API reads it (depth check, JSON
// parse, ParseSubmitMessage for the object or each element of the array). Whatever the input,
// an accepted message has non-empty key and openid, its data is a JSON object's text, and its
// option words hold no space or control character inside a word.
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "protocol/JsonCheck.h"
#include "protocol/SubmitMessage.h"

namespace {

void Require(bool ok) {
    if (!ok) std::abort();
}

void Check(const rapidjson::Value& v) {
    mega::SubmitMessage m;
    if (!mega::ParseSubmitMessage(v, "fuzz", "", &m).ok()) return;
    Require(!m.key.empty() && !m.openid.empty());
    Require(!m.data.empty() && m.data.front() == '{' && m.data.back() == '}');
    for (char c : m.options) Require(static_cast<unsigned char>(c) >= ' ' && c != 0x7f);
    Require(m.options.find("  ") == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    if (!mega::protocol::JsonDepthWithin(text)) return 0;
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError()) return 0;
    if (doc.IsArray()) {
        for (const auto& v : doc.GetArray()) Check(v);
    } else {
        Check(doc);
    }
    return 0;
}
