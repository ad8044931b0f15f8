// libFuzzer target for the XML of WeChat's event pushes (events/EventXml) and the journal
// line codec (events/Receipt): any bytes parse or fail without crashing, the limits hold, and
// every receipt taken from a parsed event survives the journal round trip.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "events/EventXml.h"
#include "events/Receipt.h"

namespace {

void Require(bool condition, const char* what) {
    if (condition) return;
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view xml(reinterpret_cast<const char*>(data), size);
    mega::WechatEvent event;
    if (!mega::ParseEventXml(xml, &event).ok()) return 0;
    Require(event.items.size() <= 64, "at most 64 List items");
    Require(event.status.size() <= 4096 && event.encrypt.size() <= 4096, "texts bounded");
    for (const mega::Receipt& r : mega::ReceiptsOf(event)) {
        mega::Receipt back;
        const std::string line = mega::EncodeReceipt(r);
        Require(line.find('\n') == std::string::npos, "one line per receipt");
        Require(mega::DecodeReceipt(line, &back), "a journal line decodes");
        Require(back.msgid == r.msgid && back.kind == r.kind, "round trip keeps the receipt");
    }
    return 0;
}
