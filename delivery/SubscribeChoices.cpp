// SubscribeChoices: one set of "openid\ntemplate_id" keys (neither holds a newline).
#include "delivery/SubscribeChoices.h"

namespace mega {

std::string SubscribeChoices::KeyOf(std::string_view openid, std::string_view template_id) {
    std::string key;
    key.reserve(openid.size() + 1 + template_id.size());
    key.append(openid).append(1, '\n').append(template_id);
    return key;
}

void SubscribeChoices::Set(std::string_view openid, std::string_view template_id, bool rejected) {
    std::string key = KeyOf(openid, template_id);
    std::lock_guard lock(mu_);
    if (rejected)
        rejected_.insert(std::move(key));
    else
        rejected_.erase(key);
}

bool SubscribeChoices::Rejected(std::string_view openid, std::string_view template_id) const {
    const std::string key = KeyOf(openid, template_id);
    std::lock_guard lock(mu_);
    return rejected_.count(key) > 0;
}

size_t SubscribeChoices::size() const {
    std::lock_guard lock(mu_);
    return rejected_.size();
}

}  // namespace mega
