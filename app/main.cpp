// mega: the server's command line (parsed with CLI11, see base/CommandLine.h).
//   mega NAME start|stop|restart|status|migrate|check     reads config/NAME.ini
//   mega -c FILE start|stop|restart|status|migrate|check
// start validates the config, takes the pid-file lock, daemonizes when `daemonize = 1`
// (the parent exits once the server listens, or with its error), and runs the event loop.
// Exit statuses: kServerExitStatus below (also in `mega --help`).
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admin/AdminApi.h"
#include "api/SubmitApi.h"
#include "base/CommandLine.h"
#include "base/ExitCode.h"
#include "base/JsonLogFormat.h"
#include "base/LogFile.h"
#include "config/Config.h"
#include "outbox/OutboxRelay.h"
#include "server/ProcessControl.h"
#include "server/Server.h"
#include "store/Migrations.h"
#include "store/MysqlSession.h"
#include "store/OutboxTable.h"

namespace fs = std::filesystem;
using namespace mega;

namespace {

namespace exit_code = mega::exit_code;

constexpr int kExitNotRunning = 3;  // `status`: the LSB init-script convention

const std::string kServerExitStatus = ExitStatusFooter({
    {exit_code::kOk, "done (status: the server is running)"},
    {kExitNotRunning, "status: the server is not running"},
    {exit_code::kUsage, "usage error"},
    {exit_code::kNoInput, "the config file cannot be read"},
    {exit_code::kUnavailable,
     "start/restart: the server could not start (already running, a port taken, MySQL\n"
     "       unreachable, an old schema: the message says why); migrate: it failed;\n"
     "       check: MySQL unreachable or its schema too old"},
    {exit_code::kOsError, "stop: the server cannot be signalled"},
    {exit_code::kTempFail, "stop: the server did not stop in time, or is starting up: try again"},
    {exit_code::kConfig,
     "the config file is invalid (check: also an unknown key with strict_config = 1)"},
});

// What the command line asks for.
struct ServerCommandLine {
    std::string name;         // NAME: config/NAME.ini
    std::string config_file;  // -c FILE
    std::string command;      // start, stop, restart, status, migrate or check
    bool json = false;        // status --json
    bool foreground = false;  // start --foreground: daemonize = 0 whatever the config says
    bool outbox = false;      // migrate --outbox: the outbox table in the business database
};

const std::pair<const char*, const char*> kServerCommands[] = {
    {"start",
     "check the config, take the pid-file lock and run the server;\n"
     "with daemonize = 1 in the background: it returns once the\n"
     "server listens, or says why it could not start"},
    {"stop",
     "stop the running server: no new requests, in-flight sends\n"
     "finish, the queue is flushed (exit 0 if it was not running)"},
    {"restart", "stop, then start; refused (the server left running) if the\nconfig is invalid"},
    {"status", "whether the server runs, with its queue depth and counts"},
    {"migrate", "create or upgrade the database tables (after every upgrade,\nbefore start)"},
    {"check",
     "validate the config (every bad value, every unknown key), connect\n"
     "to MySQL and check the schema version; prints OK or each problem"},
};

// The words after parsing that CLI11 did not take: an unknown command, or a stray option.
std::optional<int> CheckServerCommand(const CLI::App& app, const ServerCommandLine& args) {
    const std::string commands = "; the commands are " + CommandNames(app);
    for (const std::string& extra : app.remaining()) {
        if (!extra.empty() && extra[0] == '-') return UsageError(app, "unknown option " + extra);
        return UsageError(app, "unknown command '" + extra + "'" + commands);
    }
    if (args.command.empty()) {
        std::error_code ec;
        if (!args.name.empty() &&
            (!args.config_file.empty() || !fs::exists("config/" + args.name + ".ini", ec)))
            return UsageError(app, "unknown command '" + args.name + "'" + commands);
        return UsageError(app, "no command" + commands);
    }
    if (args.name.empty() == args.config_file.empty())
        return UsageError(app, args.name.empty()
                                   ? "no config: give NAME (for config/NAME.ini) or -c FILE"
                                   : "give either NAME or -c FILE, not both");
    return std::nullopt;
}

// nullopt: go on with *args; else the exit status (help, version, usage error).
std::optional<int> ParseServerCommandLine(int argc, char** argv, ServerCommandLine* args) {
    CLI::App app{
        "mega: queues and delivers WeChat template messages (a drop-in for Mega-Wechat).\n"
        "The config is config/NAME.ini, relative to the current directory, or -c FILE.",
        "mega"};
    SetUpCommandLine(&app, kServerExitStatus);
    app.add_option("NAME", args->name, "read config/NAME.ini (the original's form)")->type_name("");
    app.add_option("-c,--config", args->config_file, "read the config from FILE")
        ->type_name("FILE");
    for (const auto& [word, description] : kServerCommands) {
        CLI::App* sub = app.add_subcommand(word, description);
        sub->callback([args, word = std::string(word)] { args->command = word; });
        if (std::string(word) == "status")
            sub->add_flag("--json", args->json, "print one JSON object (for scripts)");
        if (std::string(word) == "start")
            sub->add_flag("--foreground", args->foreground,
                          "stay in the foreground whatever daemonize says (systemd)");
        if (std::string(word) == "migrate")
            sub->add_flag("--outbox", args->outbox,
                          "create the outbox table in [outbox] dsn's database instead");
    }
    app.require_subcommand(0, 1);
    app.allow_extras();  // after the commands, which keep refusing extras: reported below
    if (auto done = ParseCommandLine(app, argc, argv)) return done;
    return CheckServerCommand(app, *args);
}

spdlog::level::level_enum LevelOf(const std::string& s) {
    if (s == "trace") return spdlog::level::trace;
    if (s == "debug") return spdlog::level::debug;
    if (s == "warning" || s == "warn") return spdlog::level::warn;
    if (s == "error") return spdlog::level::err;
    if (s == "critical") return spdlog::level::critical;
    if (s == "off") return spdlog::level::off;
    return spdlog::level::info;
}

// Logs go to [log] log_file (and to stderr in the foreground) through one background
// thread, so a slow disk never stalls the event loop; when the buffer is full the oldest
// lines are dropped rather than blocking.
Status SetUpLogging(const Config& c, bool foreground, std::shared_ptr<LogFile>* log_file) {
    std::error_code ec;
    fs::create_directories(fs::path(c.log_file).parent_path(), ec);
    try {
        spdlog::init_thread_pool(8192, 1);
        std::vector<spdlog::sink_ptr> sinks;
        *log_file = std::make_shared<LogFile>(c.log_file);
        sinks.push_back(*log_file);
        if (foreground) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
        auto logger = std::make_shared<spdlog::async_logger>(
            c.log_prefix, sinks.begin(), sinks.end(), spdlog::thread_pool(),
            spdlog::async_overflow_policy::overrun_oldest);
        logger->set_level(LevelOf(c.log_level));
        logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
        if (c.log_json) (*log_file)->set_formatter(std::make_unique<JsonLogFormat>());
        logger->flush_on(spdlog::level::warn);
        spdlog::set_default_logger(logger);
        spdlog::flush_every(std::chrono::seconds(1));
    } catch (const spdlog::spdlog_ex& e) {
        return Status::IoError(std::string("cannot open log file ") + c.log_file + ": " + e.what());
    }
    return Status::Ok();
}

// The running server's status file: "name value" lines (pid, depth, sent, ...).
std::vector<std::pair<std::string, std::string>> ReadStatusFile(const Config& c) {
    std::ifstream in(c.queue_file_path + "/status");
    std::vector<std::pair<std::string, std::string>> fields;
    std::string line;
    while (std::getline(in, line)) {
        const size_t space = line.find(' ');
        if (space == std::string::npos) continue;
        fields.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    return fields;
}

bool IsInteger(const std::string& s) {
    return !s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string::npos;
}

// {"running":true,"pid":123,"depth":0,...}: the status file's values, numbers as numbers.
std::string StatusJson(int pid, const std::vector<std::pair<std::string, std::string>>& fields) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("running");
    w.Bool(pid != 0);
    if (pid != 0) {
        w.Key("pid");
        w.Int(pid);
    }
    for (const auto& [name, value] : fields) {
        if (name == "pid") continue;
        w.Key(name.c_str(), rapidjson::SizeType(name.size()));
        if (IsInteger(value))
            w.Int64(std::strtoll(value.c_str(), nullptr, 10));  // saturates, never throws
        else
            w.String(value.c_str(), rapidjson::SizeType(value.size()));
    }
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

// Each client connection is one descriptor: lift the soft limit to the hard one so that
// tens of thousands of idle clients fit (the default soft limit is often 1024).
void RaiseFileLimit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    const rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        spdlog::info("open-file limit raised from {} to {}", before, rl.rlim_cur);
    }
}

int Start(const Config& config) {
    std::error_code ec;
    fs::create_directories(config.queue_file_path, ec);
    if (ec || !fs::is_directory(config.queue_file_path)) {
        std::fprintf(stderr, "mega: queue_file_path %s is not usable: %s\n",
                     config.queue_file_path.c_str(), ec ? ec.message().c_str() : "not a directory");
        return exit_code::kUnavailable;
    }
    fs::create_directories(fs::path(config.pid_file).parent_path(), ec);
    PidFile pid_file;
    Status s = PidFile::Acquire(config.pid_file, &pid_file);
    if (!s.ok()) {
        std::fprintf(stderr, "mega: %s\n", s.message().c_str());
        return exit_code::kUnavailable;
    }
    int ready_fd = -1;
    if (config.daemonize) {
        s = Daemonize(&ready_fd);
        if (!s.ok()) {
            std::fprintf(stderr, "mega: %s\n", s.message().c_str());
            return exit_code::kUnavailable;
        }
    }
    auto fail = [&](const std::string& msg) {
        spdlog::critical("{}", msg);
        spdlog::shutdown();
        if (ready_fd >= 0) {
            ReportFailure(ready_fd, msg);
        } else {
            std::fprintf(stderr, "mega: %s\n", msg.c_str());
        }
        return exit_code::kUnavailable;
    };
    std::shared_ptr<LogFile> log_file;
    s = SetUpLogging(config, !config.daemonize, &log_file);
    if (!s.ok()) return fail(s.message());
    for (const auto& warning : config.warnings) spdlog::warn("config: {}", warning);
    pid_file.WritePid();
    ::signal(SIGPIPE, SIG_IGN);
    RaiseFileLimit();
    MysqlSession::InitDriver();

    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = 0;
    {
        Endpoints endpoints;
        endpoints.admin = [&loop](Server* s) -> std::unique_ptr<HttpEndpoint> {
            return std::make_unique<AdminApi>(&loop, s);
        };
        endpoints.api = [&loop](Server* s) -> std::unique_ptr<HttpEndpoint> {
            return std::make_unique<SubmitApi>(&loop, s, s->config());
        };
        endpoints.outbox = [&loop](Server* s) -> std::unique_ptr<MessageFeed> {
            return std::make_unique<OutboxRelay>(&loop, s, s->config());
        };
        Server server(config, &loop, std::move(endpoints));
        server.SetLogReopener([log_file](std::string* error) { return log_file->Reopen(error); });
        s = server.Start();
        if (!s.ok()) {
            server.Shutdown();
            uv_run(&loop, UV_RUN_DEFAULT);
            rc = fail(s.message());
        } else {
            spdlog::info("mega started, pid {}, config {}", int(::getpid()), config.source_path);
            ReportReady(ready_fd);
            uv_run(&loop, UV_RUN_DEFAULT);
        }
    }
    uv_loop_close(&loop);
    spdlog::shutdown();
    return rc;
}

int Status_(const Config& config, bool json) {
    const int pid = PidFile::RunningPid(config.pid_file);
    const auto fields =
        pid == 0 ? std::vector<std::pair<std::string, std::string>>{} : ReadStatusFile(config);
    if (json) {
        std::printf("%s\n", StatusJson(pid, fields).c_str());
    } else if (pid == 0) {
        std::printf("mega is not running (config %s)\n", config.source_path.c_str());
    } else {
        std::string text;
        for (const auto& [name, value] : fields)
            if (name != "pid") text += (text.empty() ? "" : ", ") + name + " " + value;
        std::printf("mega is running, pid %d: %s\n", pid, text.c_str());
    }
    return pid == 0 ? kExitNotRunning : exit_code::kOk;
}

int Stop(const Config& config) {
    Status s = StopServer(config, config.shutdown_timeout_ms + 10000);
    if (s.code() == Status::Code::kNotFound) {
        std::printf("mega is not running\n");
        return exit_code::kOk;
    }
    if (!s.ok()) {
        std::fprintf(stderr, "mega: stop: %s\n", s.message().c_str());
        return s.code() == Status::Code::kUnavailable ? exit_code::kTempFail : exit_code::kOsError;
    }
    std::printf("mega stopped\n");
    return exit_code::kOk;
}

// migrate --outbox: CREATE TABLE IF NOT EXISTS in the business database.
int MigrateOutbox(const Config& config) {
    if (config.outbox_dsn.empty()) {
        std::fprintf(stderr, "mega: migrate --outbox: [outbox] dsn is not set\n");
        return exit_code::kConfig;
    }
    OutboxTable table(config);
    Status s = table.Create();
    if (!s.ok()) {
        std::fprintf(stderr, "mega: migrate --outbox: %s\n", s.message().c_str());
        return exit_code::kUnavailable;
    }
    std::printf("outbox %s is ready\n", table.Describe().c_str());
    return exit_code::kOk;
}

int RunMigrate(const Config& config, bool outbox) {
    MysqlSession::InitDriver();
    if (outbox) return MigrateOutbox(config);
    std::string applied;
    Status s = Migrate(config, &applied);
    if (!s.ok()) {
        std::fprintf(stderr, "mega: migrate: %s\n", s.message().c_str());
        return exit_code::kUnavailable;
    }
    std::printf("schema at version %d%s%s\n", RequiredSchemaVersion(),
                applied.empty() ? " (nothing to do)" : "; applied ", applied.c_str());
    return exit_code::kOk;
}

// Config::LoadAll for check, restart, stop and status: nullopt when the file could be read
// (problems in *errors), else the exit status, the reason printed.
std::optional<int> ReadConfig(const std::string& path, Config* config,
                              std::vector<std::string>* errors) {
    Status s = Config::LoadAll(path, config, errors);
    if (s.ok()) return std::nullopt;
    std::fprintf(stderr, "mega: %s\n", s.message().c_str());
    return exit_code::kNoInput;
}

// check: every problem of the config, then MySQL and its schema; OK if start would pass them.
int Check(const std::string& path) {
    Config config;
    std::vector<std::string> errors;
    if (auto failed = ReadConfig(path, &config, &errors)) return *failed;
    const char* unknown = config.strict_config ? "error" : "warning";
    for (const auto& w : config.warnings) std::printf("%s: %s\n", unknown, w.c_str());
    for (const auto& e : errors) std::printf("error: %s\n", e.c_str());
    if (!errors.empty() || (config.strict_config && !config.warnings.empty()))
        return exit_code::kConfig;
    MysqlSession::InitDriver();
    const Status s = CheckSchema(config);
    if (!s.ok()) {
        std::printf("error: MySQL %s:%d/%s: %s\n", config.mysql_host.c_str(), config.mysql_port,
                    config.mysql_db.c_str(), s.message().c_str());
        return exit_code::kUnavailable;
    }
    std::printf("OK: %s (%zu warnings), MySQL schema at version %d\n", config.source_path.c_str(),
                config.warnings.size(), RequiredSchemaVersion());
    return exit_code::kOk;
}

// For stop, status and restart, which must find a running server even after its ini was
// broken on disk: the values that parse are used (pid_file, queue_file_path), a bad one
// keeps its default. nullopt: go on; else the exit status (the file cannot be read).
std::optional<int> LoadForControl(const std::string& path, Config* config) {
    std::vector<std::string> errors;
    if (auto failed = ReadConfig(path, config, &errors)) return failed;
    if (!errors.empty())
        std::fprintf(stderr,
                     "mega: warning: %s (problems in all: %zu, see `check`); the server is "
                     "looked for through pid file %s\n",
                     errors.front().c_str(), errors.size(), config->pid_file.c_str());
    return std::nullopt;
}

// restart stops the server only if the config it would start with is valid.
int Restart(const std::string& path) {
    Config config;
    std::vector<std::string> errors;
    if (auto failed = ReadConfig(path, &config, &errors)) return *failed;
    if (config.strict_config)
        errors.insert(errors.end(), config.warnings.begin(), config.warnings.end());
    else
        for (const auto& w : config.warnings)
            std::fprintf(stderr, "mega: warning: %s\n", w.c_str());
    if (errors.empty()) {
        if (int rc = Stop(config); rc != exit_code::kOk) return rc;
        return Start(config);
    }
    for (const auto& e : errors) std::fprintf(stderr, "mega: %s\n", e.c_str());
    const int pid = PidFile::RunningPid(config.pid_file);
    std::fprintf(stderr, "mega: restart refused: the config is invalid%s\n",
                 pid != 0 ? "; the running server was left running" : "");
    return exit_code::kConfig;
}

}  // namespace

int main(int argc, char** argv) {
    ServerCommandLine args;
    if (auto done = ParseServerCommandLine(argc, argv, &args)) return *done;
    const std::string config_path =
        args.config_file.empty() ? "config/" + args.name + ".ini" : args.config_file;
    if (args.command == "check") return Check(config_path);
    if (args.command == "restart") return Restart(config_path);
    Config config;
    if (args.command == "stop" || args.command == "status") {
        if (auto done = LoadForControl(config_path, &config)) return *done;
        return args.command == "stop" ? Stop(config) : Status_(config, args.json);
    }
    Status s = Config::Load(config_path, &config);
    if (!s.ok()) {
        std::fprintf(stderr, "mega: %s\n", s.message().c_str());
        return s.code() == Status::Code::kIoError ? exit_code::kNoInput : exit_code::kConfig;
    }
    for (const auto& w : config.warnings) std::fprintf(stderr, "mega: warning: %s\n", w.c_str());
    if (args.command == "start") {
        if (args.foreground) config.daemonize = false;
        return Start(config);
    }
    return RunMigrate(config, args.outbox);
}
