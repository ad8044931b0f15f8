// libFuzzer target: the push path's JSON check (protocol::IsJsonText, JsonDepthWithin) and
// template rendering (server/Template) with the input as a frame's data and as a template.
// Whatever the input, a rendered body must be one valid JSON value in valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/JsonCheck.h"
#include "templates/Template.h"

namespace {

void Require(bool ok) {
    if (!ok) std::abort();
}

const mega::Template& OrderPaid() {
    static const std::shared_ptr<const mega::Template> t = [] {
        std::shared_ptr<const mega::Template> out;
        const mega::Status s = mega::Template::Parse(
            "order_paid",
            R"({"touser":"${OPENID}","template_id":"T","data":{"product":{"value":"${product}"},)"
            R"("price":{"value":"${price}"},"raw":${raw},"list":[${raw},"${x}"]}})",
            &out);
        Require(s.ok());
        return out;
    }();
    return *t;
}

void CheckRendered(std::string_view body) {
    std::string scratch;
    Require(mega::protocol::IsJsonText(body, &scratch));
    Require(mega::protocol::IsValidUtf8(body));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string scratch;
    const bool json = mega::protocol::IsJsonText(input, &scratch);
    if (json) Require(mega::protocol::JsonDepthWithin(input));

    // The input as a push's data.
    std::string out;
    if (OrderPaid().Render("oFuzz", input, "msgkey-1", &out).ok()) CheckRendered(out);

    // The input as a template (from MySQL or tset), rendered with fixed data.
    std::shared_ptr<const mega::Template> t;
    if (mega::Template::Parse("fuzz", std::string(input), &t).ok()) {
        out.clear();
        if (t->Render("oFuzz", R"({"a":"x\"y","n":39.80,"o":{"k":[1,2]}})", "", &out).ok())
            CheckRendered(out);
    }
    return 0;
}
