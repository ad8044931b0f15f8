// Reads templates from MySQL (`{prefix}mega_wechat_template`) with Connector/C++.
// Every call is blocking and opens its own connection, so it is safe on any thread and
// survives a database restart; callers keep it off the event-loop thread (start-up, or the
// libuv thread pool for `tset`).
#pragma once

#include <string>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"

namespace mega {

class TemplateStore {
public:
    struct Row {
        std::string key, text;
    };

    explicit TemplateStore(const Config& config) : config_(config) {}

    // Up to `limit` templates, by key. Unavailable when MySQL cannot be reached.
    Status LoadAll(int limit, std::vector<Row>* rows) const;
    // One template; NotFound when the key is not in the table.
    Status LoadOne(const std::string& key, std::string* text) const;
private:
    const Config& config_;
};

}  // namespace mega
