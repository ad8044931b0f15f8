// Message <-> queue record payload. Little-endian, fixed offsets (queue/FORMAT.md).
#include "queue/Message.h"

#include <cstring>

namespace mega {
namespace {

template <typename T>
void Put(char* p, T v) {
    std::memcpy(p, &v, sizeof v);
}
template <typename T>
T Get(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

}  // namespace

void EncodeMessageHeader(const Message& m, char (&out)[kMessageHeaderBytes]) {
    std::memset(out, 0, sizeof out);
    Put<uint64_t>(out + 0, m.id);
    Put<int64_t>(out + 8, m.created_ms);
    Put<int64_t>(out + 16, m.not_before_ms);
    out[24] = char(m.kind);
    out[25] = char(m.priority);
    Put<uint16_t>(out + 28, uint16_t(m.openid.size()));
    Put<uint16_t>(out + 30, uint16_t(m.key.size()));
    Put<uint32_t>(out + 32, uint32_t(m.data.size()));
    Put<uint16_t>(out + 36, uint16_t(m.options.size()));
}

bool DecodeMessage(std::string_view payload, Message* m) {
    if (payload.size() < kMessageHeaderBytes) return false;
    const char* p = payload.data();
    m->id = Get<uint64_t>(p);
    m->created_ms = Get<int64_t>(p + 8);
    m->not_before_ms = Get<int64_t>(p + 16);
    m->kind = MessageKind(uint8_t(p[24]));
    m->priority = Priority(uint8_t(p[25]));
    const size_t lo = Get<uint16_t>(p + 28), lk = Get<uint16_t>(p + 30);
    const size_t ld = Get<uint32_t>(p + 32), lp = Get<uint16_t>(p + 36);
    if (kMessageHeaderBytes + lo + lk + ld + lp != payload.size()) return false;
    if (uint8_t(p[24]) > 1 || uint8_t(p[25]) >= kPriorityLevels) return false;
    const char* v = p + kMessageHeaderBytes;
    m->openid = {v, lo};
    m->key = {v + lo, lk};
    m->data = {v + lo + lk, ld};
    m->options = {v + lo + lk + ld, lp};
    return true;
}

}  // namespace mega
