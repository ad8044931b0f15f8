// Throughput ring: a slot is reused when its second comes round again an hour later.
#include "delivery/Throughput.h"

namespace mega {

void Throughput::Record(int64_t now_s, bool sent) {
    Slot& s = slots_[size_t(now_s % kSlots)];
    if (s.t != now_s) s = Slot{now_s, 0, 0};
    (sent ? s.sent : s.failed)++;
}

double Throughput::SentRate(int64_t now_s, int seconds) const {
    uint64_t n = 0;
    for (int i = 1; i <= seconds && i <= kSlots; i++) {  // whole seconds only: skip `now`
        const Slot& s = slots_[size_t((now_s - i) % kSlots)];
        if (s.t == now_s - i) n += s.sent;
    }
    return seconds > 0 ? double(n) / seconds : 0;
}

std::vector<Throughput::Point> Throughput::Series(int64_t now_s, int width, int count) const {
    std::vector<Point> out;
    const int64_t end = now_s / width * width;  // the current, incomplete slot is last
    for (int64_t t = end - int64_t(count - 1) * width; t <= end; t += width) {
        Point p{t, 0, 0};
        for (int64_t u = t; u < t + width; u++) {
            if (now_s - u >= kSlots || u > now_s) continue;
            const Slot& s = slots_[size_t(u % kSlots)];
            if (s.t == u) {
                p.sent += s.sent;
                p.failed += s.failed;
            }
        }
        out.push_back(p);
    }
    return out;
}

}  // namespace mega
