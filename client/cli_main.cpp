// mega-cli: the command-line client of mega (and of the original Mega-Wechat server).
// push / send / tset one message and print the reply; bulk streams a file of openids
// through a pipelined window with a progress bar and a resumable FILE.progress;
// failed / account manage the running server through its admin HTTP API.
// Exit status: 0 for 200, 1 for 400, 2 for 500 or a transport error, 64 for bad usage.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"
#include "client/AdminClient.h"
#include "client/Bulk.h"
#include "client/MegaClient.h"
#include "config/Config.h"
#include "config/StatusFile.h"

namespace {

using mega::Status;
using mega::client::BulkJob;
using mega::client::BulkReport;
using mega::client::ClientOptions;
using mega::client::MegaClient;
using mega::client::Reply;
using mega::protocol::Command;

constexpr int kExitOk = 0;
constexpr int kExitRejected = 1;
constexpr int kExitFailed = 2;
constexpr int kExitUsage = 64;
constexpr int kExitInterrupted = 130;

constexpr const char* kUsage =
    R"(usage: mega-cli [SERVER] COMMAND [ARGS] [OPTIONS]

SERVER (one of; --addr wins over the others):
  -c FILE                the server's config file: connect to its first listen[] address
  NAME                   the same with config/NAME.ini (relative to the current directory)
  --addr HOST:PORT       connect to HOST:PORT ([v6addr]:PORT for IPv6)

COMMAND:
  push OPENID KEY [JSON] [--opt NAME=VALUE]...
                         queue template KEY for OPENID with data JSON (default null);
                         200 as soon as the server has queued it
  send OPENID KEY [JSON] [--opt NAME=VALUE]...
                         deliver now; 200 once WeChat accepted it, else 400 WeChat's JSON
  tset KEY               (re)load template KEY from the database into the server's cache
  bulk --key KEY --openids FILE [--data JSON] [--mode push|send] [--window N]
       [--opt NAME=VALUE]... [--restart]
                         send KEY to every openid of FILE (one a line; blank lines and
                         lines starting with # skipped), N requests in flight (default 64).
                         FILE.progress keeps the count of lines answered, so that a new
                         run resumes after them; --restart starts from the first line.
                         400s go on to the next line, a 500 stops the run.
  failed list [--limit N]   dead letters: id, recipient, template, error
  failed retry ID | failed retry --all
                         queue dead letters again, as a new series of attempts
  failed forget ID | failed flush
                         drop one dead letter / all of them
  account status | account pause [--reason TEXT] | account resume
                         the WeChat account's pause (45009 daily quota, or by hand)
  task create --key KEY --openids FILE [--data JSON] [--rate N] [--opt NAME=VALUE]...
                         a batch task the server feeds into its queue at N msgs/s
                         (0: as fast as the queue takes them), resumed after a restart
  task list | task pause ID | task resume ID | task cancel ID
  (failed, account and task talk to the admin API named by the config: -c FILE or NAME)

OPTIONS:
  --opt NAME=VALUE       an extension word of the request header (priority=high,
                         msgkey=x, ...), repeatable; passed to the server as is
  --timeout SECONDS      longest wait for a reply (default 30)
  -h, --help             this text

push/send/tset print the reply: its code, then its message if any.
Exit status: 0 reply 200 (bulk: all 200), 1 reply 400 (bulk: done, some 400s),
2 reply 500, transport or file error, 64 bad usage, 130 bulk interrupted (progress saved).
)";

struct CliArgs {
    std::string config_file;  // -c
    std::string addr;         // --addr
    std::vector<std::string> positional;
    std::vector<std::string> opts;  // --opt, in order
    std::string key, openids, data, mode = "push";
    std::optional<size_t> window;
    double timeout_s = 30;
    bool restart = false;
    bool help = false;
    bool all = false;         // failed retry --all
    std::string reason;       // account pause --reason
    std::string limit = "100";  // failed list --limit
    std::string rate = "0";     // task create --rate
    std::vector<std::string> bulk_flags_seen;  // to refuse them outside bulk
};

int Usage(const std::string& problem) {
    std::fprintf(stderr, "mega-cli: %s\n(mega-cli --help for usage)\n", problem.c_str());
    return kExitUsage;
}

bool IsCommand(std::string_view word) {
    return word == "push" || word == "send" || word == "tset" || word == "bulk" ||
           word == "failed" || word == "account" || word == "task";
}

// Accepts "--name VALUE" and "--name=VALUE"; flags may come anywhere; "--" ends them.
std::optional<std::string> ParseArgs(int argc, char** argv, CliArgs* args) {
    bool flags_done = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (flags_done || arg.size() < 2 || arg[0] != '-') {
            args->positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            flags_done = true;
            continue;
        }
        std::string name = arg, value;
        bool has_value = false;
        if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has_value = true;
        }
        auto take = [&](std::string* out) -> std::optional<std::string> {
            if (!has_value) {
                if (i + 1 >= argc) return name + " needs a value";
                value = argv[++i];
            }
            *out = value;
            return std::nullopt;
        };
        std::optional<std::string> problem;
        std::string text;
        if (name == "-h" || name == "--help") {
            args->help = true;
        } else if (name == "--all") {
            args->all = true;
        } else if (name == "--reason") {
            problem = take(&args->reason);
        } else if (name == "--rate") {
            problem = take(&args->rate);
        } else if (name == "--limit") {
            problem = take(&args->limit);
        } else if (name == "--restart") {
            args->restart = true;
            args->bulk_flags_seen.push_back(name);
        } else if (name == "-c" || name == "--config") {
            problem = take(&args->config_file);
        } else if (name == "--addr") {
            problem = take(&args->addr);
        } else if (name == "--opt") {
            problem = take(&text);
            if (!problem) args->opts.push_back(text);
        } else if (name == "--key") {
            problem = take(&args->key);
            args->bulk_flags_seen.push_back(name);
        } else if (name == "--openids") {
            problem = take(&args->openids);
            args->bulk_flags_seen.push_back(name);
        } else if (name == "--data") {
            problem = take(&args->data);
            args->bulk_flags_seen.push_back(name);
        } else if (name == "--mode") {
            problem = take(&args->mode);
            args->bulk_flags_seen.push_back(name);
        } else if (name == "--window") {
            problem = take(&text);
            args->bulk_flags_seen.push_back(name);
            if (!problem) {
                char* end = nullptr;
                errno = 0;
                unsigned long long n = std::strtoull(text.c_str(), &end, 10);
                if (text.empty() || *end != '\0' || errno != 0 || n == 0 || n > 100000 ||
                    text[0] == '-')
                    problem = "--window wants a number from 1 to 100000, not '" + text + "'";
                else
                    args->window = size_t(n);
            }
        } else if (name == "--timeout") {
            problem = take(&text);
            if (!problem) {
                char* end = nullptr;
                double s = std::strtod(text.c_str(), &end);
                if (text.empty() || *end != '\0' || !std::isfinite(s) || s <= 0 || s > 86400)
                    problem = "--timeout wants seconds (> 0), not '" + text + "'";
                else
                    args->timeout_s = s;
            }
        } else {
            problem = "unknown option " + name;
        }
        if (problem) return problem;
    }
    return std::nullopt;
}

// The extension words: each NAME=VALUE, one word, joined with spaces.
std::optional<std::string> JoinOptions(const std::vector<std::string>& opts, std::string* out) {
    out->clear();
    for (const std::string& opt : opts) {
        size_t eq = opt.find('=');
        bool word = !opt.empty();
        for (char c : opt)
            if (static_cast<unsigned char>(c) <= ' ') word = false;
        if (eq == std::string::npos || eq == 0 || !word)
            return "--opt wants NAME=VALUE without spaces, not '" + opt + "'";
        if (!out->empty()) out->push_back(' ');
        out->append(opt);
    }
    return std::nullopt;
}

std::optional<std::string> CheckJson(const std::string& json, const char* what) {
    rapidjson::Document doc;
    doc.Parse(json.c_str(), json.size());
    if (!doc.HasParseError()) return std::nullopt;
    return std::string(what) +
           " is not valid JSON: " + rapidjson::GetParseError_En(doc.GetParseError()) +
           " (at offset " + std::to_string(doc.GetErrorOffset()) + ")";
}

// Works out the server's address: --addr, else the first listen[] of the config file (its
// port 0: the port the running server wrote into its status file).
Status ResolveAddress(const CliArgs& args, const std::string& config_name, std::string* address,
                      size_t* max_frame_bytes) {
    if (!args.addr.empty()) {
        *address = args.addr;
        return Status::Ok();
    }
    const std::string path =
        !args.config_file.empty() ? args.config_file : "config/" + config_name + ".ini";
    mega::Config config;
    Status s = mega::Config::Load(path, &config);
    if (!s.ok()) return s;
    s = mega::ResolveListenAddress(config, address);  // port 0: from the status file
    if (!s.ok()) return s;
    *max_frame_bytes = size_t(config.package_max_length);
    return Status::Ok();
}

std::string JsonString(const std::string& s) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.String(s.c_str(), rapidjson::SizeType(s.size()));
    return std::string(sb.GetString(), sb.GetSize());
}

// `task create`: the task is created empty (loading), the openid file goes up in 1 MiB
// pieces of whole lines, then the task is started.
int CreateTask(const mega::client::AdminClient& admin, const CliArgs& args) {
    if (args.key.empty() || args.openids.empty()) return Usage("task create needs --key KEY --openids FILE");
    if (!args.data.empty())
        if (auto problem = CheckJson(args.data, "--data")) return Usage(*problem);
    std::string options;
    if (auto problem = JoinOptions(args.opts, &options)) return Usage(*problem);
    FILE* f = std::fopen(args.openids.c_str(), "rb");
    if (!f) {
        std::fprintf(stderr, "mega-cli: cannot open %s\n", args.openids.c_str());
        return kExitFailed;
    }
    std::unique_ptr<FILE, int (*)(FILE*)> file(f, &std::fclose);
    long http = 0;
    std::string response;
    const std::string create = "{\"key\":" + JsonString(args.key) + ",\"data\":" +
                               (args.data.empty() ? "null" : args.data) + ",\"rate\":" +
                               std::to_string(std::atof(args.rate.c_str())) + ",\"options\":" +
                               JsonString(options) + ",\"start\":false}";
    Status s = admin.Call("POST", "/api/tasks", create, &http, &response);
    rapidjson::Document d;
    if (s.ok()) d.Parse(response.c_str());
    if (!s.ok() || http != 200 || d.HasParseError() || !d.IsObject() || !d.HasMember("id")) {
        std::fprintf(stderr, "mega-cli: task create: %s\n", s.ok() ? response.c_str() : s.message().c_str());
        return kExitFailed;
    }
    const std::string id = d["id"].GetString();
    std::string chunk, carry;
    std::vector<char> buf(1 << 20);
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), file.get())) > 0 || !carry.empty()) {
        chunk = carry;
        chunk.append(buf.data(), n);
        carry.clear();
        if (n > 0) {  // send whole lines; keep a partial last line for the next piece
            const size_t nl = chunk.rfind('\n');
            if (nl == std::string::npos) {
                carry = std::move(chunk);
                continue;
            }
            carry = chunk.substr(nl + 1);
            chunk.resize(nl + 1);
        }
        s = admin.Call("POST", "/api/tasks/" + id + "/openids", chunk, &http, &response);
        if (!s.ok() || http != 200) {
            std::fprintf(stderr, "mega-cli: task %s upload: %s\n", id.c_str(),
                         s.ok() ? response.c_str() : s.message().c_str());
            return kExitFailed;
        }
        if (n == 0) break;
    }
    s = admin.Call("POST", "/api/tasks/" + id + "/start", "{}", &http, &response);
    if (!s.ok() || http != 200) {
        std::fprintf(stderr, "mega-cli: task %s start: %s\n", id.c_str(), s.ok() ? response.c_str() : s.message().c_str());
        return kExitFailed;
    }
    std::printf("task %s started\n", id.c_str());
    return kExitOk;
}

// `failed …`, `account …` and `task …`: admin API calls, their answers printed for people.
int RunAdmin(const CliArgs& args, const std::string& config_name, const std::string& command,
             const std::vector<std::string>& pos) {
    const std::string path =
        !args.config_file.empty() ? args.config_file : "config/" + config_name + ".ini";
    if (args.config_file.empty() && config_name.empty())
        return Usage(command + " needs the server's config: -c FILE or NAME");
    mega::Config config;
    Status s = mega::Config::Load(path, &config);
    mega::client::AdminClient admin;
    if (s.ok()) s = mega::client::AdminClient::FromConfig(config, &admin);
    if (!s.ok()) {
        std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
        return kExitFailed;
    }
    const std::string sub = pos.empty() ? "" : pos[0];
    std::string method = "POST", url, body = "{}";
    if (command == "failed" && sub == "list" && pos.size() == 1) {
        method = "GET";
        url = "/api/failed?limit=" + args.limit;
    } else if (command == "failed" && sub == "retry" && args.all && pos.size() == 1) {
        url = "/api/failed/retry";
        body = R"({"all":true})";
    } else if (command == "failed" && (sub == "retry" || sub == "forget") && pos.size() == 2) {
        url = "/api/failed/" + sub;
        body = "{\"id\":" + JsonString(pos[1]) + "}";
    } else if (command == "failed" && sub == "flush" && pos.size() == 1) {
        url = "/api/failed/flush";
    } else if (command == "account" && (sub == "status" || sub.empty())) {
        method = "GET";
        url = "/api/account";
    } else if (command == "account" && sub == "pause" && pos.size() == 1) {
        url = "/api/account/pause";
        if (!args.reason.empty()) body = "{\"reason\":" + JsonString(args.reason) + "}";
    } else if (command == "account" && sub == "resume" && pos.size() == 1) {
        url = "/api/account/resume";
    } else if (command == "task" && sub == "list" && pos.size() == 1) {
        method = "GET";
        url = "/api/tasks";
    } else if (command == "task" && (sub == "pause" || sub == "resume" || sub == "cancel") &&
               pos.size() == 2) {
        url = "/api/tasks/" + pos[1] + "/" + sub;
    } else if (command == "task" && sub == "create" && pos.size() == 1) {
        return CreateTask(admin, args);
    } else {
        return Usage("unknown " + command + " command; see mega-cli --help");
    }
    long http = 0;
    std::string response;
    s = admin.Call(method, url, body, &http, &response);
    if (!s.ok()) {
        std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
        return kExitFailed;
    }
    rapidjson::Document d;
    d.Parse(response.c_str());
    if (http != 200 || d.HasParseError()) {
        std::string msg = response;
        if (!d.HasParseError() && d.IsObject() && d.HasMember("error") && d["error"].IsString())
            msg = d["error"].GetString();
        std::fprintf(stderr, "mega-cli: %ld %s\n", http, msg.c_str());
        return http == 404 ? kExitRejected : kExitFailed;
    }
    if (command == "task" && sub == "list") {
        for (const auto& t : d.GetArray()) {
            const double total = double(t["total"].GetUint64());
            const double done = double(t["sent"].GetUint64() + t["failed"].GetUint64());
            std::printf("task %s  %-9s  %s  %llu/%llu queued  %llu sent  %llu failed  %.0f%%\n",
                        t["id"].GetString(), t["status"].GetString(), t["key"].GetString(),
                        static_cast<unsigned long long>(t["queued"].GetUint64()),
                        static_cast<unsigned long long>(t["total"].GetUint64()),
                        static_cast<unsigned long long>(t["sent"].GetUint64()),
                        static_cast<unsigned long long>(t["failed"].GetUint64()),
                        total > 0 ? 100.0 * done / total : 0.0);
        }
    } else if (command == "failed" && sub == "list") {
        std::printf("%zu dead letters\n", size_t(d["total"].GetUint64()));
        for (const auto& it : d["items"].GetArray()) {
            std::printf("%s  %s  %s  errcode %d  attempts %u  %s\n", it["id"].GetString(),
                        it["openid"].GetString(), it["key"].GetString(), it["errcode"].GetInt(),
                        it["attempts"].GetUint(), it["error"].GetString());
        }
    } else if (command == "account" && (sub == "status" || sub.empty())) {
        if (d["paused"].GetBool())
            std::printf("account %s paused: %s\n", d["app_id"].GetString(), d["reason"].GetString());
        else
            std::printf("account %s sending\n", d["app_id"].GetString());
    } else {
        std::printf("%s\n", response.c_str());
    }
    return kExitOk;
}

int ExitForCode(uint32_t code) {
    if (code == 200) return kExitOk;
    if (code == 400) return kExitRejected;
    return kExitFailed;
}

int RunSingle(MegaClient* client, Command command, const std::vector<std::string>& words,
              const std::string& options) {
    Reply reply;
    Status s;
    if (command == Command::kTset) {
        s = client->Tset(words[0], &reply);
    } else {
        const std::string data = words.size() > 2 ? words[2] : "null";
        s = client->Call(command, words[0], words[1], data, options, &reply);
    }
    if (!s.ok()) {
        std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
        return kExitFailed;
    }
    if (reply.message.empty())
        std::printf("%u\n", reply.code);
    else
        std::printf("%u %s\n", reply.code, reply.message.c_str());
    std::fflush(stdout);
    return ExitForCode(reply.code);
}

// SIGINT/SIGTERM during a bulk run are blocked and polled, so that an interrupted run still
// waits briefly for replies in flight and saves its progress.
class StopSignals {
  public:
    StopSignals() {
        sigemptyset(&set_);
        sigaddset(&set_, SIGINT);
        sigaddset(&set_, SIGTERM);
        sigaddset(&set_, SIGHUP);
        sigprocmask(SIG_BLOCK, &set_, nullptr);
    }
    // The signals stay blocked until exit: one arriving after the last poll must not kill
    // the process before it has printed its summary.
    bool Requested() {
        timespec zero{};
        if (sigtimedwait(&set_, nullptr, &zero) <= 0) return false;
        if (++count_ == 1)
            std::fputs(
                "\nmega-cli: stopping: waiting up to 5 s for replies in flight "
                "(interrupt again to stop now)\n",
                stderr);
        return true;
    }

  private:
    sigset_t set_;
    int count_ = 0;
};

int RunBulkCommand(MegaClient* client, const CliArgs& args, const std::string& options) {
    BulkJob job;
    job.command = args.mode == "send" ? Command::kSend : Command::kPush;
    job.key = args.key;
    job.openids_path = args.openids;
    job.data_json = args.data.empty() ? "null" : args.data;
    job.options = options;
    job.restart = args.restart;
    job.reply_timeout_ms = int(args.timeout_s * 1000);
    job.progress_out = stderr;
    job.progress_is_tty = ::isatty(STDERR_FILENO) == 1;
    StopSignals signals;
    job.stop_requested = [&signals] { return signals.Requested(); };

    BulkReport report;
    Status s = mega::client::RunBulk(client, job, &report);
    const std::string progress = mega::client::ProgressPath(args.openids);
    if (!s.ok() && report.sent == 0) {
        std::fprintf(stderr, "mega-cli: bulk: %s\n", s.message().c_str());
        return kExitFailed;
    }
    if (report.resumed_from > 0 && report.resumed_from == report.total && report.sent == 0)
        std::fprintf(stderr,
                     "mega-cli: bulk: all %llu lines of %s were answered before (%s); "
                     "--restart sends them again\n",
                     static_cast<unsigned long long>(report.total), args.openids.c_str(),
                     progress.c_str());
    std::printf("%s\n", mega::client::FormatBulkSummary(report).c_str());
    std::fflush(stdout);
    if (!s.ok()) std::fprintf(stderr, "mega-cli: bulk: %s\n", s.message().c_str());
    if (report.outcome != BulkReport::Outcome::kDone) {
        std::fprintf(stderr,
                     "mega-cli: bulk stopped: %s\nmega-cli: %llu of %llu lines answered, "
                     "saved in %s; run again to resume\n",
                     report.error.c_str(), static_cast<unsigned long long>(report.acknowledged),
                     static_cast<unsigned long long>(report.total), progress.c_str());
    }
    if (!s.ok()) return kExitFailed;
    switch (report.outcome) {
        case BulkReport::Outcome::kDone:
            return report.rejected > 0 ? kExitRejected : kExitOk;
        case BulkReport::Outcome::kInterrupted:
            return kExitInterrupted;
        case BulkReport::Outcome::kServerError:
        case BulkReport::Outcome::kTransportError:
            return kExitFailed;
    }
    return kExitFailed;
}

int Main(int argc, char** argv) {
    CliArgs args;
    if (auto problem = ParseArgs(argc, argv, &args)) return Usage(*problem);
    if (args.help) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }
    std::vector<std::string>& pos = args.positional;
    std::string config_name;
    if (!pos.empty() && !IsCommand(pos[0])) {
        config_name = pos[0];
        pos.erase(pos.begin());
    }
    if (pos.empty()) return Usage("no command (push, send, tset or bulk)");
    const std::string command_word = pos[0];
    pos.erase(pos.begin());
    if (!IsCommand(command_word)) return Usage("unknown command '" + command_word + "'");
    if (!config_name.empty() && !args.config_file.empty())
        return Usage("give either -c FILE or a config NAME, not both");
    if (args.addr.empty() && args.config_file.empty() && config_name.empty())
        return Usage("no server: give -c FILE, a config NAME or --addr HOST:PORT");

    if (command_word == "failed" || command_word == "account" || command_word == "task")
        return RunAdmin(args, config_name, command_word, pos);

    std::string options;
    if (auto problem = JoinOptions(args.opts, &options)) return Usage(*problem);

    Command command = Command::kPush;
    if (command_word == "bulk") {
        if (!pos.empty()) return Usage("bulk takes no arguments, only options: " + pos[0]);
        if (args.key.empty()) return Usage("bulk needs --key KEY");
        if (args.openids.empty()) return Usage("bulk needs --openids FILE");
        if (args.mode != "push" && args.mode != "send")
            return Usage("--mode is push or send, not '" + args.mode + "'");
        if (!args.data.empty())
            if (auto problem = CheckJson(args.data, "--data")) return Usage(*problem);
    } else {
        if (!args.bulk_flags_seen.empty())
            return Usage(args.bulk_flags_seen.front() + " is an option of bulk only");
        if (command_word == "tset") {
            command = Command::kTset;
            if (pos.size() != 1) return Usage("tset takes one argument: KEY");
            if (!args.opts.empty()) return Usage("tset takes no --opt");
        } else {
            command = command_word == "send" ? Command::kSend : Command::kPush;
            if (pos.size() < 2 || pos.size() > 3)
                return Usage(command_word + " takes OPENID KEY [JSON]");
            if (pos.size() == 3)
                if (auto problem = CheckJson(pos[2], "JSON")) return Usage(*problem);
        }
    }

    ClientOptions client_options;
    client_options.io_timeout_ms = int(std::lround(args.timeout_s * 1000));
    if (args.window) client_options.window = *args.window;
    std::string address;
    Status s = ResolveAddress(args, config_name, &address, &client_options.max_frame_bytes);
    if (!s.ok()) {
        std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
        return kExitFailed;
    }
    MegaClient client(client_options);
    s = client.Connect(address);
    if (!s.ok()) {
        std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
        return kExitFailed;
    }
    if (command_word == "bulk") return RunBulkCommand(&client, args, options);
    return RunSingle(&client, command, pos, options);
}

}  // namespace

int main(int argc, char** argv) {
    return Main(argc, argv);
}
