// Connector/C++ 1.1 (the legacy JDBC-like API Debian ships). Connection errors become
// Status::Unavailable with MySQL's own message; the password never appears in one.
#include "server/TemplateStore.h"

#include <cppconn/driver.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_driver.h>

#include <memory>

namespace mega {
namespace {

// Connector/C++ wants each thread that uses it to register; this scopes that.
class DriverThread {
public:
    DriverThread() : driver_(sql::mysql::get_mysql_driver_instance()) { driver_->threadInit(); }
    ~DriverThread() { driver_->threadEnd(); }
    sql::mysql::MySQL_Driver* driver() const { return driver_; }

private:
    sql::mysql::MySQL_Driver* driver_;
};

Status Connect(const Config& c, sql::mysql::MySQL_Driver* driver,
               std::unique_ptr<sql::Connection>* out) {
    sql::ConnectOptionsMap opts;
    opts["hostName"] = sql::SQLString("tcp://" + c.mysql_host + ":" + std::to_string(c.mysql_port));
    if (!c.mysql_socket.empty()) opts["socket"] = sql::SQLString(c.mysql_socket);
    opts["userName"] = sql::SQLString(c.mysql_user);
    opts["password"] = sql::SQLString(c.mysql_password);
    opts["schema"] = sql::SQLString(c.mysql_db);
    opts["OPT_CONNECT_TIMEOUT"] = 5;
    opts["OPT_READ_TIMEOUT"] = 10;
    opts["OPT_WRITE_TIMEOUT"] = 10;
    opts["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    try {
        out->reset(driver->connect(opts));
    } catch (const sql::SQLException& e) {
        return Status::Unavailable("MySQL at " + c.mysql_host + ":" +
                                   std::to_string(c.mysql_port) + " (database " + c.mysql_db +
                                   "): " + e.what());
    }
    return Status::Ok();
}

std::string Table(const Config& c) { return "`" + c.table_prefix + "mega_wechat_template`"; }

}  // namespace

void TemplateStore::InitDriver() { sql::mysql::get_mysql_driver_instance(); }

Status TemplateStore::LoadAll(int limit, std::vector<Row>* rows) const {
    DriverThread thread;
    std::unique_ptr<sql::Connection> conn;
    Status s = Connect(config_, thread.driver(), &conn);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(conn->prepareStatement(
            "SELECT tmpl_key, template FROM " + Table(config_) + " ORDER BY tmpl_key LIMIT ?"));
        st->setInt(1, limit);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        rows->clear();
        while (rs->next()) rows->push_back({rs->getString(1), rs->getString(2)});
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

Status TemplateStore::LoadOne(const std::string& key, std::string* text) const {
    DriverThread thread;
    std::unique_ptr<sql::Connection> conn;
    Status s = Connect(config_, thread.driver(), &conn);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(
            conn->prepareStatement("SELECT template FROM " + Table(config_) + " WHERE tmpl_key = ?"));
        st->setString(1, key);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (!rs->next()) return Status::NotFound("template key not exists");
        *text = rs->getString(1);
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

Status TemplateStore::Execute(const std::string& sql_text) const {
    DriverThread thread;
    std::unique_ptr<sql::Connection> conn;
    Status s = Connect(config_, thread.driver(), &conn);
    if (!s.ok()) return s;
    std::string text = sql_text;
    for (size_t p; (p = text.find("{prefix}")) != std::string::npos;)
        text.replace(p, 8, config_.table_prefix);
    try {
        std::unique_ptr<sql::Statement> st(conn->createStatement());
        st->execute(text);
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

}  // namespace mega
