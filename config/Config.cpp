// Loads the ini file with inih's C API. Values are taken as the original wrote them: quotes
// around a value are stripped, a trailing ';' after a number is tolerated (`100;`), keys we
// do not use (class, protocol, dispatch_mode, …) are ignored, `listen[]` may repeat.
// Relative paths are made absolute against the working directory at load time, so a daemon
// that changes directory still finds them.
#include "config/Config.h"

#include <ini.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

namespace mega {
namespace {

std::string Trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
        v.remove_suffix(1);
    if (v.size() >= 2 &&
        ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\''))) {
        v = v.substr(1, v.size() - 2);
    }
    return std::string(v);
}

// Where inih is in the file: it reads one line per call of ReadLine, then calls OnValue for it.
struct LoadState {
    Config* config = nullptr;
    std::string path;
    std::FILE* file = nullptr;
    int line = 0;               // the line being parsed
    bool line_complete = true;  // the last read ended with its newline
    std::string section;        // of the last [header] read
    bool section_known = true;
    std::vector<std::string> errors;  // every bad value, "FILE:LINE: ..."
    bool listen_seen = false;
    std::string Where() const { return path + ":" + std::to_string(line) + ": "; }
};

bool ParseInt(const std::string& v, long long lo, long long hi, long long* out) {
    std::string s = v;
    while (!s.empty() && s.back() == ';') s.pop_back();  // the original's `table_size = 100;`
    if (s.empty()) return false;
    errno = 0;
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || n < lo || n > hi) return false;
    *out = n;
    return true;
}

bool ParseBool(const std::string& v, bool* out) {
    std::string s = v;
    while (!s.empty() && s.back() == ';') s.pop_back();
    if (s == "1" || s == "true" || s == "on" || s == "yes") return *out = true, true;
    if (s == "0" || s == "false" || s == "off" || s == "no" || s.empty()) return *out = false, true;
    return false;
}

// Comma-separated items, trimmed, empty ones left out.
std::vector<std::string> SplitWords(const std::string& v) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= v.size()) {
        size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        std::string item = Trim(std::string_view(v).substr(start, comma - start));
        if (!item.empty()) out.push_back(std::move(item));
        start = comma + 1;
    }
    return out;
}

// As SplitWords, and a trailing '/' is dropped from each (URLs, host names).
std::vector<std::string> SplitList(const std::string& v) {
    std::vector<std::string> out = SplitWords(v);
    for (std::string& item : out)
        while (!item.empty() && item.back() == '/') item.pop_back();
    std::erase_if(out, [](const std::string& item) { return item.empty(); });
    return out;
}

// A table name that needs no quoting beyond backticks: [A-Za-z0-9_]{1,64}.
bool IsTableName(const std::string& v) {
    return !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    });
}

// [callback.NAME] url / secret / events.
template <typename Bad>
bool ApplyCallbackValue(LoadState* st, std::string_view target, std::string_view name,
                        const std::string& value, Bad bad) {
    auto& all = st->config->callbacks;
    auto it = std::find_if(all.begin(), all.end(), [&](auto& c) { return c.name == target; });
    Config::CallbackTarget& c = it != all.end() ? *it : all.emplace_back();
    c.name = std::string(target);
    if (name == "url") {
        if (!value.starts_with("http://") && !value.starts_with("https://"))
            return bad("expected an http:// or https:// URL");
        c.url = value;
    } else if (name == "secret") {
        c.secret = value;
    } else if (name == "events") {
        c.events = SplitWords(value);
        for (const std::string& e : c.events)
            if (e != "sent" && e != "failed" && e != "delivered" && e != "blocked" &&
                e != "undelivered" && e != "cancelled")
                return bad("unknown status " + e +
                           " (sent, failed, delivered, blocked, undelivered, cancelled)");
    } else {
        return false;
    }
    return true;
}

// Applies one value; false if [section] name is not a key of ours.
bool ApplyValue(LoadState* st, std::string_view section, std::string_view name,
                const std::string& value) {
    Config& c = *st->config;
    auto bad = [&](const std::string& what) {
        st->errors.push_back(st->Where() + "[" + std::string(section) + "] " + std::string(name) +
                             ": " + what);
        return true;  // a known key with a bad value: keep parsing
    };
    auto integer = [&](auto* field, long long lo, long long hi) {
        long long n;
        if (!ParseInt(value, lo, hi, &n)) return bad("expected a whole number");
        *field = static_cast<std::remove_reference_t<decltype(*field)>>(n);
        return true;
    };
    auto boolean = [&](bool* field) {
        if (!ParseBool(value, field)) return bad("expected 0/1 or true/false");
        return true;
    };

    if (section == "server") {
        if (name == "listen[]" || name == "listen") {
            if (!st->listen_seen) c.listen.clear();
            st->listen_seen = true;
            for (auto& a : SplitList(value)) c.listen.push_back(a);
        } else if (name == "table_size")
            return integer(&c.table_size, 1, 1000000);
        else if (name == "template_size")
            return integer(&c.template_size, 16, 16 << 20);
        else if (name == "queue_file_path")
            c.queue_file_path = value;
        else if (name == "fsync") {
            if (value == "always")
                c.fsync = FsyncPolicy::kAlways;
            else if (value == "interval")
                c.fsync = FsyncPolicy::kInterval;
            else if (value == "none")
                c.fsync = FsyncPolicy::kNone;
            else
                return bad("expected always, interval or none");
        } else if (name == "fsync_interval_ms")
            return integer(&c.fsync_interval_ms, 1, 60000);
        else if (name == "queue_max_bytes")
            return integer(&c.queue_max_bytes, 1 << 20, 1ll << 50);
        else if (name == "queue_segment_bytes")
            return integer(&c.queue_segment_bytes, 64 << 10, (1ll << 32) - 1);  // 32-bit offsets
        else if (name == "pid_file")
            c.pid_file = value;
        else if (name == "shutdown_timeout_ms")
            return integer(&c.shutdown_timeout_ms, 0, 3600000);
        else if (name == "max_connections")
            return integer(&c.max_connections, 1, 1 << 24);
        else if (name == "idle_timeout_s")
            return integer(&c.idle_timeout_s, 0, 30 * 86400);
        else if (name == "frame_timeout_s")
            return integer(&c.frame_timeout_s, 0, 86400);
        else if (name == "strict_config")
            return boolean(&c.strict_config);
        else if (name == "node_id")
            c.node_id = value;
        else
            return false;
    } else if (section == "queue") {
        if (name != "backend") return false;
        if (value != "file" && value != "redis") return bad("expected file or redis");
        c.queue_redis = value == "redis";
    } else if (section == "redis") {
        if (name == "url") {
            if (!value.starts_with("redis://") && !value.starts_with("unix://"))
                return bad("expected redis://[:password@]host:port/db or unix:///path");
            c.redis_url = value;
        } else if (name == "key_prefix")
            c.redis_key_prefix = value;
        else if (name == "claim_idle_ms")
            return integer(&c.redis_claim_idle_ms, 100, 86400000);
        else if (name == "max_deliveries")
            return integer(&c.redis_max_deliveries, 1, 1000);
        else if (name == "wait_replicas")
            return integer(&c.redis_wait_replicas, 0, 100);
        else if (name == "sentinels")  // checked by the queue (RedisAddress::ParseSentinels)
            c.redis_sentinels = value;
        else if (name == "master_name")
            c.redis_master_name = value;
        else
            return false;
    } else if (section == "setting") {
        if (name == "task_worker_num")
            return integer(&c.task_worker_num, 1, 256);
        else if (name == "max_inflight")
            return integer(&c.max_inflight, 1, 65536);
        else if (name == "package_max_length")
            return integer(&c.package_max_length, 64, 1ll << 30);
        else if (name == "daemonize")
            return boolean(&c.daemonize);
        else if (name == "http_timeout_ms")
            return integer(&c.http_timeout_ms, 100, 600000);
        else if (name == "template_value_max_chars")
            return integer(&c.template_value_max_chars, 0, 100000);
        else if (name == "missing_var") {
            if (value != "empty" && value != "reject") return bad("expected empty or reject");
            c.missing_var_reject = value == "reject";
        } else if (name == "log_file") {
            if (c.log_file.empty()) c.log_file = value;
        } else
            return false;
    } else if (section == "pdo") {
        if (name == "dsn") {
            Status s = Config::ParseDsn(value, &c);
            if (!s.ok()) return bad(s.message());
        } else if (name == "username")
            c.mysql_user = value;
        else if (name == "password")
            c.mysql_password = value;
        else if (name == "table_prefix")
            c.table_prefix = value;
        else
            return false;
    } else if (section == "wechat") {
        if (name == "app_id")
            c.app_id = value;
        else if (name == "app_secret")
            c.app_secret = value;
        else if (name == "token")
            c.token = value;
        else if (name == "encoding_aes_key") {
            if (!value.empty() && value.size() != 43) return bad("expected 43 characters");
            c.encoding_aes_key = value;
        } else if (name == "token_api") {
            if (value == "stable")
                c.stable_token = true;
            else if (value == "classic")
                c.stable_token = false;
            else
                return bad("expected stable or classic");
        } else if (name == "rate_limit_per_second") {
            char* end = nullptr;
            double r = std::strtod(value.c_str(), &end);
            if (value.empty() || *end != '\0' || r < 0 || r > 1e6)
                return bad("expected a rate >= 0");
            c.rate_limit_per_second = r;
        } else if (name == "rate_burst")
            return integer(&c.rate_burst, 0, 1000000);
        else if (name == "failover_healthy_s")
            return integer(&c.failover_healthy_s, 1, 86400);
        else if (name == "quota_probe_s")
            return integer(&c.quota_probe_s, 0, 86400);
        else if (name == "api_base") {
            c.api_base = SplitList(value);
            if (c.api_base.empty()) return bad("expected at least one URL");
        } else
            return false;
    } else if (section.substr(0, 8) == "account.") {
        const std::string account(section.substr(8));
        auto& list = c.accounts;
        auto it = std::find_if(list.begin(), list.end(),
                               [&](const AccountConfig& a) { return a.name == account; });
        if (it == list.end()) {
            it = list.insert(list.end(), AccountConfig{});
            it->name = account;
        }
        bool known = false;
        const Status s = ApplyAccountKey(&*it, name, value, &known);
        return s.ok() ? known : bad(s.message());
    } else if (section == "retry") {
        if (name == "tries")
            return integer(&c.retry_tries, 1, 1000);
        else if (name == "backoff") {
            c.retry_backoff.clear();
            for (const auto& step : SplitList(value)) {
                long long n;
                if (!ParseInt(step, 0, 86400 * 7, &n)) return bad("expected seconds like 10,30,60");
                c.retry_backoff.push_back(int(n));
            }
            if (c.retry_backoff.empty()) return bad("expected seconds like 10,30,60");
        } else if (name == "dedup_window")
            return integer(&c.dedup_window_s, 0, 30 * 86400);
        else
            return false;
    } else if (section == "admin") {
        if (name == "listen")
            c.admin_listen = value, c.admin_listen_set = true;
        else if (name == "token")
            c.admin_token = value;
        else if (name == "allowed_hosts") {
            c.admin_allowed_hosts = SplitList(value);
            for (auto& host : c.admin_allowed_hosts)
                for (char& ch : host)
                    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        } else if (name == "metrics_public")
            return boolean(&c.metrics_public);
        else if (name == "max_connections")
            return integer(&c.admin_max_connections, 1, 1000000);
        else if (name == "header_timeout_s")
            return integer(&c.admin_header_timeout_s, 1, 3600);
        else if (name == "request_timeout_s")
            return integer(&c.admin_request_timeout_s, 1, 86400);
        else if (name == "idle_timeout_s")
            return integer(&c.admin_idle_timeout_s, 1, 86400);
        else
            return false;
    } else if (section.starts_with("callback.") && section.size() > 9) {
        return ApplyCallbackValue(st, section.substr(9), name, value, bad);
    } else if (section == "callback") {
        if (name == "max_age_s") return integer(&c.callback_max_age_s, 1, 30 * 86400);
        if (name == "max_backoff_s") return integer(&c.callback_max_backoff_s, 1, 86400);
        return false;
    } else if (section == "events") {
        if (name == "receipt_wait_s") return integer(&c.receipt_wait_s, 1, 3600);
        if (name != "listen") return false;
        c.events_listen = value;
    } else if (section == "http") {
        if (name == "listen")
            c.http_listen = value;
        else if (name == "keys") {
            c.http_keys.clear();
            for (const std::string& pair : SplitWords(value)) {
                const size_t colon = pair.find(':');
                if (colon == 0 || colon == std::string::npos || colon + 1 == pair.size())
                    return bad("expected name:secret,name:secret");
                c.http_keys.push_back({pair.substr(0, colon), pair.substr(colon + 1)});
            }
        } else if (name == "max_batch")
            return integer(&c.http_max_batch, 1, 100000);
        else if (name == "max_body_bytes")
            return integer(&c.http_max_body_bytes, 1024, 1 << 30);
        else if (name == "max_wait_s")
            return integer(&c.http_max_wait_s, 1, 3600);
        else
            return false;
    } else if (section == "outbox") {
        if (name == "dsn") {
            Config scratch;  // checked here, parsed again where the relay connects
            if (Status s = Config::ParseDsn(value, &scratch); !s.ok()) return bad(s.message());
            c.outbox_dsn = value;
        } else if (name == "username")
            c.outbox_user = value;
        else if (name == "password")
            c.outbox_password = value;
        else if (name == "table") {
            if (!IsTableName(value)) return bad("expected 1-64 letters, digits or _");
            c.outbox_table = value;
        } else if (name == "poll_ms")
            return integer(&c.outbox_poll_ms, 10, 60000);
        else if (name == "batch")
            return integer(&c.outbox_batch, 1, 10000);
        else if (name == "keep_s")
            return integer(&c.outbox_keep_s, 0, 365 * 86400);
        else
            return false;
    } else if (section == "log") {
        if (name == "format") {
            if (value != "text" && value != "json") return bad("expected text or json");
            c.log_json = value == "json";
            return 1;
        }
        if (name == "log_file")
            c.log_file = value;
        else if (name == "log_level") {
            static const char* kLevels[] = {"trace", "debug", "info",     "notice", "warning",
                                            "warn",  "error", "critical", "off"};
            bool known = false;
            for (const char* l : kLevels) known = known || value == l;
            if (!known) return bad("expected trace, debug, info, warning, error or critical");
            c.log_level = value;
        } else if (name == "log_prefix")
            c.log_prefix = value;
        else if (name == "message_log")
            return boolean(&c.message_log);
        else if (name == "message_log_backlog")
            return integer(&c.message_log_backlog, 10, 10000000);
        else
            return false;
    } else
        return false;
    return true;
}

// The keys of each section, ours and the original's: Mega-Wechat passed [setting] to
// Swoole's Server::set(), so every Swoole server setting may be there (mega ignores them).
struct SectionKeys {
    const char* section;
    std::vector<std::string_view> keys;
};

const std::vector<SectionKeys>& KnownKeys() {
    static const std::vector<SectionKeys> kKeys = {
        {"server",
         {"listen[]", "listen", "table_size", "template_size", "queue_file_path", "fsync",
          "fsync_interval_ms", "queue_max_bytes", "queue_segment_bytes", "pid_file",
          "shutdown_timeout_ms", "max_connections", "idle_timeout_s", "frame_timeout_s",
          "strict_config", "node_id", "class", "protocol"}},
        {"queue", {"backend"}},
        {"redis",
         {"url", "key_prefix", "claim_idle_ms", "max_deliveries", "wait_replicas", "sentinels",
          "master_name"}},
        {"setting",
         {"task_worker_num", "max_inflight", "package_max_length", "daemonize", "http_timeout_ms",
          "log_file", "missing_var", "template_value_max_chars",
          // Swoole's settings, as the original's file may carry them
          "reactor_num", "worker_num", "max_request", "max_conn", "max_connection", "task_ipc_mode",
          "task_max_request", "task_tmpdir", "task_enable_coroutine", "task_use_object",
          "dispatch_mode", "dispatch_func", "message_queue_key", "backlog", "log_level",
          "log_date_format", "log_date_with_microseconds", "log_rotation", "open_tcp_keepalive",
          "tcp_keepidle", "tcp_keepinterval", "tcp_keepcount", "heartbeat_check_interval",
          "heartbeat_idle_time", "open_eof_check", "open_eof_split", "package_eof",
          "open_length_check", "package_length_type", "package_length_func",
          "package_length_offset", "package_body_offset", "open_cpu_affinity",
          "cpu_affinity_ignore", "open_tcp_nodelay", "tcp_defer_accept", "ssl_cert_file",
          "ssl_key_file", "ssl_method", "ssl_ciphers", "user", "group", "chroot", "pid_file",
          "pipe_buffer_size", "buffer_output_size", "socket_buffer_size", "enable_unsafe_event",
          "discard_timeout_request", "enable_reuse_port", "enable_delay_receive", "reload_async",
          "max_wait_time", "tcp_fastopen", "request_slowlog_file", "request_slowlog_timeout",
          "trace_event_worker", "enable_coroutine", "max_coroutine", "open_http_protocol",
          "open_http2_protocol", "open_websocket_protocol", "open_mqtt_protocol",
          "open_redis_protocol"}},
        {"pdo", {"dsn", "username", "password", "table_prefix"}},
        {"wechat",
         {"app_id", "app_secret", "token", "token_api", "rate_limit_per_second", "rate_burst",
          "failover_healthy_s", "quota_probe_s", "api_base", "encoding_aes_key"}},
        {"retry", {"tries", "backoff", "dedup_window"}},
        {"admin",
         {"listen", "token", "allowed_hosts", "metrics_public", "max_connections",
          "header_timeout_s", "request_timeout_s", "idle_timeout_s"}},
        {"http", {"listen", "keys", "max_batch", "max_body_bytes", "max_wait_s"}},
        {"outbox", {"dsn", "username", "password", "table", "poll_ms", "batch", "keep_s"}},
        {"events", {"listen", "receipt_wait_s"}},
        {"callback", {"max_age_s", "max_backoff_s"}},
        {"callback.*", {"url", "secret", "events"}},  // [callback.NAME]
        {"log",
         {"log_file", "log_level", "log_prefix", "format", "message_log", "message_log_backlog"}},
    };
    return kKeys;
}

const SectionKeys* FindSection(std::string_view section) {
    static const SectionKeys kAccount = {"account.NAME", AccountKeys()};
    if (section.substr(0, 8) == "account." && section.size() > 8) return &kAccount;
    if (section.starts_with("callback.") && section.size() > 9) section = "callback.*";
    for (const auto& s : KnownKeys())
        if (section == s.section) return &s;
    return nullptr;
}

bool IsKnownKey(const SectionKeys& s, std::string_view name) {
    for (auto k : s.keys)
        if (k == name) return true;
    return false;
}

size_t EditDistance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// The nearest of `candidates` to `word`, if it is near enough to be a typo of it.
std::string Nearest(std::string_view word, const std::vector<std::string_view>& candidates) {
    std::string_view best;
    size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
    for (auto c : candidates) {
        const size_t d = EditDistance(word, c);
        if (d < best_distance) best = c, best_distance = d;
    }
    return std::string(best);
}

std::string UnknownKeyText(const SectionKeys& section, std::string_view name) {
    std::string text = "unknown key `" + std::string(name) + "` in [" + section.section + "]";
    std::string hint = Nearest(name, section.keys);
    if (hint.empty())
        for (const auto& s : KnownKeys())
            if (IsKnownKey(s, name)) hint = "[" + std::string(s.section) + "] " + std::string(name);
    return hint.empty() ? text : text + "; did you mean `" + hint + "`?";
}

std::string UnknownSectionText(std::string_view section) {
    std::vector<std::string_view> names;
    for (const auto& s : KnownKeys()) names.emplace_back(s.section);
    std::string text = "unknown section [" + std::string(section) + "]";
    const std::string hint = Nearest(section, names);
    return hint.empty() ? text : text + "; did you mean `[" + hint + "]`?";
}

// inih's reader: fgets, counting lines, and noting each [section] header as it passes.
char* ReadLine(char* buf, int size, void* user) {
    auto* st = static_cast<LoadState*>(user);
    if (std::fgets(buf, size, st->file) == nullptr) return nullptr;
    if (st->line_complete) ++st->line;
    const size_t n = std::strlen(buf);
    st->line_complete = n > 0 && buf[n - 1] == '\n';
    std::string_view text(buf, n);
    if (st->line == 1 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    const size_t close = text.find(']');
    if (!text.empty() && text.front() == '[' && close != std::string_view::npos) {
        st->section = std::string(text.substr(1, close - 1));
        st->section_known = FindSection(st->section) != nullptr;
        if (!st->section_known)
            st->config->warnings.push_back(st->Where() + UnknownSectionText(st->section));
    }
    return buf;
}

int OnValue(void* user, const char* section, const char* name, const char* value) {
    auto* st = static_cast<LoadState*>(user);
    const SectionKeys* keys = FindSection(section);
    if (ApplyValue(st, section, name, Trim(value)) || (keys && IsKnownKey(*keys, name))) return 1;
    if (keys)
        st->config->warnings.push_back(st->Where() + UnknownKeyText(*keys, name));
    else if (*section == '\0')
        st->config->warnings.push_back(st->Where() + "key `" + name + "` before any [section]");
    return 1;
}

std::string Absolute(const std::string& p) {
    if (p.empty()) return p;
    std::error_code ec;
    auto abs = std::filesystem::absolute(p, ec);
    return ec ? p : abs.lexically_normal().string();
}

}  // namespace

Status Config::ParseDsn(const std::string& dsn, Config* out) {
    const std::string prefix = "mysql:";
    if (dsn.compare(0, prefix.size(), prefix) != 0)
        return Status::Invalid("dsn must start with mysql:");
    size_t pos = prefix.size();
    while (pos < dsn.size()) {
        size_t semi = dsn.find(';', pos);
        if (semi == std::string::npos) semi = dsn.size();
        std::string part = dsn.substr(pos, semi - pos);
        pos = semi + 1;
        if (Trim(part).empty()) continue;
        size_t eq = part.find('=');
        if (eq == std::string::npos)
            return Status::Invalid("dsn: expected name=value in '" + part + "'");
        std::string k = Trim(part.substr(0, eq)), v = Trim(part.substr(eq + 1));
        if (k == "host")
            out->mysql_host = v;
        else if (k == "port") {
            long long n;
            if (!ParseInt(v, 1, 65535, &n)) return Status::Invalid("dsn: bad port '" + v + "'");
            out->mysql_port = int(n);
        } else if (k == "dbname")
            out->mysql_db = v;
        else if (k == "unix_socket")
            out->mysql_socket = v;
        // charset and other PDO words are accepted and ignored (we always use utf8mb4)
    }
    return Status::Ok();
}

Status Config::LoadAll(const std::string& path, Config* out, std::vector<std::string>* errors) {
    Config c;
    c.log_file.clear();  // so [setting] log_file of the original can fill it, [log] wins
    LoadState st;
    st.config = &c;
    st.path = path;
    st.file = std::fopen(path.c_str(), "r");
    if (st.file == nullptr)
        return Status::IoError("cannot open config file " + path + ": " + std::strerror(errno));
    const int rc = ini_parse_stream(ReadLine, &st, OnValue, &st);
    std::fclose(st.file);
    if (rc == -2) return Status::IoError("out of memory reading " + path);
    if (rc > 0)
        st.errors.insert(st.errors.begin(), path + ":" + std::to_string(rc) + ": syntax error");
    if (c.listen.empty()) c.listen.push_back("127.0.0.1:9501");
    for (const auto& a : c.listen) {
        size_t colon = a.rfind(':');
        long long port;
        if (colon == std::string::npos || colon == 0 ||
            !ParseInt(a.substr(colon + 1), 0, 65535, &port))  // 0: the OS picks
            st.errors.push_back(path + ": [server] listen: expected host:port, got '" + a + "'");
    }
    for (const auto& cb : c.callbacks)
        if (cb.url.empty()) st.errors.push_back(path + ": [callback." + cb.name + "] needs a url");
    for (const std::string& e : CheckAccounts(c)) st.errors.push_back(path + ": " + e);
    if (c.log_file.empty()) c.log_file = "logs/mega.log";
    if (c.queue_segment_bytes < c.package_max_length + 4096)
        c.queue_segment_bytes = c.package_max_length + 4096;
    c.queue_file_path = Absolute(c.queue_file_path);
    c.log_file = Absolute(c.log_file);
    if (c.pid_file.empty()) c.pid_file = c.queue_file_path + "/mega.pid";
    c.pid_file = Absolute(c.pid_file);
    c.source_path = Absolute(path);
    *out = std::move(c);
    *errors = std::move(st.errors);
    return Status::Ok();
}

const Config::CallbackTarget* Config::FindCallback(std::string_view name) const {
    for (const auto& c : callbacks)
        if (c.name == name) return &c;
    return nullptr;
}

Status Config::Load(const std::string& path, Config* out) {
    Config c;
    std::vector<std::string> errors;
    Status s = LoadAll(path, &c, &errors);
    if (!s.ok()) return s;
    if (!errors.empty()) return Status::Invalid(errors.front());
    if (c.strict_config && !c.warnings.empty()) {
        std::string text;
        for (const auto& w : c.warnings) text += (text.empty() ? "" : "\n") + w;
        return Status::Invalid(text + "\n(refused: [server] strict_config = 1)");
    }
    *out = std::move(c);
    return Status::Ok();
}

}  // namespace mega
