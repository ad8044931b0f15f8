// mega: the server's command line.
//   mega NAME start|stop|restart|status|migrate     reads config/NAME.ini
//   mega -c FILE start|stop|restart|status|migrate
// start validates the config, takes the pid-file lock, daemonizes when `daemonize = 1`
// (the parent exits once the server listens, or with its error), and runs the event loop.
#include <signal.h>
#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "admin/AdminApi.h"
#include "config/Config.h"
#include "store/Migrations.h"
#include "store/MysqlSession.h"
#include "server/ProcessControl.h"
#include "server/Server.h"

namespace fs = std::filesystem;
using namespace mega;

namespace {

int Usage() {
    std::fprintf(stderr,
                 "usage: mega NAME start|stop|restart|status|migrate   (config/NAME.ini)\n"
                 "       mega -c FILE start|stop|restart|status|migrate\n");
    return 2;
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
Status SetUpLogging(const Config& c, bool foreground) {
    std::error_code ec;
    fs::create_directories(fs::path(c.log_file).parent_path(), ec);
    try {
        spdlog::init_thread_pool(8192, 1);
        std::vector<spdlog::sink_ptr> sinks;
        sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(c.log_file));
        if (foreground) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
        auto logger = std::make_shared<spdlog::async_logger>(
            c.log_prefix, sinks.begin(), sinks.end(), spdlog::thread_pool(),
            spdlog::async_overflow_policy::overrun_oldest);
        logger->set_level(LevelOf(c.log_level));
        logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
        logger->flush_on(spdlog::level::warn);
        spdlog::set_default_logger(logger);
        spdlog::flush_every(std::chrono::seconds(1));
    } catch (const spdlog::spdlog_ex& e) {
        return Status::IoError(std::string("cannot open log file ") + c.log_file + ": " + e.what());
    }
    return Status::Ok();
}

std::string ReadStatusFile(const Config& c) {
    std::ifstream in(c.queue_file_path + "/status");
    std::string line, out;
    while (std::getline(in, line)) {
        if (line.rfind("pid ", 0) == 0) continue;
        out += (out.empty() ? "" : ", ") + line;
    }
    return out;
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
        return 1;
    }
    fs::create_directories(fs::path(config.pid_file).parent_path(), ec);
    PidFile pid_file;
    Status s = PidFile::Acquire(config.pid_file, &pid_file);
    if (!s.ok()) {
        std::fprintf(stderr, "mega: %s\n", s.message().c_str());
        return 1;
    }
    int ready_fd = -1;
    if (config.daemonize) {
        s = Daemonize(&ready_fd);
        if (!s.ok()) {
            std::fprintf(stderr, "mega: %s\n", s.message().c_str());
            return 1;
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
        return 1;
    };
    s = SetUpLogging(config, !config.daemonize);
    if (!s.ok()) return fail(s.message());
    pid_file.WritePid();
    ::signal(SIGPIPE, SIG_IGN);
    RaiseFileLimit();
    MysqlSession::InitDriver();

    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = 0;
    {
        Server server(config, &loop, [&loop](Server* s) -> std::unique_ptr<AdminEndpoint> {
            return std::make_unique<AdminApi>(&loop, s);
        });
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

int Status_(const Config& config) {
    int pid = PidFile::RunningPid(config.pid_file);
    if (pid == 0) {
        std::printf("mega is not running (config %s)\n", config.source_path.c_str());
        return 3;
    }
    std::printf("mega is running, pid %d: %s\n", pid, ReadStatusFile(config).c_str());
    return 0;
}

int Stop(const Config& config) {
    Status s = StopServer(config, config.shutdown_timeout_ms + 10000);
    if (s.code() == Status::Code::kNotFound) {
        std::printf("mega is not running\n");
        return 0;
    }
    if (!s.ok()) {
        std::fprintf(stderr, "mega: stop: %s\n", s.message().c_str());
        return 1;
    }
    std::printf("mega stopped\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path, command;
    if (argc == 4 && std::strcmp(argv[1], "-c") == 0) {
        config_path = argv[2];
        command = argv[3];
    } else if (argc == 3 && argv[1][0] != '-') {
        config_path = std::string("config/") + argv[1] + ".ini";
        command = argv[2];
    } else {
        return Usage();
    }
    Config config;
    Status s = Config::Load(config_path, &config);
    if (!s.ok()) {
        std::fprintf(stderr, "mega: %s\n", s.message().c_str());
        return 1;
    }
    if (command == "start") return Start(config);
    if (command == "stop") return Stop(config);
    if (command == "restart") {
        if (Stop(config) != 0) return 1;
        return Start(config);
    }
    if (command == "status") return Status_(config);
    if (command == "migrate") {
        MysqlSession::InitDriver();
        std::string applied;
        s = Migrate(config, &applied);
        if (!s.ok()) {
            std::fprintf(stderr, "mega: migrate: %s\n", s.message().c_str());
            return 1;
        }
        std::printf("schema at version %d%s%s\n", RequiredSchemaVersion(),
                    applied.empty() ? " (nothing to do)" : "; applied ", applied.c_str());
        return 0;
    }
    return Usage();
}
