// MysqlSession: connect with short timeouts (a dead database must not hang a thread for
// minutes) and utf8mb4 (openids and template data are UTF-8).
#include "store/MysqlSession.h"

#include <cppconn/driver.h>
#include <cppconn/exception.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>
#include <mysql_driver.h>

namespace mega {

void MysqlSession::InitDriver() {
    sql::mysql::get_mysql_driver_instance();
}

MysqlSession::MysqlSession() {
    sql::mysql::get_mysql_driver_instance()->threadInit();
}

MysqlSession::ThreadScope::ThreadScope() {
    sql::mysql::get_mysql_driver_instance()->threadInit();
}

MysqlSession::ThreadScope::~ThreadScope() {
    sql::mysql::get_mysql_driver_instance()->threadEnd();
}

void MysqlSession::Reset() {
    conn_.reset();
}

MysqlSession::~MysqlSession() {
    conn_.reset();
    sql::mysql::get_mysql_driver_instance()->threadEnd();
}

Status MysqlSession::Connect(const Config& c) {
    prefix_ = c.table_prefix;
    sql::ConnectOptionsMap opts;
    opts["hostName"] = sql::SQLString("tcp://" + c.mysql_host + ":" + std::to_string(c.mysql_port));
    if (!c.mysql_socket.empty()) opts["socket"] = sql::SQLString(c.mysql_socket);
    opts["userName"] = sql::SQLString(c.mysql_user);
    opts["password"] = sql::SQLString(c.mysql_password);
    opts["schema"] = sql::SQLString(c.mysql_db);
    opts["OPT_CONNECT_TIMEOUT"] = 5;
    opts["OPT_READ_TIMEOUT"] = 30;
    opts["OPT_WRITE_TIMEOUT"] = 30;
    opts["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    try {
        conn_.reset(sql::mysql::get_mysql_driver_instance()->connect(opts));
    } catch (const sql::SQLException& e) {
        conn_.reset();
        return Status::Unavailable("MySQL at " + c.mysql_host + ":" + std::to_string(c.mysql_port) +
                                   " (database " + c.mysql_db + "): " + e.what());
    }
    return Status::Ok();
}

std::string MysqlSession::Expand(const std::string& statement) const {
    std::string text = statement;
    for (size_t p = 0; (p = text.find("{prefix}", p)) != std::string::npos; p += prefix_.size())
        text.replace(p, 8, prefix_);
    return text;
}

Status MysqlSession::Execute(const std::string& statement) {
    if (!conn_) return Status::Unavailable("MySQL: not connected");
    try {
        std::unique_ptr<sql::Statement> st(conn_->createStatement());
        st->execute(Expand(statement));
    } catch (const sql::SQLException& e) {
        std::string message = std::string("MySQL: ") + e.what();
        if (IsDataRefusal(e.getErrorCode()))
            return Status::Invalid(message + " (error " + std::to_string(e.getErrorCode()) + ")");
        return Status::Unavailable(message);
    }
    return Status::Ok();
}

bool MysqlSession::IsDataRefusal(int mysql_errno) {
    switch (mysql_errno) {
        case 1048:  // ER_BAD_NULL_ERROR: column cannot be null
        case 1062:  // ER_DUP_ENTRY
        case 1264:  // ER_WARN_DATA_OUT_OF_RANGE
        case 1265:  // WARN_DATA_TRUNCATED
        case 1292:  // ER_TRUNCATED_WRONG_VALUE
        case 1300:  // ER_INVALID_CHARACTER_STRING
        case 1366:  // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: incorrect string value (encoding)
        case 1367:  // ER_ILLEGAL_VALUE_FOR_TYPE
        case 1406:  // ER_DATA_TOO_LONG
        case 1411:  // ER_WRONG_VALUE_FOR_TYPE
        case 1451:  // ER_ROW_IS_REFERENCED_2 (foreign key)
        case 1452:  // ER_NO_REFERENCED_ROW_2 (foreign key)
        case 1644:  // ER_SIGNAL_EXCEPTION: a trigger refused the row
        case 1690:  // ER_DATA_OUT_OF_RANGE
        case 3819:  // ER_CHECK_CONSTRAINT_VIOLATED (MySQL 8)
        case 4025:  // ER_CONSTRAINT_FAILED (MariaDB CHECK)
            return true;
        default:
            return false;
    }
}

Status MysqlSession::QueryInt(const std::string& statement, long long fallback, long long* out) {
    if (!conn_) return Status::Unavailable("MySQL: not connected");
    try {
        std::unique_ptr<sql::Statement> st(conn_->createStatement());
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery(Expand(statement)));
        *out = rs->next() && !rs->isNull(1) ? rs->getInt64(1) : fallback;
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

std::string MysqlSession::Escape(const std::string& s) const {
    auto* c = dynamic_cast<sql::mysql::MySQL_Connection*>(conn_.get());
    return c ? std::string(c->escapeString(s)) : s;
}

}  // namespace mega
