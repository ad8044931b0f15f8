// mega-cli: the command-line client of mega (and of the original Mega-Wechat server).
// push / send / tset one message and print the reply; bulk streams a file of openids
// through a pipelined window with a progress bar and a resumable FILE.progress;
// failed / account / task manage the running server through its admin HTTP API.
// The command line is CLI11's (base/CommandLine.h); exit statuses: kCliExitStatus below.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/CommandLine.h"
#include "base/ExitCode.h"
#include "base/Status.h"
#include "client/AdminClient.h"
#include "client/Bulk.h"
#include "client/MegaClient.h"
#include "config/Config.h"
#include "config/StatusFile.h"

namespace {

namespace exit_code = mega::exit_code;
using mega::Status;
using mega::client::AdminClient;
using mega::client::BulkJob;
using mega::client::BulkReport;
using mega::client::ClientOptions;
using mega::client::MegaClient;
using mega::client::Reply;
using mega::protocol::Command;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

const std::string kCliExitStatus = mega::ExitStatusFooter({
    {exit_code::kOk, "done: reply 200 (bulk: every line 200)"},
    {exit_code::kUsage, "usage error"},
    {exit_code::kDataError, "refused: reply 400 (bulk: done, some lines 400), admin API 4xx"},
    {exit_code::kNoInput, "the config file or the --openids FILE cannot be read"},
    {exit_code::kUnavailable,
     "the server or its admin API cannot be reached, closed the\n"
     "       connection or did not reply within --timeout"},
    {exit_code::kSoftware, "an answer that makes no sense (a bug)"},
    {exit_code::kIoError, "bulk: reading the openids or writing FILE.progress failed"},
    {exit_code::kTempFail, "reply 500 (admin API: 5xx): try again later"},
    {exit_code::kNoPermission, "the admin API refused the token ([admin] token)"},
    {exit_code::kConfig, "the config file is invalid"},
    {exit_code::kInterrupted, "bulk interrupted (the progress is saved: run again to resume)"},
});

constexpr const char* kDescription =
    "mega-cli: the command-line client of mega (and of the original Mega-Wechat).\n"
    "The server: -c FILE (its config: the first listen[] address, and the admin API for\n"
    "failed, account, task and cluster), NAME (the same with config/NAME.ini, relative to the\n"
    "current directory) or --addr HOST:PORT (push, send, tset and bulk only).\n"
    "`mega-cli COMMAND --help` shows a command's arguments and options.";

// What the command line asks for.
struct CliArgs {
    std::string command;      // push, send, tset, bulk, failed, account, task, recall, cluster
    std::string action;       // of failed, account and task: list, retry, pause, ...
    std::string account;      // of account: NAME (empty: the default account)
    std::string config_name;  // NAME: config/NAME.ini
    std::string config_file;  // -c FILE
    std::string addr;         // --addr
    double timeout_s = 30;
    bool json = false;
    std::string openid, template_key, data_word;  // push/send OPENID KEY [JSON], tset KEY
    std::vector<std::string> opts;                // --opt, in order
    std::string key, openids, data, mode = "push";
    size_t window = 0;  // 0: the client's default
    bool restart = false;
    bool all = false;  // failed retry --all
    std::string id;    // failed retry|forget ID, task pause|resume|cancel ID
    std::string reason;
    unsigned limit = 100;
    double rate = 0;

    bool UsesAdminApi() const {
        return command == "failed" || command == "account" || command == "task" ||
               command == "recall" || command == "cluster";
    }
};

// ---------------------------------------------------------------------------------------
// The command line

// -c and --json: accepted by the program and by every command, before or after its words.
void AddConfigAndJson(CLI::App* app, CliArgs* a) {
    app->add_option("-c,--config", a->config_file, "the server's config file")->type_name("FILE");
    app->add_flag("--json", a->json, "print JSON for scripts instead of text");
}

void AddConnection(CLI::App* app, CliArgs* a) {
    app->add_option("--addr", a->addr,
                    "connect to HOST:PORT ([v6addr]:PORT) instead of the\n"
                    "config's first listen[] address")
        ->type_name("HOST:PORT");
    app->add_option("--timeout", a->timeout_s, "longest wait for a reply (default 30)")
        ->type_name("SECONDS")
        ->check(mega::NumberIn(0, 86400, true));
}

// --opt appends: the program's (before the command) come first, then the command's.
void AddRequestOptions(CLI::App* app, CliArgs* a) {
    app->add_option_function<std::vector<std::string>>(
           "--opt",
           [a](const std::vector<std::string>& opts) {
               a->opts.insert(a->opts.end(), opts.begin(), opts.end());
           },
           "an extension word of the request header (priority=high,\n"
           "msgkey=x, ...), passed to the server as is; repeatable")
        ->type_name("NAME=VALUE")
        ->allow_extra_args(false);
}

CLI::App* AddCommand(CLI::App* parent, const char* name, const char* description, CliArgs* a) {
    CLI::App* sub = parent->add_subcommand(name, description);
    AddConfigAndJson(sub, a);
    return sub;
}

// --key, --openids and --data of bulk and task create; the rest of bulk's options. Not
// required() here, as the program may have taken them (CheckArguments insists).
void AddJobOptions(CLI::App* app, CliArgs* a) {
    app->add_option("--key", a->key, "the template key (required)")->type_name("KEY");
    app->add_option("--openids", a->openids, "the openids, one a line (required)")
        ->type_name("FILE");
    app->add_option("--data", a->data, "the template's data (default null)")->type_name("JSON");
}

void AddBulkOptions(CLI::App* app, CliArgs* a) {
    AddJobOptions(app, a);
    app->add_option("--mode", a->mode, "push (queue) or send (deliver now); default push")
        ->type_name("push|send")
        ->check(CLI::IsMember({"push", "send"}).description(""));
    app->add_option("--window", a->window, "requests in flight (default 64)")
        ->type_name("N")
        ->check(mega::NumberIn(1, 100000));
    app->add_flag("--restart", a->restart, "start from the first line, not after FILE.progress");
}

void DefineMessageCommands(CLI::App* app, CliArgs* a) {
    for (const char* word : {"push", "send"}) {
        const bool push = word[1] == 'u';
        CLI::App* sub =
            AddCommand(app, word,
                       push ? "OPENID KEY [JSON]: queue template KEY for OPENID with data\n"
                              "JSON (default null); the reply is 200 once the server queued it"
                            : "OPENID KEY [JSON]: deliver now; the reply is 200 once WeChat\n"
                              "accepted it, else 400 with WeChat's JSON",
                       a);
        sub->add_option("OPENID", a->openid, "the recipient")->required()->type_name("");
        sub->add_option("KEY", a->template_key, "the template key")->required()->type_name("");
        sub->add_option("JSON", a->data_word, "the template's data (default null)")->type_name("");
        AddRequestOptions(sub, a);
        AddConnection(sub, a);
    }
    CLI::App* tset =
        AddCommand(app, "tset", "KEY: (re)load template KEY from the database into the cache", a);
    tset->add_option("KEY", a->template_key, "the template key")->required()->type_name("");
    AddConnection(tset, a);

    CLI::App* bulk = AddCommand(app, "bulk",
                                "--key KEY --openids FILE: send KEY to every openid of FILE\n"
                                "(one a line; blank lines and lines starting with # skipped),\n"
                                "pipelined, with a progress bar. FILE.progress keeps the count\n"
                                "of lines answered, so that a new run resumes after them. 400s\n"
                                "go on to the next line, a 500 stops the run.",
                                a);
    AddBulkOptions(bulk, a);
    AddRequestOptions(bulk, a);
    AddConnection(bulk, a);
}

void DefineFailedCommands(CLI::App* app, CliArgs* a) {
    CLI::App* failed = AddCommand(
        app, "failed", "list | retry ID | retry --all | forget ID | flush: dead letters", a);
    CLI::App* list = AddCommand(failed, "list", "dead letters: id, recipient, template, error", a);
    list->add_option("--limit", a->limit, "at most N of them (default 100)")
        ->type_name("N")
        ->check(mega::NumberIn(1, 1000000));
    CLI::App* retry =
        AddCommand(failed, "retry", "queue a dead letter (or all) again, as a new series", a);
    retry->add_option("ID", a->id, "the dead letter's id")->type_name("");
    retry->add_flag("--all", a->all, "every dead letter");
    AddCommand(failed, "forget", "drop one dead letter", a)
        ->add_option("ID", a->id, "the dead letter's id")
        ->required()
        ->type_name("");
    AddCommand(failed, "flush", "drop every dead letter", a);
    failed->allow_extras();
}

void DefineAccountCommands(CLI::App* app, CliArgs* a) {
    CLI::App* account =
        AddCommand(app, "account", "status | pause | resume: the WeChat account's pause", a);
    const char* name_help = "the account ([account.NAME]); default: the [wechat] one";
    AddCommand(account, "status",
               "paused (45009 daily quota, or by hand) or sending; the\n"
               "default action",
               a)
        ->add_option("NAME", a->account, name_help)
        ->type_name("");
    CLI::App* pause = AddCommand(account, "pause", "stop sending until resumed", a);
    pause->add_option("--reason", a->reason, "shown in status and on the dashboard")
        ->type_name("TEXT");
    pause->add_option("NAME", a->account, name_help)->type_name("");
    AddCommand(account, "resume", "send again", a)
        ->add_option("NAME", a->account, name_help)
        ->type_name("");
    account->allow_extras();
}

void DefineRecallCommand(CLI::App* app, CliArgs* a) {
    AddCommand(app, "recall",
               "recall a sent message (WeCom app messages only), or cancel it\n"
               "if it is still waiting",
               a)
        ->add_option("ID", a->id, "the message's id")
        ->required()
        ->type_name("");
}

void DefineTaskCommands(CLI::App* app, CliArgs* a) {
    CLI::App* task =
        AddCommand(app, "task", "create | list | pause ID | resume ID | cancel ID: batch tasks", a);
    CLI::App* create = AddCommand(task, "create",
                                  "a batch task the server feeds into its queue at --rate\n"
                                  "messages/s, resumed after a restart",
                                  a);
    AddJobOptions(create, a);
    create->add_option("--rate", a->rate, "messages/s (default 0: as fast as the queue takes them)")
        ->type_name("N")
        ->check(mega::NumberIn(0, 1e9));
    AddRequestOptions(create, a);
    AddCommand(task, "list", "tasks with their progress", a);
    for (const char* action : {"pause", "resume", "cancel"})
        AddCommand(task, action,
                   action[0] == 'p'   ? "stop feeding the task"
                   : action[0] == 'r' ? "feed it again"
                                      : "stop it for good",
                   a)
            ->add_option("ID", a->id, "the task's id")
            ->required()
            ->type_name("");
    task->allow_extras();
}

void DefineClusterCommand(CLI::App* app, CliArgs* a) {
    CLI::App* cluster = AddCommand(
        app, "cluster", "status: the nodes sharing the queue ([queue] backend = redis)", a);
    AddCommand(cluster, "status",
               "each node: up or down, last heartbeat, in flight, rate; the\n"
               "default action",
               a);
    cluster->allow_extras();
}

// The commands' options that the program takes too, before the command (as the parser
// before CLI11 did), hidden from its --help; CheckPlacement refuses those that do not fit
// the command. Each with the commands it fits.
const std::pair<const char*, const char*> kCommandOptions[] = {
    {"--opt", "push|send|bulk|task create"},
    {"--key", "bulk|task create"},
    {"--openids", "bulk|task create"},
    {"--data", "bulk|task create"},
    {"--mode", "bulk"},
    {"--window", "bulk"},
    {"--restart", "bulk"},
    {"--all", "failed retry"},
    {"--limit", "failed list"},
    {"--reason", "account pause"},
    {"--rate", "task create"},
};

void AddCommandOptionsToProgram(CLI::App* app, CliArgs* a) {
    AddRequestOptions(app, a);
    AddBulkOptions(app, a);
    app->add_flag("--all", a->all);
    app->add_option("--limit", a->limit)->check(mega::NumberIn(1, 1000000));
    app->add_option("--reason", a->reason);
    app->add_option("--rate", a->rate)->check(mega::NumberIn(0, 1e9));
    for (const auto& [name, commands] : kCommandOptions) app->get_option(name)->group("");
}

std::optional<std::string> CheckPlacement(const CLI::App& app, const CliArgs& a) {
    const std::string command = "|" + a.command + "|",
                      action = "|" + a.command + " " + a.action + "|";
    for (const auto& [name, commands] : kCommandOptions) {
        const std::string fits = std::string("|") + commands + "|";
        if (app.count(name) > 0 && fits.find(command) == std::string::npos &&
            fits.find(action) == std::string::npos) {
            std::string list = commands;
            for (size_t bar; (bar = list.find('|')) != std::string::npos;)
                list.replace(bar, 1, ", ");
            return std::string(name) + " is an option of " + list + ", not of " + a.command;
        }
    }
    return std::nullopt;
}

void DefineCommandLine(CLI::App* app, CliArgs* a) {
    mega::SetUpCommandLine(app, kCliExitStatus);
    app->add_option("NAME", a->config_name, "the server's config is config/NAME.ini")
        ->type_name("");
    AddConfigAndJson(app, a);
    AddConnection(app, a);
    AddCommandOptionsToProgram(app, a);
    DefineMessageCommands(app, a);
    DefineFailedCommands(app, a);
    DefineAccountCommands(app, a);
    DefineTaskCommands(app, a);
    DefineRecallCommand(app, a);
    DefineClusterCommand(app, a);
    app->require_subcommand(0, 1);
    app->allow_extras();  // after the commands, which keep refusing extras: reported below
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

// The command and action CLI11 went into.
void ReadCommand(const CLI::App& app, CliArgs* a) {
    for (const CLI::App* command : app.get_subcommands()) {
        a->command = command->get_name();
        for (const CLI::App* action : command->get_subcommands()) a->action = action->get_name();
    }
}

// Words CLI11 left over: an unknown command or action, or a stray option.
std::optional<std::string> LeftOver(const CLI::App& app, const CliArgs& a) {
    for (const std::string& extra : app.remaining()) {
        if (!extra.empty() && extra[0] == '-') return "unknown option " + extra;
        return "unknown command '" + extra + "'; the commands are " + mega::CommandNames(app);
    }
    if (a.command.empty()) {  // NAME took the only word: a command unless config/NAME.ini is
        std::error_code ec;
        if (!a.config_name.empty() &&
            (!a.config_file.empty() || !a.addr.empty() ||
             !std::filesystem::exists("config/" + a.config_name + ".ini", ec)))
            return "unknown command '" + a.config_name + "'; the commands are " +
                   mega::CommandNames(app);
        return "no command; the commands are " + mega::CommandNames(app);
    }
    const CLI::App* group = app.get_subcommand(a.command);
    for (const std::string& extra : group->remaining())
        return "unknown " + a.command + " command '" + extra + "'; the " + a.command +
               " commands are " + mega::CommandNames(*group);
    if (a.action.empty() && (a.command == "failed" || a.command == "task"))
        return a.command + " needs a command: " + mega::CommandNames(*group);
    return std::nullopt;
}

std::optional<std::string> CheckServer(const CliArgs& a) {
    if (!a.config_name.empty() && !a.config_file.empty())
        return "give either -c FILE or a config NAME, not both";
    if (a.config_name.empty() && a.config_file.empty()) {
        if (a.UsesAdminApi()) return a.command + " needs the server's config: -c FILE or NAME";
        if (a.addr.empty()) return "no server: give -c FILE, a config NAME or --addr HOST:PORT";
    }
    return std::nullopt;
}

std::optional<std::string> CheckArguments(const CliArgs& a) {
    const std::string job = a.command == "task" ? "task " + a.action : a.command;
    if ((job == "bulk" || job == "task create") && (a.key.empty() || a.openids.empty()))
        return job + " needs --key KEY and --openids FILE";
    if (a.command == "failed" && a.action == "retry" && a.all == !a.id.empty())
        return "failed retry takes an ID or --all";
    if (!a.data.empty())
        if (auto problem = CheckJson(a.data, "--data")) return problem;
    if (!a.data_word.empty())
        if (auto problem = CheckJson(a.data_word, "JSON")) return problem;
    std::string options;
    return JoinOptions(a.opts, &options);
}

// Checks what CLI11 cannot; nullopt if the command line is good, else the usage error.
std::optional<int> CheckCommandLine(const CLI::App& app, CliArgs* a) {
    ReadCommand(app, a);
    auto problem = LeftOver(app, *a);
    if (!problem) problem = CheckPlacement(app, *a);
    if (!problem) problem = CheckServer(*a);
    if (!problem) problem = CheckArguments(*a);
    if (problem) return mega::UsageError(app, *problem);
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// failed, account and task: the admin API

std::string JsonString(const std::string& s) {
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.String(s.c_str(), rapidjson::SizeType(s.size()));
    return std::string(sb.GetString(), sb.GetSize());
}

std::string ConfigPath(const CliArgs& a) {
    return !a.config_file.empty() ? a.config_file : "config/" + a.config_name + ".ini";
}

// A config file that does not load: 66 if it cannot be read, 78 if it is invalid.
int ConfigFailure(const Status& s) {
    std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
    return s.code() == Status::Code::kIoError ? exit_code::kNoInput : exit_code::kConfig;
}

// An admin API answer other than 200 with JSON: printed on stderr, with its exit status.
int AdminFailure(long http, const std::string& response) {
    rapidjson::Document d;
    d.Parse(response.c_str());
    std::string msg = response;
    if (!d.HasParseError() && d.IsObject() && d.HasMember("error") && d["error"].IsString())
        msg = d["error"].GetString();
    if (http == 200) msg = "an answer that is not JSON: " + msg;
    std::fprintf(stderr, "mega-cli: %ld %s\n", http, msg.c_str());
    if (http == 200) return exit_code::kSoftware;
    if (http == 401 || http == 403) return exit_code::kNoPermission;
    if (http >= 400 && http < 500) return exit_code::kDataError;
    return exit_code::kTempFail;
}

// One admin API call; nullopt with the answer in *doc and *raw, else the exit status.
std::optional<int> CallAdmin(const AdminClient& admin, const std::string& method,
                             const std::string& url, const std::string& body,
                             rapidjson::Document* doc, std::string* raw) {
    long http = 0;
    Status s = admin.Call(method, url, body, &http, raw);
    if (!s.ok()) {
        std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
        return exit_code::kUnavailable;
    }
    doc->Parse(raw->c_str());
    if (http != 200 || doc->HasParseError()) return AdminFailure(http, *raw);
    return std::nullopt;
}

// `task create`: the task is created empty (loading), the openid file goes up in 1 MiB
// pieces of whole lines, then the task is started.
int CreateTask(const AdminClient& admin, const CliArgs& a) {
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(a.openids.c_str(), "rb"), &std::fclose);
    if (!file) {
        std::fprintf(stderr, "mega-cli: cannot open %s\n", a.openids.c_str());
        return exit_code::kNoInput;
    }
    std::string options, raw;
    JoinOptions(a.opts, &options);
    const std::string create = "{\"key\":" + JsonString(a.key) +
                               ",\"data\":" + (a.data.empty() ? "null" : a.data) +
                               ",\"rate\":" + std::to_string(a.rate) +
                               ",\"options\":" + JsonString(options) + ",\"start\":false}";
    rapidjson::Document d;
    if (auto rc = CallAdmin(admin, "POST", "/api/tasks", create, &d, &raw)) return *rc;
    if (!d.IsObject() || !d.HasMember("id") || !d["id"].IsString()) return AdminFailure(200, raw);
    const std::string id = d["id"].GetString(), created = raw;
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
        rapidjson::Document ignored;
        if (auto rc =
                CallAdmin(admin, "POST", "/api/tasks/" + id + "/openids", chunk, &ignored, &raw))
            return *rc;
        if (n == 0) break;
    }
    rapidjson::Document ignored;
    if (auto rc = CallAdmin(admin, "POST", "/api/tasks/" + id + "/start", "{}", &ignored, &raw))
        return *rc;
    if (a.json)
        std::printf("%s\n", created.c_str());
    else
        std::printf("task %s started\n", id.c_str());
    return exit_code::kOk;
}

struct AdminRequest {
    std::string method = "POST";
    std::string url;
    std::string body = "{}";
};

AdminRequest RequestFor(const CliArgs& a) {
    AdminRequest r;
    if (a.command == "failed") {
        r.url = "/api/failed/" + a.action;
        if (a.action == "list") r = {"GET", "/api/failed?limit=" + std::to_string(a.limit), ""};
        if (a.action == "retry" && a.all) r.body = R"({"all":true})";
        if (!a.id.empty()) r.body = "{\"id\":" + JsonString(a.id) + "}";
    } else if (a.command == "recall") {
        r = {"POST", "/api/messages/" + a.id + "/recall", "{}"};
    } else if (a.command == "cluster") {
        r = {"GET", "/api/cluster", ""};
    } else if (a.command == "account") {
        const std::string base = a.account.empty() ? "/api/account" : "/api/accounts/" + a.account;
        r.url = base + "/" + a.action;
        if (a.action.empty() || a.action == "status") r = {"GET", base, ""};
        if (!a.reason.empty()) r.body = "{\"reason\":" + JsonString(a.reason) + "}";
    } else if (a.action == "list") {
        r = {"GET", "/api/tasks", ""};
    } else {
        r.url = "/api/tasks/" + a.id + "/" + a.action;
    }
    return r;
}

// Which of a JSON object's members are missing or of another type: "" if none.
std::string MissingMembers(const rapidjson::Value& v, const char* strings, const char* numbers) {
    if (!v.IsObject()) return "not an object";
    std::string missing;
    auto check = [&](const char* names, bool number) {
        std::string list = names;
        for (size_t at = 0; at < list.size();) {
            const size_t end = std::min(list.find(' ', at), list.size());
            const std::string name = list.substr(at, end - at);
            const auto it = v.FindMember(name.c_str());
            if (it == v.MemberEnd() || !(number ? it->value.IsNumber() : it->value.IsString()))
                missing += " " + name;
            at = end + 1;
        }
    };
    check(strings, false);
    check(numbers, true);
    return missing;
}

bool PrintTasks(const rapidjson::Document& d) {
    if (!d.IsArray()) return false;
    for (const auto& t : d.GetArray())
        if (!MissingMembers(t, "id status key", "total sent failed queued").empty()) return false;
    if (d.Empty()) std::printf("no tasks\n");
    for (const auto& t : d.GetArray()) {
        const double total = t["total"].GetDouble();
        const double done = t["sent"].GetDouble() + t["failed"].GetDouble();
        std::printf("task %s  %-9s  %s  %.0f/%.0f queued  %.0f sent  %.0f failed  %.0f%%\n",
                    t["id"].GetString(), t["status"].GetString(), t["key"].GetString(),
                    t["queued"].GetDouble(), total, t["sent"].GetDouble(), t["failed"].GetDouble(),
                    total > 0 ? 100.0 * done / total : 0.0);
    }
    return true;
}

bool PrintDeadLetters(const rapidjson::Document& d) {
    if (!MissingMembers(d, "", "total").empty() || !d.HasMember("items") || !d["items"].IsArray())
        return false;
    for (const auto& it : d["items"].GetArray())
        if (!MissingMembers(it, "id openid key error", "errcode attempts").empty()) return false;
    std::printf("%.0f dead letters\n", d["total"].GetDouble());
    for (const auto& it : d["items"].GetArray()) {
        std::printf("%s  %s  %s  errcode %d  attempts %u  %s\n", it["id"].GetString(),
                    it["openid"].GetString(), it["key"].GetString(), it["errcode"].GetInt(),
                    it["attempts"].GetUint(), it["error"].GetString());
    }
    return true;
}

bool PrintAccount(const rapidjson::Document& d) {
    if (!MissingMembers(d, "reason", "").empty() || !d.HasMember("paused") || !d["paused"].IsBool())
        return false;
    // The default account by its app_id, as before accounts came; the others by name.
    const char* member = d.HasMember("app_id") && d["app_id"].IsString() ? "app_id" : "account";
    if (!d.HasMember(member) || !d[member].IsString()) return false;
    if (d["paused"].GetBool())
        std::printf("account %s paused: %s\n", d[member].GetString(), d["reason"].GetString());
    else
        std::printf("account %s sending\n", d[member].GetString());
    return true;
}

// The cluster's nodes as a table, then the totals.
bool PrintCluster(const rapidjson::Document& d) {
    if (!MissingMembers(d, "backend", "").empty() || !d.HasMember("nodes") ||
        !d["nodes"].IsArray() || !d.HasMember("totals") ||
        !MissingMembers(d["totals"], "", "nodes up down inflight rate").empty())
        return false;
    for (const auto& n : d["nodes"].GetArray())
        if (!MissingMembers(n, "id state admin", "age_ms inflight rate queue_depth").empty())
            return false;
    std::printf("%-24s %-5s %10s %9s %8s %7s  %s\n", "NODE", "STATE", "HEARTBEAT", "INFLIGHT",
                "RATE/S", "DEPTH", "ADMIN");
    for (const auto& n : d["nodes"].GetArray()) {
        const std::string age = std::to_string(n["age_ms"].GetInt64() / 1000) + "s ago";
        std::printf("%-24s %-5s %10s %9.0f %8.1f %7.0f  %s\n", n["id"].GetString(),
                    n["state"].GetString(), age.c_str(), n["inflight"].GetDouble(),
                    n["rate"].GetDouble(), n["queue_depth"].GetDouble(), n["admin"].GetString());
    }
    const auto& t = d["totals"];
    std::printf("%.0f nodes (%s queue): %.0f up, %.0f down; %.0f in flight, %.1f sent/s\n",
                t["nodes"].GetDouble(), d["backend"].GetString(), t["up"].GetDouble(),
                t["down"].GetDouble(), t["inflight"].GetDouble(), t["rate"].GetDouble());
    return true;
}

// "3 dead letters queued again": the count an answer holds under `member`.
bool PrintCount(const rapidjson::Document& d, const char* member, const char* what) {
    if (!MissingMembers(d, "", member).empty()) return false;
    const double n = d[member].GetDouble();
    std::printf("%.0f dead letter%s %s\n", n, n == 1 ? "" : "s", what);
    return true;
}

// The answer for people; false if it does not have the expected shape.
bool PrintAdminAnswer(const CliArgs& a, const rapidjson::Document& d) {
    const std::string& act = a.action;
    if (a.command == "task" && act == "list") return PrintTasks(d);
    if (a.command == "cluster") return PrintCluster(d);
    if (a.command == "recall") {
        const bool cancelled = d.IsObject() && d.HasMember("cancelled");
        std::printf("message %s %s\n", a.id.c_str(),
                    cancelled ? "cancelled (it was not sent yet)" : "recalled");
        return true;
    }
    if (a.command == "task") {
        const char* done = act == "pause" ? "paused" : act == "resume" ? "resumed" : "cancelled";
        std::printf("task %s %s\n", a.id.c_str(), done);
    } else if (a.command == "failed") {
        if (act == "list") return PrintDeadLetters(d);
        if (act == "retry" && a.all) return PrintCount(d, "retried", "queued again");
        if (act == "flush") return PrintCount(d, "forgotten", "forgotten");
        std::printf("dead letter %s %s\n", a.id.c_str(),
                    act == "retry" ? "queued again" : "forgotten");
    } else if (act.empty() || act == "status") {
        return PrintAccount(d);
    } else if (act == "pause") {
        std::printf("account paused%s%s\n", a.reason.empty() ? "" : ": ", a.reason.c_str());
    } else {
        std::printf("account resumed\n");
    }
    return true;
}

// `failed …`, `account …` and `task …`: admin API calls, their answers printed for people
// (or as the API's JSON with --json).
int RunAdmin(const CliArgs& a) {
    mega::Config config;
    Status s = mega::Config::Load(ConfigPath(a), &config);
    if (!s.ok()) return ConfigFailure(s);
    AdminClient admin;
    s = AdminClient::FromConfig(config, &admin);
    if (!s.ok()) {
        std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
        return exit_code::kUnavailable;
    }
    if (a.command == "task" && a.action == "create") return CreateTask(admin, a);
    const AdminRequest r = RequestFor(a);
    rapidjson::Document d;
    std::string raw;
    if (auto rc = CallAdmin(admin, r.method, r.url, r.body, &d, &raw)) return *rc;
    if (a.json) {
        std::printf("%s\n", raw.c_str());
        return exit_code::kOk;
    }
    return PrintAdminAnswer(a, d) ? exit_code::kOk : AdminFailure(200, raw);
}

// ---------------------------------------------------------------------------------------
// push, send, tset and bulk: the TCP protocol

// Works out the server's address: --addr, else the first listen[] of the config file.
std::optional<int> ResolveAddress(const CliArgs& a, std::string* address, size_t* max_frame_bytes) {
    if (!a.addr.empty()) {
        *address = a.addr;
        return std::nullopt;
    }
    mega::Config config;
    Status s = mega::Config::Load(ConfigPath(a), &config);
    if (!s.ok()) return ConfigFailure(s);
    s = mega::ResolveListenAddress(config, address);  // port 0: from the status file
    if (!s.ok()) return ConfigFailure(s);
    *max_frame_bytes = size_t(config.package_max_length);
    return std::nullopt;
}

// A call that got no reply: a bad argument (openid too long, ...) or the transport.
int CallFailure(const Status& s) {
    std::fprintf(stderr, "mega-cli: %s\n", s.message().c_str());
    return s.code() == Status::Code::kInvalid ? exit_code::kUsage : exit_code::kUnavailable;
}

int ExitForCode(uint32_t code) {
    if (code == 200) return exit_code::kOk;
    if (code == 400) return exit_code::kDataError;
    return exit_code::kTempFail;
}

int RunSingle(MegaClient* client, const CliArgs& a, const std::string& options) {
    Reply reply;
    Status s;
    if (a.command == "tset") {
        s = client->Tset(a.template_key, &reply);
    } else {
        const Command command = a.command == "send" ? Command::kSend : Command::kPush;
        const std::string data = a.data_word.empty() ? "null" : a.data_word;
        s = client->Call(command, a.openid, a.template_key, data, options, &reply);
    }
    if (!s.ok()) return CallFailure(s);
    if (a.json)
        std::printf("{\"code\":%u,\"message\":%s}\n", reply.code,
                    JsonString(reply.message).c_str());
    else if (reply.message.empty())
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

const char* OutcomeName(BulkReport::Outcome outcome) {
    switch (outcome) {
        case BulkReport::Outcome::kDone:
            return "done";
        case BulkReport::Outcome::kServerError:
            return "server error";
        case BulkReport::Outcome::kTransportError:
            return "transport error";
        case BulkReport::Outcome::kInterrupted:
            return "interrupted";
    }
    return "";
}

std::string BulkJson(const BulkReport& r) {
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("outcome");
    w.String(OutcomeName(r.outcome));
    const std::pair<const char*, uint64_t> counts[] = {{"total", r.total},
                                                       {"resumed_from", r.resumed_from},
                                                       {"sent", r.sent},
                                                       {"ok", r.ok},
                                                       {"rejected", r.rejected},
                                                       {"errors", r.errors},
                                                       {"acknowledged", r.acknowledged}};
    for (const auto& [name, n] : counts) {
        w.Key(name);
        w.Uint64(n);
    }
    w.Key("seconds");
    w.Double(r.seconds);
    w.Key("error");
    w.String(r.error.c_str(), rapidjson::SizeType(r.error.size()));
    w.Key("first_rejections");
    w.StartArray();
    for (const std::string& s : r.first_rejections)
        w.String(s.c_str(), rapidjson::SizeType(s.size()));
    w.EndArray();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

int ExitForBulk(const BulkReport& report) {
    switch (report.outcome) {
        case BulkReport::Outcome::kDone:
            return report.rejected > 0 ? exit_code::kDataError : exit_code::kOk;
        case BulkReport::Outcome::kInterrupted:
            return exit_code::kInterrupted;
        case BulkReport::Outcome::kServerError:
            return exit_code::kTempFail;
        case BulkReport::Outcome::kTransportError:
            return exit_code::kUnavailable;
    }
    return exit_code::kSoftware;
}

int RunBulkCommand(MegaClient* client, const CliArgs& a, const std::string& options) {
    BulkJob job;
    job.command = a.mode == "send" ? Command::kSend : Command::kPush;
    job.key = a.key;
    job.openids_path = a.openids;
    job.data_json = a.data.empty() ? "null" : a.data;
    job.options = options;
    job.restart = a.restart;
    job.reply_timeout_ms = int(a.timeout_s * 1000);
    job.progress_out = stderr;
    job.progress_is_tty = ::isatty(STDERR_FILENO) == 1;
    StopSignals signals;
    job.stop_requested = [&signals] { return signals.Requested(); };

    BulkReport report;
    Status s = mega::client::RunBulk(client, job, &report);
    const std::string progress = mega::client::ProgressPath(a.openids);
    if (!s.ok() && report.sent == 0) {
        std::fprintf(stderr, "mega-cli: bulk: %s\n", s.message().c_str());
        return s.code() == Status::Code::kInvalid ? exit_code::kDataError : exit_code::kIoError;
    }
    if (report.resumed_from > 0 && report.resumed_from == report.total && report.sent == 0)
        std::fprintf(stderr,
                     "mega-cli: bulk: all %llu lines of %s were answered before (%s); "
                     "--restart sends them again\n",
                     static_cast<unsigned long long>(report.total), a.openids.c_str(),
                     progress.c_str());
    const std::string summary = a.json ? BulkJson(report) : mega::client::FormatBulkSummary(report);
    std::printf("%s\n", summary.c_str());
    std::fflush(stdout);
    if (!s.ok()) std::fprintf(stderr, "mega-cli: bulk: %s\n", s.message().c_str());
    if (report.outcome != BulkReport::Outcome::kDone) {
        std::fprintf(stderr,
                     "mega-cli: bulk stopped: %s\nmega-cli: %llu of %llu lines answered, "
                     "saved in %s; run again to resume\n",
                     report.error.c_str(), static_cast<unsigned long long>(report.acknowledged),
                     static_cast<unsigned long long>(report.total), progress.c_str());
    }
    return s.ok() ? ExitForBulk(report) : exit_code::kIoError;
}

int RunProtocol(const CliArgs& a) {
    std::string options;
    JoinOptions(a.opts, &options);
    if (a.command == "bulk" && ::access(a.openids.c_str(), R_OK) != 0) {
        std::fprintf(stderr, "mega-cli: bulk: cannot read %s\n", a.openids.c_str());
        return exit_code::kNoInput;
    }
    ClientOptions client_options;
    client_options.io_timeout_ms = int(std::lround(a.timeout_s * 1000));
    if (a.window > 0) client_options.window = a.window;
    std::string address;
    if (auto rc = ResolveAddress(a, &address, &client_options.max_frame_bytes)) return *rc;
    MegaClient client(client_options);
    Status s = client.Connect(address);
    if (!s.ok()) return CallFailure(s);
    if (a.command == "bulk") return RunBulkCommand(&client, a, options);
    return RunSingle(&client, a, options);
}

int Main(int argc, char** argv) {
    CliArgs args;
    CLI::App app{kDescription, "mega-cli"};
    DefineCommandLine(&app, &args);
    if (auto done = mega::ParseCommandLine(app, argc, argv)) return *done;
    if (auto problem = CheckCommandLine(app, &args)) return *problem;
    return args.UsesAdminApi() ? RunAdmin(args) : RunProtocol(args);
}

}  // namespace

int main(int argc, char** argv) {
    return Main(argc, argv);
}
