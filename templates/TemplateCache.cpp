// Template cache: checks size limits before parsing, so an oversize row costs nothing.
#include "templates/TemplateCache.h"

namespace mega {

Status TemplateCache::Put(const std::string& key, const std::string& text,
                          const std::string& account, const std::string& kind) {
    if (text.size() > max_bytes_) return Status::Invalid("template too large");
    auto it = map_.find(key);
    if (it == map_.end() && map_.size() >= capacity_) return Status::Invalid("over table size");
    std::shared_ptr<const Template> t;
    Status s = Template::Parse(key, text, &t, account, kind);
    if (!s.ok()) return Status::Invalid("template is not valid JSON");
    if (it == map_.end()) {
        map_.emplace(key, std::move(t));
    } else {
        it->second = std::move(t);
    }
    return Status::Ok();
}

std::shared_ptr<const Template> TemplateCache::Find(std::string_view key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : it->second;
}

}  // namespace mega
