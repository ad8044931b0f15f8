// Tests of finding a running server whose config says port 0 (config/StatusFile): the config
// accepts port 0, the status file's pid, admin and port lines are read (a torn read's old
// tail ignored, a dead server's file refused), and a client's address is resolved from it.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/Config.h"
#include "config/StatusFile.h"
#include "tests/unit/TempDir.h"

namespace fs = std::filesystem;
using mega::Config;
using mega::ServerStatus;
using mega::Status;

namespace {

// A fresh temporary directory (the queue_file_path of a pretend server), removed at exit.
class TempQueueDir {
  public:
    TempQueueDir() : temp_("status"), dir_(temp_.path()) {}
    const std::string& path() const { return dir_; }
    void WriteStatus(const std::string& text) const {
        std::ofstream out(dir_ + "/status", std::ios::binary);
        out << text;
        REQUIRE(out.good());
    }
    Status LoadConfig(const std::string& ini, Config* c) const {
        {
            std::ofstream out(dir_ + "/mega.ini", std::ios::binary);
            out << ini << "[server]\nqueue_file_path = " << dir_ << "\n";
        }
        return Config::Load(dir_ + "/mega.ini", c);
    }

  private:
    mega::testing::TempDir temp_;
    const std::string& dir_;
};

std::string Me() {
    return "pid " + std::to_string(::getpid()) + "\n";
}

int DeadPid() {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(0);
    int st = 0;
    ::waitpid(child, &st, 0);
    return int(child);
}

}  // namespace

TEST_CASE("listen[] and [admin] listen may say port 0; other bad ports stay refused") {
    TempQueueDir q;
    Config c;
    REQUIRE(q.LoadConfig("[server]\nlisten[] = 127.0.0.1:0\nlisten[] = [::1]:0\n"
                         "[admin]\nlisten = 127.0.0.1:0\n",
                         &c)
                .ok());
    CHECK(c.listen == std::vector<std::string>{"127.0.0.1:0", "[::1]:0"});
    CHECK(c.admin_listen == "127.0.0.1:0");
    CHECK(q.LoadConfig("[server]\nlisten[] = 127.0.0.1:65536\n", &c).code() ==
          Status::Code::kInvalid);
    CHECK(q.LoadConfig("[server]\nlisten[] = 127.0.0.1:-1\n", &c).code() == Status::Code::kInvalid);
}

TEST_CASE("the status file: pid, admin port and one port per listen[] address") {
    TempQueueDir q;
    q.WriteStatus(Me() + "depth 3\ninflight 0\nadmin 40001\nport 40002\nport 40003\n");
    ServerStatus s;
    REQUIRE(ServerStatus::Read(q.path(), &s).ok());
    CHECK(s.pid == ::getpid());
    CHECK(s.admin_port == 40001);
    CHECK(s.ports == std::vector<int>{40002, 40003});
}

TEST_CASE("the status file: an old tail after the new lines (a torn read) is ignored") {
    TempQueueDir q;
    // New text, then what a longer previous write left before the server truncated the file.
    q.WriteStatus(Me() + "admin 40001\nport 40002\npid 1\nadmin 9\nport 9\nrt 40002\n");
    ServerStatus s;
    REQUIRE(ServerStatus::Read(q.path(), &s).ok());
    CHECK(s.admin_port == 40001);
    CHECK(s.ports == std::vector<int>{40002});
}

TEST_CASE("the status file of a server that is gone, or none at all: Unavailable") {
    TempQueueDir q;
    ServerStatus s;
    CHECK(ServerStatus::Read(q.path(), &s).code() == Status::Code::kUnavailable);
    q.WriteStatus("pid " + std::to_string(DeadPid()) + "\nadmin 40001\nport 40002\n");
    Status st = ServerStatus::Read(q.path(), &s);
    CHECK(st.code() == Status::Code::kUnavailable);
    CHECK(st.message().find("not running") != std::string::npos);
}

TEST_CASE("a client's address: as configured, or port 0 replaced by the running server's") {
    TempQueueDir q;
    Config c;
    std::string address;
    REQUIRE(q.LoadConfig("[server]\nlisten[] = 127.0.0.1:9501\n", &c).ok());
    REQUIRE(mega::ResolveListenAddress(c, &address).ok());
    CHECK(address == "127.0.0.1:9501");

    REQUIRE(q.LoadConfig("[server]\nlisten[] = [::1]:0\nlisten[] = 127.0.0.1:0\n", &c).ok());
    CHECK(mega::ResolveListenAddress(c, &address).code() == Status::Code::kUnavailable);
    q.WriteStatus(Me() + "admin 0\n");  // started, not listening yet
    CHECK(mega::ResolveListenAddress(c, &address).code() == Status::Code::kUnavailable);
    q.WriteStatus(Me() + "admin 0\nport 40002\nport 40003\n");
    REQUIRE(mega::ResolveListenAddress(c, &address).ok());
    CHECK(address == "[::1]:40002");
}
