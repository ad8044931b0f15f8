// Message log queries with prepared statements (values are bound, never pasted into SQL;
// only numbers the server computes, such as times, are).
// "Today" is the server's local calendar day.
#include "store/MessageQueries.h"

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>

#include <ctime>
#include <functional>
#include <iterator>
#include <memory>

#include "store/MysqlSession.h"

namespace mega {
namespace {

constexpr const char* kColumns =
    "id,openid,tmpl_key,source,priority,status,attempts,msgid,errcode,errmsg,created_at,"
    "updated_at,sent_at,account,kind,remote_msgid";

void ReadRow(sql::ResultSet& rs, MessageRow* r) {
    r->id = rs.getUInt64(1);
    r->openid = rs.getString(2);
    r->key = rs.getString(3);
    r->source = rs.getString(4);
    r->priority = rs.getInt(5);
    r->status = rs.getString(6);
    r->attempts = rs.getInt(7);
    r->msgid = rs.getUInt64(8);
    r->errcode = rs.getInt(9);
    r->errmsg = rs.getString(10);
    r->created_ms = rs.getInt64(11);
    r->updated_ms = rs.getInt64(12);
    r->sent_ms = rs.getInt64(13);
    r->account = rs.getString(14);
    r->kind = rs.getString(15);
    r->remote_msgid = rs.getString(16);
}

std::string Table(const Config& c) {
    return "`" + c.table_prefix + "mega_message_log`";
}

int64_t LocalMidnightMs(int64_t now_ms) {
    time_t t = time_t(now_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return int64_t(mktime(&tm)) * 1000;
}

}  // namespace

Status ListMessages(const Config& config, const MessageFilter& f, uint64_t* total,
                    std::vector<MessageRow>* rows) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    std::string where = " WHERE 1=1";
    std::vector<std::string> strings;
    if (!f.status.empty()) where += " AND status = ?", strings.push_back(f.status);
    if (!f.openid.empty()) where += " AND openid = ?", strings.push_back(f.openid);
    if (!f.key.empty()) where += " AND tmpl_key = ?", strings.push_back(f.key);
    if (!f.source.empty()) where += " AND source = ?", strings.push_back(f.source);
    if (!f.account.empty()) where += " AND account = ?", strings.push_back(f.account);
    if (!f.kind.empty()) where += " AND kind = ?", strings.push_back(f.kind);
    if (f.from_ms) where += " AND created_at >= " + std::to_string(f.from_ms);
    if (f.to_ms) where += " AND created_at < " + std::to_string(f.to_ms);
    try {
        auto bind = [&](sql::PreparedStatement& st) {
            for (size_t i = 0; i < strings.size(); i++) st.setString(unsigned(i + 1), strings[i]);
        };
        std::unique_ptr<sql::PreparedStatement> count(
            db.connection()->prepareStatement("SELECT COUNT(*) FROM " + Table(config) + where));
        bind(*count);
        std::unique_ptr<sql::ResultSet> rc(count->executeQuery());
        *total = rc->next() ? rc->getUInt64(1) : 0;
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            std::string("SELECT ") + kColumns + " FROM " + Table(config) + where +
            " ORDER BY created_at DESC, id DESC LIMIT " + std::to_string(f.limit) + " OFFSET " +
            std::to_string(f.offset)));
        bind(*st);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        while (rs->next()) {
            rows->emplace_back();
            ReadRow(*rs, &rows->back());
        }
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

namespace {

// One row with its body and attempt log: `where` selects it, `bind` fills its parameter.
Status GetOneMessage(const Config& config, const std::string& where,
                     const std::function<void(sql::PreparedStatement&)>& bind,
                     const std::string& what, MessageRow* row) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            std::string("SELECT ") + kColumns + ",body,attempt_log FROM " + Table(config) +
            " WHERE " + where));
        bind(*st);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        if (!rs->next()) return Status::NotFound("no message " + what);
        ReadRow(*rs, row);
        row->body = rs->isNull(17) ? "" : std::string(rs->getString(17));
        row->has_attempt_log = !rs->isNull(18);
        if (row->has_attempt_log) row->attempt_log = rs->getString(18);
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

}  // namespace

Status GetMessage(const Config& config, uint64_t id, MessageRow* row) {
    return GetOneMessage(
        config, "id = ?", [id](sql::PreparedStatement& st) { st.setUInt64(1, id); },
        std::to_string(id), row);
}

Status FindMessageByMsgkey(const Config& config, const std::string& msgkey, MessageRow* row) {
    return GetOneMessage(
        config, "msgkey = ? ORDER BY id DESC LIMIT 1",
        [&msgkey](sql::PreparedStatement& st) { st.setString(1, msgkey); }, "with msgkey " + msgkey,
        row);
}

Status SummarizeLog(const Config& config, int64_t now_ms, LogSummary* out) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    const std::string t = Table(config);
    try {
        std::unique_ptr<sql::Statement> st(db.connection()->createStatement());
        std::unique_ptr<sql::ResultSet> rs(
            st->executeQuery("SELECT status, COUNT(*) FROM " + t + " GROUP BY status"));
        while (rs->next()) {
            const std::string name = rs->getString(1);
            const uint64_t n = rs->getUInt64(2);
            out->by_status.emplace_back(name, n);
            if (name == "sent") out->overall.sent = n;
            if (name == "failed") out->overall.failed = n;
        }
        auto window = [&](int64_t since, LogSummary::Count* c) {
            std::unique_ptr<sql::ResultSet> r(
                st->executeQuery("SELECT status, COUNT(*) FROM " + t +
                                 " WHERE status IN ('sent','failed') AND "
                                 "updated_at >= " +
                                 std::to_string(since) + " GROUP BY status"));
            while (r->next()) (r->getString(1) == "sent" ? c->sent : c->failed) = r->getUInt64(2);
        };
        window(LocalMidnightMs(now_ms), &out->today);
        window(now_ms - 3600000, &out->last_hour);
        auto grouped = [&](const char* column, std::vector<LogSummary::Count>* list) {
            std::unique_ptr<sql::ResultSet> r(
                st->executeQuery(std::string("SELECT ") + column +
                                 ", SUM(status='sent'), SUM(status='failed') FROM " + t +
                                 " GROUP BY " + column + " ORDER BY COUNT(*) DESC LIMIT 50"));
            while (r->next()) list->push_back({r->getString(1), r->getUInt64(2), r->getUInt64(3)});
        };
        grouped("tmpl_key", &out->by_template);
        grouped("source", &out->by_source);
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

Status ReadHistory(const Config& config, const HistoryWindow& window,
                   std::vector<HistoryPoint>* steps) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    const std::string step = std::to_string(window.step_ms);
    try {
        std::unique_ptr<sql::Statement> st(db.connection()->createStatement());
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
            "SELECT bucket_ms DIV " + step + " * " + step +
            " AS t,SUM(queued),SUM(sent),SUM(failed),SUM(retried),SUM(cancelled),"
            "SUM(wait_sum_ms),SUM(wait_count),MAX(wait_max_ms),SUM(latency_sum_us),"
            "SUM(latency_count),MAX(latency_max_us) FROM `" +
            config.table_prefix +
            "mega_message_stats` WHERE bucket_ms >= " + std::to_string(window.from_ms) +
            " AND bucket_ms < " + std::to_string(window.to_ms()) + " GROUP BY t ORDER BY t"));
        while (rs->next()) {
            HistoryPoint p;
            p.t_ms = rs->getInt64(1);
            uint64_t* fields[] = {&p.queued,        &p.sent,          &p.failed,
                                  &p.retried,       &p.cancelled,     &p.wait_sum_ms,
                                  &p.wait_count,    &p.wait_max_ms,   &p.latency_sum_us,
                                  &p.latency_count, &p.latency_max_us};
            for (unsigned i = 0; i < std::size(fields); i++) *fields[i] = rs->getUInt64(i + 2);
            steps->push_back(p);
        }
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

Status MarkRecalled(const Config& config, uint64_t id, const std::string& note, int64_t now_ms) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(
            db.connection()->prepareStatement("UPDATE " + Table(config) +
                                              " SET status = 'recalled', errmsg = ?, updated_at = "
                                              "? WHERE id = ? AND status = 'sent'"));
        st->setString(1, note);
        st->setInt64(2, now_ms);
        st->setUInt64(3, id);
        st->executeUpdate();
    } catch (const sql::SQLException& e) {
        return Status::Unavailable(std::string("MySQL: ") + e.what());
    }
    return Status::Ok();
}

}  // namespace mega
