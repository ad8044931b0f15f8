// TaskStore: prepared statements over one connection per call; a MySQL error comes back as
// Unavailable with its text (the caller decides what a client may see).
#include "store/TaskStore.h"

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <memory>

#include "store/MysqlSession.h"

namespace mega {
namespace {

std::string Table(const Config& c) {
    return "`" + c.table_prefix + "mega_task`";
}

Status MysqlError(const sql::SQLException& e) {
    return Status::Unavailable(std::string("MySQL: ") + e.what());
}

}  // namespace

Status LoadUnfinishedTasks(const Config& config, std::vector<TaskInfo>* out) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            "SELECT id,tmpl_key,data,options,rate,status,total,queued,sent,failed,file_offset,"
            "created_at,updated_at FROM " +
            Table(config) + " WHERE status IN ('loading','running','paused') ORDER BY id"));
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        while (rs->next()) {
            TaskInfo& i = out->emplace_back();
            i.id = rs->getUInt64(1);
            i.key = rs->getString(2);
            i.data = rs->isNull(3) ? "null" : std::string(rs->getString(3));
            i.options = rs->getString(4);
            i.rate = rs->getDouble(5);
            i.status = rs->getString(6);
            i.total = rs->getUInt64(7);
            i.queued = rs->getUInt64(8);
            i.sent = rs->getUInt64(9);
            i.failed = rs->getUInt64(10);
            i.file_offset = rs->getUInt64(11);
            i.created_ms = rs->getInt64(12);
            i.updated_ms = rs->getInt64(13);
        }
    } catch (const sql::SQLException& e) {
        return MysqlError(e);
    }
    return Status::Ok();
}

Status InsertTask(const Config& config, TaskInfo* task) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            "INSERT INTO " + Table(config) +
            " (tmpl_key,data,options,rate,status,total,created_at,updated_at) "
            "VALUES (?,?,?,?,?,?,?,?)"));
        st->setString(1, task->key);
        st->setString(2, task->data);
        st->setString(3, task->options);
        st->setDouble(4, task->rate);
        st->setString(5, task->status);
        st->setUInt64(6, task->total);
        st->setInt64(7, task->created_ms);
        st->setInt64(8, task->updated_ms);
        st->executeUpdate();
    } catch (const sql::SQLException& e) {
        return MysqlError(e);
    }
    long long id = 0;
    s = db.QueryInt("SELECT LAST_INSERT_ID()", 0, &id);
    task->id = uint64_t(id);
    return s;
}

Status SaveTaskProgress(const Config& config, const std::vector<TaskInfo>& tasks) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            "UPDATE " + Table(config) +
            " SET status=?,total=?,queued=?,sent=?,failed=?,file_offset=?,updated_at=? "
            "WHERE id=? AND updated_at <= ?"));
        for (const TaskInfo& i : tasks) {
            st->setString(1, i.status);
            st->setUInt64(2, i.total);
            st->setUInt64(3, i.queued);
            st->setUInt64(4, i.sent);
            st->setUInt64(5, i.failed);
            st->setUInt64(6, i.file_offset);
            st->setInt64(7, i.updated_ms);
            st->setUInt64(8, i.id);
            st->setInt64(9, i.updated_ms);
            st->executeUpdate();
        }
    } catch (const sql::SQLException& e) {
        return MysqlError(e);
    }
    return Status::Ok();
}

}  // namespace mega
