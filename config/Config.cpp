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

#include "config/ConfigKeys.h"

namespace mega {
namespace {

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
    std::string Where() const { return path + ":" + std::to_string(line) + ": "; }
};

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

// Applies one value; false if [section] name is not a key of ours. A bad value of a known key
// is noted in st->errors, and parsing goes on.
bool ApplyValue(LoadState* st, std::string_view section, std::string_view name,
                const std::string& value) {
    auto bad = [&](const std::string& what) {
        st->errors.push_back(st->Where() + "[" + std::string(section) + "] " + std::string(name) +
                             ": " + what);
        return true;
    };
    if (section.starts_with("account.")) {
        const std::string account(section.substr(8));
        auto& list = st->config->accounts;
        auto it = std::find_if(list.begin(), list.end(),
                               [&](const AccountConfig& a) { return a.name == account; });
        if (it == list.end()) {
            it = list.insert(list.end(), AccountConfig{});
            it->name = account;
        }
        bool known = false;
        const Status s = ApplyAccountKey(&*it, name, value, &known);
        return s.ok() ? known : bad(s.message());
    }
    if (section.starts_with("callback.") && section.size() > 9)
        return ApplyCallbackValue(st, section.substr(9), name, value, bad);
    const ConfigKey* key = FindConfigKey(section, name);
    if (key == nullptr) return false;
    if (Status s = key->apply(*st->config, value); !s.ok()) bad(s.message());
    return true;
}

// The keys of each section, ours and the original's: Mega-Wechat passed [setting] to
// Swoole's Server::set(), so every Swoole server setting may be there (mega ignores them).
struct SectionKeys {
    std::string section;
    std::vector<std::string_view> keys;
};

// Keys of the original that mega accepts and ignores, by section.
const std::vector<SectionKeys>& IgnoredKeys() {
    static const std::vector<SectionKeys> kIgnored = {
        {"server", {"class", "protocol"}},
        {"setting",
         {// Swoole's settings, as the original's file may carry them
          "reactor_num",
          "worker_num",
          "max_request",
          "max_conn",
          "max_connection",
          "task_ipc_mode",
          "task_max_request",
          "task_tmpdir",
          "task_enable_coroutine",
          "task_use_object",
          "dispatch_mode",
          "dispatch_func",
          "message_queue_key",
          "backlog",
          "log_level",
          "log_date_format",
          "log_date_with_microseconds",
          "log_rotation",
          "open_tcp_keepalive",
          "tcp_keepidle",
          "tcp_keepinterval",
          "tcp_keepcount",
          "heartbeat_check_interval",
          "heartbeat_idle_time",
          "open_eof_check",
          "open_eof_split",
          "package_eof",
          "open_length_check",
          "package_length_type",
          "package_length_func",
          "package_length_offset",
          "package_body_offset",
          "open_cpu_affinity",
          "cpu_affinity_ignore",
          "open_tcp_nodelay",
          "tcp_defer_accept",
          "ssl_cert_file",
          "ssl_key_file",
          "ssl_method",
          "ssl_ciphers",
          "user",
          "group",
          "chroot",
          "pid_file",
          "pipe_buffer_size",
          "buffer_output_size",
          "socket_buffer_size",
          "enable_unsafe_event",
          "discard_timeout_request",
          "enable_reuse_port",
          "enable_delay_receive",
          "reload_async",
          "max_wait_time",
          "tcp_fastopen",
          "request_slowlog_file",
          "request_slowlog_timeout",
          "trace_event_worker",
          "enable_coroutine",
          "max_coroutine",
          "open_http_protocol",
          "open_http2_protocol",
          "open_websocket_protocol",
          "open_mqtt_protocol",
          "open_redis_protocol"}},
    };
    return kIgnored;
}

// The sections in the order of the key table, each with its keys and the ignored ones.
const std::vector<SectionKeys>& KnownKeys() {
    static const std::vector<SectionKeys> kKeys = [] {
        std::vector<SectionKeys> all;
        auto section = [&](std::string_view name) -> SectionKeys& {
            for (auto& s : all)
                if (s.section == name) return s;
            return all.emplace_back(SectionKeys{std::string(name), {}});
        };
        for (const ConfigKey& k : ConfigKeys()) section(k.section).keys.push_back(k.name);
        for (const SectionKeys& s : IgnoredKeys())
            for (auto k : s.keys) section(s.section).keys.push_back(k);
        section("callback.*").keys = {"url", "secret", "events"};  // [callback.NAME]
        return all;
    }();
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
    if (ApplyValue(st, section, name, TrimValue(value)) || (keys && IsKnownKey(*keys, name)))
        return 1;
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
        if (TrimValue(part).empty()) continue;
        size_t eq = part.find('=');
        if (eq == std::string::npos)
            return Status::Invalid("dsn: expected name=value in '" + part + "'");
        std::string k = TrimValue(part.substr(0, eq)), v = TrimValue(part.substr(eq + 1));
        if (k == "host")
            out->mysql_host = v;
        else if (k == "port") {
            long long n;
            if (!ParseWholeNumber(v, 1, 65535, &n))
                return Status::Invalid("dsn: bad port '" + v + "'");
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
            !ParseWholeNumber(a.substr(colon + 1), 0, 65535, &port))  // 0: the OS picks
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
    c.ca_file = Absolute(c.ca_file);
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
