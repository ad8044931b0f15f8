// The templates the server can send, keyed by tmpl_key: at most `table_size` of them, each
// at most `template_size` bytes. Owned by the event-loop thread, which hands the sender
// threads immutable shared_ptr<const Template> snapshots, so nobody ever locks it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/Status.h"
#include "templates/Template.h"

namespace mega {

class TemplateCache {
  public:
    TemplateCache(size_t capacity, size_t max_bytes) : capacity_(capacity), max_bytes_(max_bytes) {}

    // Adds or replaces a template. Invalid with the reply text the protocol uses:
    // "over table size", "template too large", "template is not valid JSON".
    // `account` and `kind`: the template table's columns (Template::account/kind).
    Status Put(const std::string& key, const std::string& text,
               const std::string& account = "default", const std::string& kind = "template");
    std::shared_ptr<const Template> Find(std::string_view key) const;
    size_t size() const { return map_.size(); }
    template <typename F>
    void ForEach(F&& f) const {
        for (const auto& [k, t] : map_) f(*t);
    }

  private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    size_t capacity_, max_bytes_;
    std::unordered_map<std::string, std::shared_ptr<const Template>, Hash, std::equal_to<>> map_;
};

}  // namespace mega
