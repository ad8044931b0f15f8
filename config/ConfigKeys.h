// The keys of the ini file as one table: each row names a section and a key and says how its
// value goes into the Config. Config.cpp applies every value through it, and the unknown-key
// warnings offer its names (with the original's keys that mega accepts and ignores). Also the
// small value parsers the config files share.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"

namespace mega {

struct Config;

struct ConfigKey {
    std::string_view section, name;
    // Sets the value (already trimmed and unquoted); Invalid("expected …") when it is bad.
    std::function<Status(Config&, const std::string& value)> apply;
};

// Every key of the fixed sections ([account.NAME] and [callback.NAME] are parsed apart).
const std::vector<ConfigKey>& ConfigKeys();
// The key `name` of [section], or null.
const ConfigKey* FindConfigKey(std::string_view section, std::string_view name);

// Whole number in [lo, hi]; a trailing ';' is tolerated (the original's `table_size = 100;`).
bool ParseWholeNumber(const std::string& v, long long lo, long long hi, long long* out);
// 1/true/on/yes, 0/false/off/no or empty.
bool ParseFlag(const std::string& v, bool* out);
// Spaces, tabs and one pair of matching quotes stripped.
std::string TrimValue(std::string_view v);
// Comma-separated items, trimmed, empty ones left out.
std::vector<std::string> SplitWords(const std::string& v);
// As SplitWords, and trailing '/' dropped from each (URLs, host names).
std::vector<std::string> SplitList(const std::string& v);

}  // namespace mega
