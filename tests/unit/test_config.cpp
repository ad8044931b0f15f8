// Tests of configuration loading (config/Config): the original Mega-Wechat ini file byte for
// byte (BOM, quotes, `table_size = 100;`), defaults for our keys, repeated and listed values,
// PDO DSNs, and the errors a bad file gets.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/Config.h"
#include "store/OutboxTable.h"
#include "tests/unit/TempDir.h"

namespace fs = std::filesystem;
using mega::Config;
using mega::FsyncPolicy;
using mega::Status;

namespace {

// An ini file in a fresh temporary directory, removed at scope exit.
class TempIni {
  public:
    explicit TempIni(const std::string& text) : dir_("config"), path_(dir_.path() + "/test.ini") {
        std::ofstream out(path_, std::ios::binary);
        out << text;
        REQUIRE(out.good());
    }
    const std::string& path() const { return path_; }

  private:
    mega::testing::TempDir dir_;
    std::string path_;
};

Config LoadOk(const std::string& text) {
    TempIni ini(text);
    Config c;
    Status s = Config::Load(ini.path(), &c);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    return c;
}

Status LoadStatus(const std::string& text) {
    TempIni ini(text);
    Config c;
    return Config::Load(ini.path(), &c);
}

}  // namespace

TEST_CASE("the sample config/wechat.ini loads, and says what the defaults are") {
    Config c;
    Status s = Config::Load(MEGA_TEST_DATA "/../config/wechat.ini", &c);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    const Config defaults;
    CHECK(c.fsync == defaults.fsync);
    CHECK(c.fsync_interval_ms == defaults.fsync_interval_ms);
    CHECK(c.message_log == defaults.message_log);
    CHECK(c.message_log_backlog == defaults.message_log_backlog);
}

TEST_CASE("message_log_backlog: read, and bounded") {
    CHECK(LoadOk("[log]\nmessage_log_backlog = 500\n").message_log_backlog == 500);
    CHECK_FALSE(LoadStatus("[log]\nmessage_log_backlog = 3\n").ok());
}

TEST_CASE("the original Mega-Wechat ini loads unchanged") {
    const std::string path = MEGA_TEST_DATA "/golden/original-wechat.ini";
    {
        std::ifstream in(path, std::ios::binary);
        std::string head(3, '\0');
        in.read(head.data(), 3);
        REQUIRE(head == "\xEF\xBB\xBF");  // the file under test really starts with a BOM
    }
    Config c;
    Status s = Config::Load(path, &c);
    REQUIRE_MESSAGE(s.ok(), s.ToString());

    CHECK(c.listen == std::vector<std::string>{"127.0.0.1:9501"});
    CHECK(c.table_size == 100);
    CHECK(c.template_size == 4048);
    CHECK(c.queue_file_path == "/Mega-Wechat/logs/queue");
    CHECK(c.task_worker_num == 8);
    CHECK(c.package_max_length == 2465792);
    CHECK(c.daemonize);
    CHECK(c.mysql_host == "127.0.0.1");
    CHECK(c.mysql_port == 3306);
    CHECK(c.mysql_db == "mega");
    CHECK(c.mysql_socket.empty());
    CHECK(c.mysql_user == "root");
    CHECK(c.mysql_password == "root");
    CHECK(c.table_prefix.empty());
    CHECK(c.app_id == "wx90c4bf2cf0dae125");
    CHECK(c.app_secret == "e01207cd557f62c73f5099aae83a9f15");
    CHECK(c.token == "e01207cd557f62c73f5099aae83a9f15");
    CHECK(c.log_file == "/Mega-Wechat/logs/mega.log");
    CHECK(c.log_level == "warning");
    CHECK(c.log_prefix == "mega");

    // Keys the original does not have keep their defaults.
    CHECK(c.fsync == FsyncPolicy::kInterval);
    CHECK(c.fsync_interval_ms == 100);
    CHECK(c.max_inflight == 256);
    CHECK(c.http_timeout_ms == 10000);
    CHECK(c.api_base == std::vector<std::string>{"https://api.weixin.qq.com"});
    CHECK(c.queue_max_bytes == 8ull << 30);
    CHECK(c.queue_segment_bytes == 64ull << 20);
    CHECK(c.shutdown_timeout_ms == 10000);
    CHECK(c.pid_file == "/Mega-Wechat/logs/queue/mega.pid");
    CHECK(c.source_path == fs::absolute(path).lexically_normal().string());
}

TEST_CASE("an empty file: every default, listen included") {
    Config c = LoadOk("");
    CHECK(c.listen == std::vector<std::string>{"127.0.0.1:9501"});
    CHECK(c.table_size == 100);
    CHECK(c.task_worker_num == 8);
    CHECK(c.daemonize);
    CHECK(c.log_level == "info");
    CHECK(c.mysql_password.empty());
    // Relative defaults are made absolute against the working directory.
    const fs::path cwd = fs::current_path();
    CHECK(c.queue_file_path == (cwd / "logs/queue").lexically_normal().string());
    CHECK(c.log_file == (cwd / "logs/mega.log").lexically_normal().string());
    CHECK(c.pid_file == (cwd / "logs/queue/mega.pid").lexically_normal().string());
}

TEST_CASE("our keys are read") {
    Config c = LoadOk(
        "[server]\n"
        "fsync = always\n"
        "fsync_interval_ms = 5\n"
        "queue_max_bytes = 1048576\n"
        "queue_segment_bytes = 8388608\n"
        "pid_file = run/mega.pid\n"
        "shutdown_timeout_ms = 0\n"
        "[setting]\n"
        "max_inflight = 64\n"
        "http_timeout_ms = 2500\n"
        "daemonize = 0\n"
        "[log]\n"
        "log_level = debug\n");
    CHECK(c.fsync == FsyncPolicy::kAlways);
    CHECK(c.fsync_interval_ms == 5);
    CHECK(c.queue_max_bytes == 1048576);
    CHECK(c.queue_segment_bytes == 8388608);
    CHECK(c.pid_file == (fs::current_path() / "run/mega.pid").lexically_normal().string());
    CHECK(c.shutdown_timeout_ms == 0);
    CHECK(c.max_inflight == 64);
    CHECK(c.http_timeout_ms == 2500);
    CHECK_FALSE(c.daemonize);
    CHECK(c.log_level == "debug");
    CHECK(LoadOk("[server]\nfsync = none\n").fsync == FsyncPolicy::kNone);
    CHECK(LoadOk("[server]\nfsync = interval\n").fsync == FsyncPolicy::kInterval);
}

TEST_CASE("listen: repeated listen[] and comma lists, in order") {
    Config c = LoadOk(
        "[server]\n"
        "listen[] = 127.0.0.1:9501\n"
        "listen[] = \"0.0.0.0:9502\"\n"
        "listen[] = [::1]:9503, 10.0.0.1:9504\n");
    CHECK(c.listen == std::vector<std::string>{"127.0.0.1:9501", "0.0.0.0:9502", "[::1]:9503",
                                               "10.0.0.1:9504"});
    CHECK(LoadOk("[server]\nlisten = a.example:1\n").listen ==
          std::vector<std::string>{"a.example:1"});
}

TEST_CASE("quoted values lose their quotes, inner text is kept") {
    Config c = LoadOk(
        "[server]\n"
        "queue_file_path = \"/var/lib/mega queue\"\n"
        "table_size = \"250\"\n"
        "[pdo]\n"
        "username = 'mega'\n"
        "password = \"p=w;rd\"\n"
        "table_prefix = \"wx_\"\n"
        "[wechat]\n"
        "app_id = \"wx1\"\n");
    CHECK(c.queue_file_path == "/var/lib/mega queue");
    CHECK(c.table_size == 250);
    CHECK(c.mysql_user == "mega");
    CHECK(c.mysql_password == "p=w;rd");
    CHECK(c.table_prefix == "wx_");
    CHECK(c.app_id == "wx1");
}

TEST_CASE("log_file: [log] wins over the original's [setting] log_file") {
    CHECK(LoadOk("[setting]\nlog_file = /a/swoole.log\n").log_file == "/a/swoole.log");
    CHECK(LoadOk("[setting]\nlog_file = /a/swoole.log\n[log]\nlog_file = /b/mega.log\n").log_file ==
          "/b/mega.log");
    CHECK(LoadOk("[log]\nlog_file = /b/mega.log\n[setting]\nlog_file = /a/swoole.log\n").log_file ==
          "/b/mega.log");
}

TEST_CASE("DSN: host, port, dbname, unix_socket") {
    Config c = LoadOk(
        "[pdo]\n"
        "dsn = \"mysql:host=db.example;port=3307;dbname=wechat;charset=utf8\"\n");
    CHECK(c.mysql_host == "db.example");
    CHECK(c.mysql_port == 3307);
    CHECK(c.mysql_db == "wechat");
    CHECK(c.mysql_socket.empty());

    Config s = LoadOk("[pdo]\ndsn = \"mysql:unix_socket=/run/mysqld/mysqld.sock;dbname=m\"\n");
    CHECK(s.mysql_socket == "/run/mysqld/mysqld.sock");
    CHECK(s.mysql_db == "m");
    CHECK(s.mysql_port == 3306);

    Config d;
    CHECK(Config::ParseDsn("mysql:host = h ; dbname = x ;", &d).ok());
    CHECK(d.mysql_host == "h");
    CHECK(d.mysql_db == "x");
    CHECK(Config::ParseDsn("pgsql:host=h", &d).code() == Status::Code::kInvalid);
    CHECK(Config::ParseDsn("mysql:host=h;port=99999", &d).code() == Status::Code::kInvalid);
    CHECK(Config::ParseDsn("mysql:host=h;port=x", &d).code() == Status::Code::kInvalid);
    CHECK(Config::ParseDsn("mysql:host", &d).code() == Status::Code::kInvalid);

    Status bad = LoadStatus("[pdo]\ndsn = \"sqlite:/tmp/x\"\n");
    CHECK(bad.code() == Status::Code::kInvalid);
    CHECK(bad.message().find("dsn") != std::string::npos);
}

TEST_CASE("api_base: a comma list, trailing slashes dropped") {
    Config c = LoadOk("[wechat]\napi_base = \"https://a.example/, http://127.0.0.1:8080\"\n");
    CHECK(c.api_base == std::vector<std::string>{"https://a.example", "http://127.0.0.1:8080"});
    CHECK(LoadOk("[wechat]\napi_base = http://one\n").api_base ==
          std::vector<std::string>{"http://one"});
    Status s = LoadStatus("[wechat]\napi_base = \" , \"\n");
    CHECK(s.code() == Status::Code::kInvalid);
    CHECK(s.message().find("api_base") != std::string::npos);
}

TEST_CASE("a bad value is Invalid and names its key") {
    struct Case {
        const char* text;
        const char* key;
    };
    const Case cases[] = {
        {"[setting]\ntask_worker_num = abc\n", "task_worker_num"},
        {"[setting]\ntask_worker_num = 0\n", "task_worker_num"},
        {"[setting]\ntask_worker_num = 8x\n", "task_worker_num"},
        {"[server]\nfsync = sometimes\n", "fsync"},
        {"[server]\ntable_size = -1;\n", "table_size"},
        {"[server]\ntable_size = ;\n", "table_size"},
        {"[server]\nfsync_interval_ms = 99999999999999999999\n", "fsync_interval_ms"},
        {"[server]\nqueue_segment_bytes = 1024\n", "queue_segment_bytes"},
        // Offsets in a queue record reference are 32 bits: the queue refuses 4 GiB segments.
        {"[server]\nqueue_segment_bytes = 4294967296\n", "queue_segment_bytes"},
        {"[setting]\ndaemonize = maybe\n", "daemonize"},
        {"[log]\nlog_level = loud\n", "log_level"},
        {"[server]\nlisten[] = 127.0.0.1\n", "listen"},
        {"[server]\nlisten[] = 127.0.0.1:http\n", "listen"},
        {"[server]\nlisten[] = :9501\n", "listen"},
    };
    for (const auto& k : cases) {
        const std::string text = k.text;
        CAPTURE(text);
        Status s = LoadStatus(k.text);
        CHECK(s.code() == Status::Code::kInvalid);
        CHECK(s.message().find(k.key) != std::string::npos);
    }
    // The first bad value is the one reported.
    Status s = LoadStatus("[server]\nfsync = sometimes\n[setting]\ntask_worker_num = abc\n");
    CHECK(s.message().find("fsync") != std::string::npos);
    CHECK(s.message().find("task_worker_num") == std::string::npos);
}

TEST_CASE("a syntax error is Invalid with its line; a missing file is IoError") {
    Status s = LoadStatus("[server]\ntable_size = 5\nthis line has no equals sign\n");
    CHECK(s.code() == Status::Code::kInvalid);
    CHECK(s.message().find(":3:") != std::string::npos);

    Config c;
    Status missing = Config::Load("/nonexistent/mega-unit/none.ini", &c);
    CHECK(missing.code() == Status::Code::kIoError);
    CHECK(missing.message().find("/nonexistent/mega-unit/none.ini") != std::string::npos);
}

TEST_CASE("a queue segment always holds the largest frame") {
    Config c = LoadOk(
        "[server]\nqueue_segment_bytes = 65536\n[setting]\npackage_max_length = "
        "1000000\n");
    CHECK(c.package_max_length == 1000000);
    CHECK(c.queue_segment_bytes >= c.package_max_length + 4096);
}

TEST_CASE("[admin] limits and allowed_hosts: read, bounded, and the sample says the defaults") {
    Config c = LoadOk(
        "[admin]\nmax_connections = 50\nheader_timeout_s = 2\nrequest_timeout_s = 30\n"
        "idle_timeout_s = 5\nallowed_hosts = Mega.Internal, proxy.example:8443\n");
    CHECK(c.admin_max_connections == 50);
    CHECK(c.admin_header_timeout_s == 2);
    CHECK(c.admin_request_timeout_s == 30);
    CHECK(c.admin_idle_timeout_s == 5);
    CHECK(c.admin_allowed_hosts == std::vector<std::string>{"mega.internal", "proxy.example:8443"});
    for (const char* bad : {"max_connections = 0", "header_timeout_s = 0", "idle_timeout_s = x",
                            "request_timeout_s = -1"})
        CHECK_FALSE_MESSAGE(LoadStatus(std::string("[admin]\n") + bad + "\n").ok(), bad);
    Config sample;
    REQUIRE(Config::Load(MEGA_TEST_DATA "/../config/wechat.ini", &sample).ok());
    const Config defaults;
    CHECK(sample.admin_max_connections == defaults.admin_max_connections);
    CHECK(sample.admin_header_timeout_s == defaults.admin_header_timeout_s);
    CHECK(sample.admin_request_timeout_s == defaults.admin_request_timeout_s);
    CHECK(sample.admin_idle_timeout_s == defaults.admin_idle_timeout_s);
    CHECK(sample.admin_allowed_hosts.empty());
}

TEST_CASE("an unknown key or section is a warning with FILE:LINE and the nearest name") {
    TempIni ini("\xEF\xBB\xBF[server]\n; a comment\ntable_size = 5\n[setting]\n" +
                std::string(300, ';') + "\ntsk_worker_num = 4\n[sever]\nx = 1\n[wechat]\n" +
                "rate_limit_per_secnd = 5\nlog_level = info\nzzzzzz = 1\n");
    Config c;
    Status s = Config::Load(ini.path(), &c);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    CHECK(c.task_worker_num == Config().task_worker_num);
    REQUIRE(c.warnings.size() == 5);
    const std::string p = ini.path();
    CHECK(c.warnings[0] == p + ":6: unknown key `tsk_worker_num` in [setting]; did you mean "
                               "`task_worker_num`?");
    CHECK(c.warnings[1] == p + ":7: unknown section [sever]; did you mean `[server]`?");
    CHECK(c.warnings[2] == p + ":10: unknown key `rate_limit_per_secnd` in [wechat]; did you "
                               "mean `rate_limit_per_second`?");
    CHECK(c.warnings[3] == p + ":11: unknown key `log_level` in [wechat]; did you mean `[log] "
                               "log_level`?");
    CHECK(c.warnings[4] == p + ":12: unknown key `zzzzzz` in [wechat]");
}

TEST_CASE("the original's file and the sample have no unknown keys") {
    for (const char* path :
         {MEGA_TEST_DATA "/golden/original-wechat.ini", MEGA_TEST_DATA "/../config/wechat.ini"}) {
        Config c;
        REQUIRE(Config::Load(path, &c).ok());
        CHECK_MESSAGE(c.warnings.empty(), path, ": ", c.warnings.front());
    }
}

TEST_CASE("strict_config = 1 refuses with every warning; LoadAll lists every bad value") {
    Status s = LoadStatus("[server]\nstrict_config = 1\ntabel_size = 5\n");
    CHECK(s.code() == Status::Code::kInvalid);
    CHECK(
        s.message().find(":3: unknown key `tabel_size` in [server]; did you mean `table_size`?") !=
        std::string::npos);

    TempIni ini("[server]\nfsync = sometimes\nbad line\n[setting]\ntask_worker_num = abc\n");
    Config c;
    std::vector<std::string> errors;
    REQUIRE(Config::LoadAll(ini.path(), &c, &errors).ok());
    REQUIRE(errors.size() == 3);
    CHECK(errors[0] == ini.path() + ":3: syntax error");
    CHECK(errors[1].find(":2: [server] fsync:") != std::string::npos);
    CHECK(errors[2].find(":5: [setting] task_worker_num:") != std::string::npos);
    CHECK(c.pid_file.find("/mega.pid") != std::string::npos);
}

TEST_CASE("[outbox]: read, checked, and the sample says the defaults") {
    Config c = LoadOk(
        "[pdo]\nusername = mega\npassword = pw\n"
        "[outbox]\ndsn = \"mysql:host=db.internal;port=3307;dbname=shop\"\nusername = shop\n"
        "password = s3cret\ntable = app_outbox\npoll_ms = 50\nbatch = 100\nkeep_s = 3600\n");
    CHECK(c.outbox_dsn == "mysql:host=db.internal;port=3307;dbname=shop");
    CHECK(c.outbox_table == "app_outbox");
    CHECK(c.outbox_poll_ms == 50);
    CHECK(c.outbox_batch == 100);
    CHECK(c.outbox_keep_s == 3600);
    CHECK(c.mysql_db == "mega");  // [pdo] is untouched
    const Config db = mega::OutboxTable::DatabaseConfig(c);
    CHECK(db.mysql_host == "db.internal");
    CHECK(db.mysql_port == 3307);
    CHECK(db.mysql_db == "shop");
    CHECK(db.mysql_user == "shop");
    CHECK(db.mysql_password == "s3cret");
    CHECK(db.table_prefix.empty());
    // No username of its own: [pdo]'s credentials.
    const Config same = mega::OutboxTable::DatabaseConfig(
        LoadOk("[pdo]\nusername = mega\npassword = pw\n[outbox]\ndsn = mysql:dbname=shop\n"));
    CHECK(same.mysql_user == "mega");
    CHECK(same.mysql_password == "pw");
    for (const char* bad : {"dsn = pgsql:host=x", "table = `x`; DROP", "table = a-b", "poll_ms = 0",
                            "batch = 0", "keep_s = -1"})
        CHECK_FALSE_MESSAGE(LoadStatus(std::string("[outbox]\n") + bad + "\n").ok(), bad);
    Config sample;
    REQUIRE(Config::Load(MEGA_TEST_DATA "/../config/wechat.ini", &sample).ok());
    const Config defaults;
    CHECK(sample.outbox_dsn.empty());
    CHECK(sample.outbox_table == defaults.outbox_table);
    CHECK(sample.outbox_poll_ms == defaults.outbox_poll_ms);
    CHECK(sample.outbox_batch == defaults.outbox_batch);
    CHECK(sample.outbox_keep_s == defaults.outbox_keep_s);
}
