// Loads the ini file with inih's C API. Values are taken as the original wrote them: quotes
// around a value are stripped, a trailing ';' after a number is tolerated (`100;`), keys we
// do not use (class, protocol, dispatch_mode, …) are ignored, `listen[]` may repeat.
// Relative paths are made absolute against the working directory at load time, so a daemon
// that changes directory still finds them.
#include "config/Config.h"

#include <ini.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
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

struct LoadState {
    Config* config;
    std::string error;  // the first bad value
    bool listen_seen = false;
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

std::vector<std::string> SplitList(const std::string& v) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= v.size()) {
        size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        std::string item = Trim(std::string_view(v).substr(start, comma - start));
        while (!item.empty() && item.back() == '/') item.pop_back();
        if (!item.empty()) out.push_back(item);
        start = comma + 1;
    }
    return out;
}

int OnValue(void* user, const char* section_c, const char* name_c, const char* value_c) {
    auto* st = static_cast<LoadState*>(user);
    Config& c = *st->config;
    const std::string_view section = section_c, name = name_c;
    const std::string value = Trim(value_c);
    auto bad = [&](const char* what) {
        if (st->error.empty())
            st->error = "[" + std::string(section) + "] " + std::string(name) + ": " + what;
        return 1;  // keep parsing; the first error is reported
    };
    auto integer = [&](auto* field, long long lo, long long hi) {
        long long n;
        if (!ParseInt(value, lo, hi, &n)) return bad("expected a whole number");
        *field = static_cast<std::remove_reference_t<decltype(*field)>>(n);
        return 1;
    };
    auto boolean = [&](bool* field) {
        if (!ParseBool(value, field)) return bad("expected 0/1 or true/false");
        return 1;
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
        else if (name == "log_file" && c.log_file.empty())
            c.log_file = value;
    } else if (section == "pdo") {
        if (name == "dsn") {
            Status s = Config::ParseDsn(value, &c);
            if (!s.ok()) return bad(s.message().c_str());
        } else if (name == "username")
            c.mysql_user = value;
        else if (name == "password")
            c.mysql_password = value;
        else if (name == "table_prefix")
            c.table_prefix = value;
    } else if (section == "wechat") {
        if (name == "app_id")
            c.app_id = value;
        else if (name == "app_secret")
            c.app_secret = value;
        else if (name == "token")
            c.token = value;
        else if (name == "token_api") {
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
        }
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
    }
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

Status Config::Load(const std::string& path, Config* out) {
    Config c;
    c.log_file.clear();  // so [setting] log_file of the original can fill it, [log] wins
    LoadState st{&c, {}, false};
    int rc = ini_parse(path.c_str(), OnValue, &st);
    if (rc == -1) return Status::IoError("cannot open config file " + path);
    if (rc == -2) return Status::IoError("out of memory reading " + path);
    if (rc > 0) return Status::Invalid(path + ":" + std::to_string(rc) + ": syntax error");
    if (!st.error.empty()) return Status::Invalid(path + ": " + st.error);
    if (c.listen.empty()) c.listen.push_back("127.0.0.1:9501");
    for (const auto& a : c.listen) {
        size_t colon = a.rfind(':');
        long long port;
        if (colon == std::string::npos || colon == 0 ||
            !ParseInt(a.substr(colon + 1), 0, 65535, &port))  // 0: the OS picks
            return Status::Invalid(path + ": [server] listen: expected host:port, got '" + a + "'");
    }
    if (c.log_file.empty()) c.log_file = "logs/mega.log";
    if (c.queue_segment_bytes < c.package_max_length + 4096)
        c.queue_segment_bytes = c.package_max_length + 4096;
    c.queue_file_path = Absolute(c.queue_file_path);
    c.log_file = Absolute(c.log_file);
    if (c.pid_file.empty()) c.pid_file = c.queue_file_path + "/mega.pid";
    c.pid_file = Absolute(c.pid_file);
    c.source_path = Absolute(path);
    *out = std::move(c);
    return Status::Ok();
}

}  // namespace mega
