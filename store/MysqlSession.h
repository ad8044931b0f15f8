// One MySQL connection (Connector/C++ 1.1, the JDBC-like API Debian ships) with the
// thread registration the driver wants, as an RAII object. Blocking: used on start-up,
// on the libuv thread pool and on the log writer's thread, never on the event loop.
// Errors are Status::Unavailable with MySQL's message (the password never appears in one),
// except a statement whose data MySQL refuses (too long, bad encoding, a constraint): that
// is Status::Invalid, so that a writer can tell a bad row from a database it cannot reach.
#pragma once

#include <memory>
#include <string>

#include "base/Status.h"
#include "config/Config.h"

namespace sql {
class Connection;
}

namespace mega {

class MysqlSession {
  public:
    MysqlSession();  // registers the calling thread with the driver
    ~MysqlSession();
    MysqlSession(const MysqlSession&) = delete;
    MysqlSession& operator=(const MysqlSession&) = delete;

    Status Connect(const Config& config);
    bool connected() const { return conn_ != nullptr; }
    sql::Connection* connection() const { return conn_.get(); }
    void Reset();

    // Runs one statement; `{prefix}` is replaced by the table prefix. Invalid when MySQL
    // refused the statement's data (see IsDataRefusal), Unavailable on any other error.
    Status Execute(const std::string& statement);
    // True for MySQL error numbers that blame the values of the statement (a row), not the
    // connection, the server's state or the schema: retrying the same values cannot work.
    static bool IsDataRefusal(int mysql_errno);
    // The first column of the first row as a number; `fallback` when there is no row.
    Status QueryInt(const std::string& statement, long long fallback, long long* out);
    std::string Escape(const std::string& s) const;        // for building multi-row statements
    const std::string& prefix() const { return prefix_; }  // the table prefix

    // Must run once on the main thread before any other thread uses MySQL.
    static void InitDriver();
    // For a thread that uses a session another thread opened (a pooled connection): the
    // driver's per-thread state, for the lifetime of this object.
    class ThreadScope {
      public:
        ThreadScope();
        ~ThreadScope();
        ThreadScope(const ThreadScope&) = delete;
        ThreadScope& operator=(const ThreadScope&) = delete;
    };

  private:
    std::string Expand(const std::string& statement) const;
    std::string prefix_;
    std::unique_ptr<sql::Connection> conn_;
};

}  // namespace mega
