// fake-wechat: a local stand-in for WeChat's HTTP API, used by tests, the demo and benchmarks.
// Parses the command line, starts FakeWechat on one libuv loop, prints the listening line
// that tests wait for, and exits 0 on SIGTERM or SIGINT.
#include <sys/resource.h>
#include <uv.h>

#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "http/UvHandle.h"
#include "tools/fake-wechat/FakeWechat.h"
#include "tools/fake-wechat/TlsFront.h"

namespace {

constexpr const char* kUsage =
    "usage: fake-wechat --port N [--host 127.0.0.1] [--latency-ms N] [--appid A --secret S]"
    " [--seed N] [--robot-window-s 60] [--webhook-secret S] [--tls-cert PEM --tls-key PEM]\n"
    "  --port 0 picks a free port; the line 'fake-wechat listening on HOST:PORT' tells which.\n"
    "  --tls-cert/--tls-key: the API is served over HTTPS on the --port given, announced first\n"
    "  as 'fake-wechat https on HOST:PORT'; the listening line then names a plain-HTTP port\n"
    "  (any free one) that serves the same endpoints, for the control calls.\n"
    "  Control endpoints: GET /fake/stats, GET /fake/messages?since=K[&limit=L],\n"
    "  GET|POST /fake/config, POST /fake/reset|expire_tokens|clear_quota|new_day.\n";

struct CommandLine {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string tls_cert, tls_key;  // both set: HTTPS on `port` (TlsFront)
    fakewechat::FakeWechatOptions options;
};

bool ParseNumber(const char* text, long long min, long long max, long long* value) {
    char* end = nullptr;
    long long v = std::strtoll(text, &end, 10);
    if (end == text || *end != '\0' || v < min || v > max) return false;
    *value = v;
    return true;
}

bool ParseCommandLine(int argc, char** argv, CommandLine* out) {
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") return false;
        if (i + 1 >= argc) {
            std::fprintf(stderr, "fake-wechat: %s needs a value\n", argv[i]);
            return false;
        }
        const char* value = argv[++i];
        long long number = 0;
        if (flag == "--host") {
            out->host = value;
        } else if (flag == "--port" && ParseNumber(value, 0, 65535, &number)) {
            out->port = static_cast<int>(number);
        } else if (flag == "--latency-ms" && ParseNumber(value, 0, 3'600'000, &number)) {
            out->options.latency_ms = static_cast<int>(number);
        } else if (flag == "--webhook-secret") {
            out->options.webhook_secret = value;
        } else if (flag == "--robot-window-s" && ParseNumber(value, 1, 3600, &number)) {
            out->options.robot_window_s = int(number);
        } else if (flag == "--seed" && ParseNumber(value, 0, LLONG_MAX, &number)) {
            out->options.seed = static_cast<uint64_t>(number);
        } else if (flag == "--tls-cert") {
            out->tls_cert = value;
        } else if (flag == "--tls-key") {
            out->tls_key = value;
        } else if (flag == "--appid") {
            out->options.appid = value;
        } else if (flag == "--secret") {
            out->options.secret = value;
        } else {
            std::fprintf(stderr, "fake-wechat: bad argument %s %s\n", argv[i - 1], value);
            return false;
        }
    }
    if (out->tls_cert.empty() != out->tls_key.empty()) {
        std::fprintf(stderr, "fake-wechat: --tls-cert and --tls-key go together\n");
        return false;
    }
    return true;
}

// Thousands of keep-alive connections need more descriptors than the usual soft limit.
void RaiseDescriptorLimit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

int Serve(uv_loop_t* loop, const CommandLine& command_line) {
    using fakewechat::UvHandle;
    fakewechat::FakeWechat fake(loop, command_line.options);
    const bool tls = !command_line.tls_cert.empty();
    mega::Status listening = fake.Listen(command_line.host, tls ? 0 : command_line.port);
    fakewechat::TlsFront https(loop);
    if (listening.ok() && tls)
        listening = https.Listen(command_line.tls_cert, command_line.tls_key, command_line.host,
                                 command_line.port, fake.port());
    if (!listening.ok()) {
        std::fprintf(stderr, "fake-wechat: %s\n", listening.ToString().c_str());
        return 1;
    }
    const bool v6 = command_line.host.find(':') != std::string::npos;
    if (tls)
        std::printf("fake-wechat https on %s%s%s:%d\n", v6 ? "[" : "", command_line.host.c_str(),
                    v6 ? "]" : "", https.port());
    std::printf("fake-wechat listening on %s%s%s:%d\n", v6 ? "[" : "", command_line.host.c_str(),
                v6 ? "]" : "", fake.port());
    std::fflush(stdout);

    auto stop = [](uv_signal_t* signal, int) { uv_stop(signal->loop); };
    UvHandle<uv_signal_t> on_term(loop, uv_signal_init);
    UvHandle<uv_signal_t> on_int(loop, uv_signal_init);
    uv_signal_start(on_term.get(), stop, SIGTERM);
    uv_signal_start(on_int.get(), stop, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}  // every handle is closed here; main runs the loop once more to free them

}  // namespace

int main(int argc, char** argv) {
    CommandLine command_line;
    if (!ParseCommandLine(argc, argv, &command_line)) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    RaiseDescriptorLimit();

    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) return 1;
    int rc = 1;
    try {
        rc = Serve(&loop, command_line);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fake-wechat: %s\n", e.what());
    }
    uv_run(&loop, UV_RUN_DEFAULT);  // close callbacks of the handles Serve released
    uv_loop_close(&loop);
    return rc;
}
