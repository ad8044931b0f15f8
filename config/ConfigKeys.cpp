// The table of ini keys (config/ConfigKeys.h): one row a key, grouped by section in the order
// of config/wechat.ini. A row's apply parses the text and sets one Config field; the factories
// below cover the common kinds (whole numbers in a range, flags, text, lists).
#include "config/ConfigKeys.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "config/Config.h"

namespace mega {
namespace {

using Apply = std::function<Status(Config&, const std::string&)>;

template <typename T>
Apply Whole(T Config::*field, long long lo, long long hi) {
    return [=](Config& c, const std::string& v) {
        long long n;
        if (!ParseWholeNumber(v, lo, hi, &n)) return Status::Invalid("expected a whole number");
        c.*field = static_cast<T>(n);
        return Status::Ok();
    };
}

Apply Flag(bool Config::*field) {
    return [=](Config& c, const std::string& v) {
        return ParseFlag(v, &(c.*field)) ? Status::Ok()
                                         : Status::Invalid("expected 0/1 or true/false");
    };
}

Apply Text(std::string Config::*field) {
    return [=](Config& c, const std::string& v) {
        c.*field = v;
        return Status::Ok();
    };
}

// One of two words; `second` sets the flag to `second_value`.
Apply EitherOr(bool Config::*field, std::string_view first, std::string_view second,
               bool second_value) {
    return [=](Config& c, const std::string& v) {
        if (v != first && v != second)
            return Status::Invalid("expected " + std::string(first) + " or " + std::string(second));
        c.*field = (v == second) == second_value;
        return Status::Ok();
    };
}

Status ApplyFsync(Config& c, const std::string& v) {
    if (v == "always")
        c.fsync = FsyncPolicy::kAlways;
    else if (v == "interval")
        c.fsync = FsyncPolicy::kInterval;
    else if (v == "none")
        c.fsync = FsyncPolicy::kNone;
    else
        return Status::Invalid("expected always, interval or none");
    return Status::Ok();
}

Status ApplyRate(Config& c, const std::string& v) {
    char* end = nullptr;
    const double r = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || r < 0 || r > 1e6)
        return Status::Invalid("expected a rate >= 0");
    c.rate_limit_per_second = r;
    return Status::Ok();
}

Status ApplyBackoff(Config& c, const std::string& v) {
    c.retry_backoff.clear();
    for (const auto& step : SplitList(v)) {
        long long n;
        if (!ParseWholeNumber(step, 0, 86400 * 7, &n))
            return Status::Invalid("expected seconds like 10,30,60");
        c.retry_backoff.push_back(int(n));
    }
    if (c.retry_backoff.empty()) return Status::Invalid("expected seconds like 10,30,60");
    return Status::Ok();
}

Status ApplyHttpKeys(Config& c, const std::string& v) {
    c.http_keys.clear();
    for (const std::string& pair : SplitWords(v)) {
        const size_t colon = pair.find(':');
        if (colon == 0 || colon == std::string::npos || colon + 1 == pair.size())
            return Status::Invalid("expected name:secret,name:secret");
        c.http_keys.push_back({pair.substr(0, colon), pair.substr(colon + 1)});
    }
    return Status::Ok();
}

Status ApplyAllowedHosts(Config& c, const std::string& v) {
    c.admin_allowed_hosts = SplitList(v);
    for (auto& host : c.admin_allowed_hosts)
        for (char& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return Status::Ok();
}

Status ApplyLogLevel(Config& c, const std::string& v) {
    static const char* kLevels[] = {"trace", "debug", "info",     "notice", "warning",
                                    "warn",  "error", "critical", "off"};
    if (std::none_of(std::begin(kLevels), std::end(kLevels), [&](const char* l) { return v == l; }))
        return Status::Invalid("expected trace, debug, info, warning, error or critical");
    c.log_level = v;
    return Status::Ok();
}

// A table name that needs no quoting beyond backticks: [A-Za-z0-9_]{1,64}.
Status ApplyOutboxTable(Config& c, const std::string& v) {
    const bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    });
    if (!ok) return Status::Invalid("expected 1-64 letters, digits or _");
    c.outbox_table = v;
    return Status::Ok();
}

Status ApplyOutboxDsn(Config& c, const std::string& v) {
    Config scratch;  // checked here, parsed again where the relay connects
    if (Status s = Config::ParseDsn(v, &scratch); !s.ok()) return s;
    c.outbox_dsn = v;
    return Status::Ok();
}

std::vector<ConfigKey> BuildTable() {
    auto listen = [](Config& c, const std::string& v) {  // listen[] may repeat
        for (auto& a : SplitList(v)) c.listen.push_back(a);
        return Status::Ok();
    };
    auto redis_url = [](Config& c, const std::string& v) {
        if (!v.starts_with("redis://") && !v.starts_with("unix://"))
            return Status::Invalid("expected redis://[:password@]host:port/db or unix:///path");
        c.redis_url = v;
        return Status::Ok();
    };
    auto setting_log_file = [](Config& c, const std::string& v) {
        if (c.log_file.empty()) c.log_file = v;  // [log] log_file wins
        return Status::Ok();
    };
    auto dsn = [](Config& c, const std::string& v) { return Config::ParseDsn(v, &c); };
    auto aes_key = [](Config& c, const std::string& v) {
        if (!v.empty() && v.size() != 43) return Status::Invalid("expected 43 characters");
        c.encoding_aes_key = v;
        return Status::Ok();
    };
    auto api_base = [](Config& c, const std::string& v) {
        c.api_base = SplitList(v);
        return c.api_base.empty() ? Status::Invalid("expected at least one URL") : Status::Ok();
    };
    auto admin_listen = [](Config& c, const std::string& v) {
        c.admin_listen = v, c.admin_listen_set = true;
        return Status::Ok();
    };
    auto log_format = [](Config& c, const std::string& v) {
        if (v != "text" && v != "json") return Status::Invalid("expected text or json");
        c.log_json = v == "json";
        return Status::Ok();
    };
    return {
        {"server", "listen[]", listen},
        {"server", "listen", listen},
        {"server", "table_size", Whole(&Config::table_size, 1, 1000000)},
        {"server", "template_size", Whole(&Config::template_size, 16, 16 << 20)},
        {"server", "queue_file_path", Text(&Config::queue_file_path)},
        {"server", "fsync", ApplyFsync},
        {"server", "fsync_interval_ms", Whole(&Config::fsync_interval_ms, 1, 60000)},
        {"server", "queue_max_bytes", Whole(&Config::queue_max_bytes, 1 << 20, 1ll << 50)},
        // 32-bit offsets inside a segment
        {"server", "queue_segment_bytes",
         Whole(&Config::queue_segment_bytes, 64 << 10, (1ll << 32) - 1)},
        {"server", "pid_file", Text(&Config::pid_file)},
        {"server", "shutdown_timeout_ms", Whole(&Config::shutdown_timeout_ms, 0, 3600000)},
        {"server", "max_connections", Whole(&Config::max_connections, 1, 1 << 24)},
        {"server", "idle_timeout_s", Whole(&Config::idle_timeout_s, 0, 30 * 86400)},
        {"server", "frame_timeout_s", Whole(&Config::frame_timeout_s, 0, 86400)},
        {"server", "strict_config", Flag(&Config::strict_config)},
        {"server", "node_id", Text(&Config::node_id)},

        {"queue", "backend", EitherOr(&Config::queue_redis, "file", "redis", true)},

        {"redis", "url", redis_url},
        {"redis", "key_prefix", Text(&Config::redis_key_prefix)},
        {"redis", "claim_idle_ms", Whole(&Config::redis_claim_idle_ms, 100, 86400000)},
        {"redis", "max_deliveries", Whole(&Config::redis_max_deliveries, 1, 1000)},
        {"redis", "wait_replicas", Whole(&Config::redis_wait_replicas, 0, 100)},
        // checked by the queue (RedisAddress::ParseSentinels)
        {"redis", "sentinels", Text(&Config::redis_sentinels)},
        {"redis", "master_name", Text(&Config::redis_master_name)},

        {"setting", "task_worker_num", Whole(&Config::task_worker_num, 1, 256)},
        {"setting", "max_inflight", Whole(&Config::max_inflight, 1, 65536)},
        {"setting", "sender_threads", Whole(&Config::sender_threads, 0, 256)},
        {"setting", "package_max_length", Whole(&Config::package_max_length, 64, 1ll << 30)},
        {"setting", "daemonize", Flag(&Config::daemonize)},
        {"setting", "http_timeout_ms", Whole(&Config::http_timeout_ms, 100, 600000)},
        {"setting", "template_value_max_chars",
         Whole(&Config::template_value_max_chars, 0, 100000)},
        {"setting", "missing_var", EitherOr(&Config::missing_var_reject, "empty", "reject", true)},
        {"setting", "log_file", setting_log_file},

        {"pdo", "dsn", dsn},
        {"pdo", "username", Text(&Config::mysql_user)},
        {"pdo", "password", Text(&Config::mysql_password)},
        {"pdo", "table_prefix", Text(&Config::table_prefix)},

        {"wechat", "app_id", Text(&Config::app_id)},
        {"wechat", "app_secret", Text(&Config::app_secret)},
        {"wechat", "token", Text(&Config::token)},
        {"wechat", "encoding_aes_key", aes_key},
        {"wechat", "token_api", EitherOr(&Config::stable_token, "stable", "classic", false)},
        {"wechat", "rate_limit_per_second", ApplyRate},
        {"wechat", "rate_burst", Whole(&Config::rate_burst, 0, 1000000)},
        {"wechat", "failover_healthy_s", Whole(&Config::failover_healthy_s, 1, 86400)},
        {"wechat", "quota_probe_s", Whole(&Config::quota_probe_s, 0, 86400)},
        {"wechat", "api_base", api_base},
        {"wechat", "ca_file", Text(&Config::ca_file)},

        {"retry", "tries", Whole(&Config::retry_tries, 1, 1000)},
        {"retry", "backoff", ApplyBackoff},
        {"retry", "dedup_window", Whole(&Config::dedup_window_s, 0, 30 * 86400)},

        {"admin", "listen", admin_listen},
        {"admin", "token", Text(&Config::admin_token)},
        {"admin", "allowed_hosts", ApplyAllowedHosts},
        {"admin", "metrics_public", Flag(&Config::metrics_public)},
        {"admin", "max_connections", Whole(&Config::admin_max_connections, 1, 1000000)},
        {"admin", "header_timeout_s", Whole(&Config::admin_header_timeout_s, 1, 3600)},
        {"admin", "request_timeout_s", Whole(&Config::admin_request_timeout_s, 1, 86400)},
        {"admin", "idle_timeout_s", Whole(&Config::admin_idle_timeout_s, 1, 86400)},

        {"http", "listen", Text(&Config::http_listen)},
        {"http", "keys", ApplyHttpKeys},
        {"http", "max_batch", Whole(&Config::http_max_batch, 1, 100000)},
        {"http", "max_body_bytes", Whole(&Config::http_max_body_bytes, 1024, 1 << 30)},
        {"http", "max_wait_s", Whole(&Config::http_max_wait_s, 1, 3600)},

        {"outbox", "dsn", ApplyOutboxDsn},
        {"outbox", "username", Text(&Config::outbox_user)},
        {"outbox", "password", Text(&Config::outbox_password)},
        {"outbox", "table", ApplyOutboxTable},
        {"outbox", "poll_ms", Whole(&Config::outbox_poll_ms, 10, 60000)},
        {"outbox", "batch", Whole(&Config::outbox_batch, 1, 10000)},
        {"outbox", "keep_s", Whole(&Config::outbox_keep_s, 0, 365 * 86400)},

        {"events", "listen", Text(&Config::events_listen)},
        {"events", "receipt_wait_s", Whole(&Config::receipt_wait_s, 1, 3600)},

        {"callback", "max_age_s", Whole(&Config::callback_max_age_s, 1, 30 * 86400)},
        {"callback", "max_backoff_s", Whole(&Config::callback_max_backoff_s, 1, 86400)},

        {"log", "log_file", Text(&Config::log_file)},
        {"log", "log_level", ApplyLogLevel},
        {"log", "log_prefix", Text(&Config::log_prefix)},
        {"log", "format", log_format},
        {"log", "message_log", Flag(&Config::message_log)},
        {"log", "message_log_backlog", Whole(&Config::message_log_backlog, 10, 10000000)},
    };
}

}  // namespace

const std::vector<ConfigKey>& ConfigKeys() {
    static const std::vector<ConfigKey> kTable = BuildTable();
    return kTable;
}

const ConfigKey* FindConfigKey(std::string_view section, std::string_view name) {
    for (const ConfigKey& k : ConfigKeys())
        if (k.section == section && k.name == name) return &k;
    return nullptr;
}

bool ParseWholeNumber(const std::string& v, long long lo, long long hi, long long* out) {
    std::string s = v;
    while (!s.empty() && s.back() == ';') s.pop_back();
    if (s.empty()) return false;
    errno = 0;
    char* end = nullptr;
    const long long n = std::strtoll(s.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || n < lo || n > hi) return false;
    *out = n;
    return true;
}

bool ParseFlag(const std::string& v, bool* out) {
    std::string s = v;
    while (!s.empty() && s.back() == ';') s.pop_back();
    if (s == "1" || s == "true" || s == "on" || s == "yes") return *out = true, true;
    if (s == "0" || s == "false" || s == "off" || s == "no" || s.empty()) return *out = false, true;
    return false;
}

std::string TrimValue(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
        v.remove_suffix(1);
    if (v.size() >= 2 &&
        ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\''))) {
        v = v.substr(1, v.size() - 2);
    }
    return std::string(v);
}

std::vector<std::string> SplitWords(const std::string& v) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= v.size()) {
        size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        std::string item = TrimValue(std::string_view(v).substr(start, comma - start));
        if (!item.empty()) out.push_back(std::move(item));
        start = comma + 1;
    }
    return out;
}

std::vector<std::string> SplitList(const std::string& v) {
    std::vector<std::string> out = SplitWords(v);
    for (std::string& item : out)
        while (!item.empty() && item.back() == '/') item.pop_back();
    std::erase_if(out, [](const std::string& item) { return item.empty(); });
    return out;
}

}  // namespace mega
