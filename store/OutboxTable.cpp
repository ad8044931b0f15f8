// OutboxTable: plain statements on one kept connection (a new one after an error that is
// not the data's fault). Error texts stored in a row are cut to printable ASCII.
#include "store/OutboxTable.h"

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>

#include "store/MysqlSession.h"

namespace mega {
namespace {

// `published_at` NULL: waiting for the relay. A bad row gets published_at and its error.
// The index serves the relay's read (published_at IS NULL ORDER BY id) and the clean-up.
constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS {table} (\n"
    "  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,\n"
    "  `msg` JSON NOT NULL,\n"
    "  `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
    "  `published_at` DATETIME(6) NULL DEFAULT NULL,\n"
    "  `error` VARCHAR(1024) NULL DEFAULT NULL,\n"
    "  PRIMARY KEY (`id`),\n"
    "  KEY `unpublished` (`published_at`, `id`)\n"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

constexpr size_t kMaxError = 1000;

std::string WithTable(std::string statement, const std::string& table) {
    for (size_t p = 0; (p = statement.find("{table}", p)) != std::string::npos; p += table.size())
        statement.replace(p, 7, table);
    return statement;
}

std::string PrintableAscii(const std::string& text) {
    std::string out = text.substr(0, kMaxError);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < ' ' || static_cast<unsigned char>(c) > '~') c = '?';
    return out;
}

Status Failed(const sql::SQLException& e) {
    std::string message = std::string("MySQL: ") + e.what();
    if (MysqlSession::IsDataRefusal(e.getErrorCode())) return Status::Invalid(message);
    return Status::Unavailable(message);
}

}  // namespace

OutboxTable::OutboxTable(const Config& config)
    : db_(DatabaseConfig(config)), table_("`" + config.outbox_table + "`") {}

OutboxTable::~OutboxTable() = default;

Config OutboxTable::DatabaseConfig(const Config& config) {
    Config db = config;
    db.mysql_host = "127.0.0.1";
    db.mysql_port = 3306;
    db.mysql_db.clear();
    db.mysql_socket.clear();
    db.table_prefix.clear();
    (void)Config::ParseDsn(config.outbox_dsn, &db);  // checked when the config was read
    if (!config.outbox_user.empty()) {
        db.mysql_user = config.outbox_user;
        db.mysql_password = config.outbox_password;
    }
    return db;
}

std::string OutboxTable::Describe() const {
    return "table " + table_ + " in database " + db_.mysql_db + " at " +
           (db_.mysql_socket.empty() ? db_.mysql_host + ":" + std::to_string(db_.mysql_port)
                                     : db_.mysql_socket);
}

Status OutboxTable::WithSession(const std::function<Status(MysqlSession&)>& query) {
    std::lock_guard<std::mutex> lock(mu_);
    MysqlSession::ThreadScope thread;
    if (idle_) {
        Status s = query(*idle_);
        if (s.code() != Status::Code::kUnavailable) return s;
        idle_.reset();  // closed by the server or broken: one try on a new connection
    }
    auto fresh = std::make_unique<MysqlSession>();
    Status s = fresh->Connect(db_);
    if (!s.ok()) return s;
    s = query(*fresh);
    if (s.code() != Status::Code::kUnavailable) idle_ = std::move(fresh);
    return s;
}

Status OutboxTable::Create() {
    return WithSession(
        [&](MysqlSession& db) { return db.Execute(WithTable(kCreateTable, table_)); });
}

Status OutboxTable::ReadUnpublished(int limit, std::vector<OutboxRow>* rows) {
    rows->clear();
    const std::string query = WithTable(
        "SELECT `id`, `msg` FROM {table} WHERE `published_at` IS NULL ORDER BY `id` LIMIT " +
            std::to_string(limit),
        table_);
    return WithSession([&](MysqlSession& db) {
        rows->clear();
        try {
            std::unique_ptr<sql::Statement> st(db.connection()->createStatement());
            std::unique_ptr<sql::ResultSet> rs(st->executeQuery(query));
            while (rs->next()) rows->push_back({rs->getUInt64(1), std::string(rs->getString(2))});
        } catch (const sql::SQLException& e) {
            return Failed(e);
        }
        return Status::Ok();
    });
}

Status OutboxTable::MarkPublished(const std::vector<uint64_t>& ids) {
    if (ids.empty()) return Status::Ok();
    std::string list;
    for (uint64_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
    const std::string statement = WithTable(
        "UPDATE {table} SET `published_at` = NOW(6) WHERE `published_at` IS NULL AND `id` IN (" +
            list + ")",
        table_);
    return WithSession([&](MysqlSession& db) { return db.Execute(statement); });
}

Status OutboxTable::MarkFailed(uint64_t id, const std::string& error) {
    const std::string statement =
        WithTable("UPDATE {table} SET `published_at` = NOW(6), `error` = ? WHERE `id` = ?", table_);
    return WithSession([&](MysqlSession& db) {
        try {
            std::unique_ptr<sql::PreparedStatement> st(
                db.connection()->prepareStatement(statement));
            st->setString(1, PrintableAscii(error));
            st->setUInt64(2, id);
            st->executeUpdate();
        } catch (const sql::SQLException& e) {
            return Failed(e);
        }
        return Status::Ok();
    });
}

// Two steps, so that the clean-up never takes a lock an app's INSERT could wait for: the
// ids by a consistent (lock-free) read, then a DELETE by primary key of those published,
// committed rows. One DELETE with a range condition would take next-key locks across the
// index, and wait for (and hold up) open transactions of the app.
Status OutboxTable::DeleteOlderThan(int keep_s, int limit, uint64_t* deleted) {
    *deleted = 0;
    const std::string select =
        WithTable("SELECT `id` FROM {table} WHERE `published_at` < NOW(6) - INTERVAL " +
                      std::to_string(keep_s) + " SECOND ORDER BY `published_at` LIMIT " +
                      std::to_string(limit),
                  table_);
    return WithSession([&](MysqlSession& db) {
        try {
            std::unique_ptr<sql::Statement> st(db.connection()->createStatement());
            std::string ids;
            std::unique_ptr<sql::ResultSet> rs(st->executeQuery(select));
            while (rs->next()) ids += (ids.empty() ? "" : ",") + std::to_string(rs->getUInt64(1));
            if (ids.empty()) return Status::Ok();
            *deleted = uint64_t(st->executeUpdate(
                WithTable("DELETE FROM {table} WHERE `id` IN (" + ids + ")", table_)));
        } catch (const sql::SQLException& e) {
            return Failed(e);
        }
        return Status::Ok();
    });
}

}  // namespace mega
