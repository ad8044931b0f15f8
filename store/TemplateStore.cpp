// Connector/C++ 1.1 (the legacy JDBC-like API Debian ships). Connection errors become
// Status::Unavailable with MySQL's own message; the password never appears in one.
#include "store/TemplateStore.h"

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include "store/MysqlSession.h"

namespace mega {
namespace {
std::string Table(const Config& c) {
    return "`" + c.table_prefix + "mega_wechat_template`";
}
}  // namespace

TemplateStore::TemplateStore(const Config& config) : config_(config) {}

TemplateStore::~TemplateStore() = default;

std::unique_ptr<MysqlSession> TemplateStore::TakeIdle() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(idle_);
}

void TemplateStore::KeepIdle(std::unique_ptr<MysqlSession> session) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_) idle_ = std::move(session);
}

Status TemplateStore::WithSession(const Query& query) {
    MysqlSession::ThreadScope thread;  // the kept connection may come from another thread
    if (auto kept = TakeIdle()) {
        Status s = query(*kept);
        if (s.code() != Status::Code::kUnavailable) {
            KeepIdle(std::move(kept));
            return s;
        }
        // Closed by the server (restart, wait_timeout) or broken: one try on a new one.
    }
    auto fresh = std::make_unique<MysqlSession>();
    Status s = fresh->Connect(config_);
    if (!s.ok()) return s;
    s = query(*fresh);
    if (s.code() != Status::Code::kUnavailable) KeepIdle(std::move(fresh));
    return s;
}

Status TemplateStore::LoadAll(int limit, std::vector<Row>* rows) {
    return WithSession([&](MysqlSession& db) {
        try {
            std::unique_ptr<sql::PreparedStatement> st(
                db.connection()->prepareStatement("SELECT tmpl_key, template, account, kind FROM " +
                                                  Table(config_) + " ORDER BY tmpl_key LIMIT ?"));
            st->setInt(1, limit);
            std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
            rows->clear();
            while (rs->next())
                rows->push_back(
                    {rs->getString(1), rs->getString(2), rs->getString(3), rs->getString(4)});
        } catch (const sql::SQLException& e) {
            return Status::Unavailable(std::string("MySQL: ") + e.what());
        }
        return Status::Ok();
    });
}

Status TemplateStore::LoadOne(const std::string& key, Row* row) {
    return WithSession([&](MysqlSession& db) {
        try {
            std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
                "SELECT template, account, kind FROM " + Table(config_) + " WHERE tmpl_key = ?"));
            st->setString(1, key);
            std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
            if (!rs->next()) return Status::NotFound("template key not exists");
            *row = {key, rs->getString(1), rs->getString(2), rs->getString(3)};
        } catch (const sql::SQLException& e) {
            return Status::Unavailable(std::string("MySQL: ") + e.what());
        }
        return Status::Ok();
    });
}

}  // namespace mega
