// ReceiptsOf and the journal line codec.
#include "events/Receipt.h"

#include <charconv>

namespace mega {
namespace {

void AppendField(std::string* out, std::string_view v) {
    for (char c : v) out->push_back(c == '\t' || c == '\n' || c == '\r' ? ' ' : c);
}

}  // namespace

std::vector<Receipt> ReceiptsOf(const WechatEvent& e) {
    std::vector<Receipt> out;
    if (e.event == "TEMPLATESENDJOBFINISH") {
        out.push_back({Receipt::Kind::kDelivery, e.msgid, e.status, e.from_user, "", ""});
    } else if (e.event == "subscribe_msg_sent_event") {
        for (const SubscribeItem& i : e.items)
            out.push_back({Receipt::Kind::kDelivery, i.msgid, i.error_status, e.from_user,
                           i.template_id, ""});
    } else if (e.event == "subscribe_msg_popup_event" || e.event == "subscribe_msg_change_event") {
        for (const SubscribeItem& i : e.items)
            out.push_back(
                {Receipt::Kind::kChoice, 0, i.choice, e.from_user, i.template_id, i.popup_scene});
    }
    return out;
}

std::string EncodeReceipt(const Receipt& r) {
    std::string out(1, char(r.kind));
    out += '\t' + std::to_string(r.msgid) + '\t';
    AppendField(&out, r.status);
    out += '\t';
    AppendField(&out, r.openid);
    out += '\t';
    AppendField(&out, r.template_id);
    out += '\t';
    AppendField(&out, r.scene);
    return out;
}

bool DecodeReceipt(std::string_view line, Receipt* out) {
    std::string_view f[6];
    for (int i = 0; i < 6; i++) {
        const size_t tab = line.find('\t');
        if ((tab == std::string_view::npos) != (i == 5)) return false;
        f[i] = line.substr(0, tab);
        if (i < 5) line.remove_prefix(tab + 1);
    }
    if (f[0] != "D" && f[0] != "C") return false;
    out->kind = Receipt::Kind(f[0][0]);
    auto r = std::from_chars(f[1].data(), f[1].data() + f[1].size(), out->msgid);
    if (r.ec != std::errc() || r.ptr != f[1].data() + f[1].size()) return false;
    out->status = f[2];
    out->openid = f[3];
    out->template_id = f[4];
    out->scene = f[5];
    return true;
}

}  // namespace mega
