// TaskStore: prepared statements over one connection per call; a MySQL error comes back as
// Unavailable with its text (the caller decides what a client may see).
#include "store/TaskStore.h"

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <memory>

#include "base/Clock.h"
#include "store/MysqlSession.h"

namespace mega {
namespace {

std::string Table(const Config& c) {
    return "`" + c.table_prefix + "mega_task`";
}

Status MysqlError(const sql::SQLException& e) {
    return Status::Unavailable(std::string("MySQL: ") + e.what());
}

// The rows WHERE `where` (built from constants and numbers only), oldest first.
Status ReadTasks(MysqlSession& db, const Config& config, const std::string& where,
                 std::vector<TaskInfo>* out) {
    try {
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            "SELECT id,tmpl_key,data,options,rate,status,total,queued,sent,failed,file_offset,"
            "created_at,updated_at,lease_node,(lease_until IS NULL OR lease_until < NOW(6)) "
            "FROM " +
            Table(config) + " WHERE " + where + " ORDER BY id"));
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
            i.lease_node = rs->getString(14);
            i.lease_lapsed = rs->getInt(15) != 0;
        }
    } catch (const sql::SQLException& e) {
        return MysqlError(e);
    }
    return Status::Ok();
}

}  // namespace

Status LoadUnfinishedTasks(const Config& config, std::vector<TaskInfo>* out) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    return ReadTasks(db, config, "status IN ('loading','running','paused')", out);
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

Status StoreTaskOpenids(const Config& config, uint64_t id, const std::string& text,
                        uint64_t lines) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    try {
        const std::string parts = "`" + config.table_prefix + "mega_task_openids`";
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            "INSERT INTO " + parts +
            " (task_id,part,text) SELECT ?,COALESCE(MAX(part)+1,0),? "
            "FROM " +
            parts + " WHERE task_id=?"));
        st->setUInt64(1, id);
        st->setString(2, text);
        st->setUInt64(3, id);
        st->executeUpdate();
        if (lines == 0) return Status::Ok();
        std::unique_ptr<sql::PreparedStatement> total(db.connection()->prepareStatement(
            "UPDATE " + Table(config) + " SET total=total+? WHERE id=?"));
        total->setUInt64(1, lines);
        total->setUInt64(2, id);
        total->executeUpdate();
    } catch (const sql::SQLException& e) {
        return MysqlError(e);
    }
    return Status::Ok();
}

Status LoadTaskOpenids(const Config& config, uint64_t id, std::string* text) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(
            db.connection()->prepareStatement("SELECT text FROM `" + config.table_prefix +
                                              "mega_task_openids` WHERE task_id=? ORDER BY part"));
        st->setUInt64(1, id);
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        text->clear();
        while (rs->next()) text->append(rs->getString(1));
    } catch (const sql::SQLException& e) {
        return MysqlError(e);
    }
    return Status::Ok();
}

Status SetTaskStatus(const Config& config, uint64_t id, const std::string& from,
                     const std::string& to, bool* changed) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    try {
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            "UPDATE " + Table(config) + " SET status=?,updated_at=? WHERE id=? AND status=?"));
        st->setString(1, to);
        st->setInt64(2, NowMs());
        st->setUInt64(3, id);
        st->setString(4, from);
        *changed = st->executeUpdate() > 0;
    } catch (const sql::SQLException& e) {
        return MysqlError(e);
    }
    return Status::Ok();
}

namespace {

// The lease holder's progress (and, renewing, its status: running or done), only while the
// lease is still `node`'s by the database's clock.
void RenewOrRelease(MysqlSession& db, const Config& config, const TaskLeaseBeat& beat,
                    TaskLeaseResult* out) {
    std::unique_ptr<sql::PreparedStatement> renew(db.connection()->prepareStatement(
        "UPDATE " + Table(config) +
        " SET queued=?,file_offset=?,status=?,updated_at=?,sent=GREATEST(sent,?),"
        "failed=GREATEST(failed,?),lease_until=DATE_ADD(NOW(6), INTERVAL ? MICROSECOND) "
        "WHERE id=? AND lease_node=? AND lease_until >= NOW(6) AND status='running'"));
    for (const TaskInfo& i : beat.held) {
        renew->setUInt64(1, i.queued);
        renew->setUInt64(2, i.file_offset);
        renew->setString(3, i.status);
        renew->setInt64(4, i.updated_ms);
        renew->setUInt64(5, i.sent);
        renew->setUInt64(6, i.failed);
        renew->setInt64(7, int64_t(beat.lease_ms) * 1000);
        renew->setUInt64(8, i.id);
        renew->setString(9, beat.node);
        if (renew->executeUpdate() > 0) out->kept.push_back(i.id);
    }
    // Not renewed but still leased here: its status changed (paused or cancelled on another
    // node). Its progress is saved; the lease stays until the holder gives it up with the
    // lines it fed meanwhile (next heartbeat) or it lapses.
    std::unique_ptr<sql::PreparedStatement> stopped(db.connection()->prepareStatement(
        "UPDATE " + Table(config) +
        " SET queued=?,file_offset=?,updated_at=? "
        "WHERE id=? AND lease_node=? AND lease_until >= NOW(6) AND status<>'running'"));
    for (const TaskInfo& i : beat.held) {
        if (std::find(out->kept.begin(), out->kept.end(), i.id) != out->kept.end()) continue;
        stopped->setUInt64(1, i.queued);
        stopped->setUInt64(2, i.file_offset);
        stopped->setInt64(3, i.updated_ms);
        stopped->setUInt64(4, i.id);
        stopped->setString(5, beat.node);
        stopped->executeUpdate();
    }
    std::unique_ptr<sql::PreparedStatement> release(db.connection()->prepareStatement(
        "UPDATE " + Table(config) +
        " SET queued=?,file_offset=?,updated_at=?,lease_node='',lease_until=NULL "
        "WHERE id=? AND lease_node=? AND lease_until >= NOW(6)"));
    for (const TaskInfo& i : beat.released) {
        release->setUInt64(1, i.queued);
        release->setUInt64(2, i.file_offset);
        release->setInt64(3, i.updated_ms);
        release->setUInt64(4, i.id);
        release->setString(5, beat.node);
        release->executeUpdate();
    }
}

// Counts only ever grow: each node writes what the shared tally says, in any order.
void RaiseCounts(MysqlSession& db, const Config& config, const std::vector<TaskInfo>& counted) {
    std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
        "UPDATE " + Table(config) +
        " SET sent=GREATEST(sent,?),failed=GREATEST(failed,?) WHERE id=?"));
    for (const TaskInfo& i : counted) {
        st->setUInt64(1, i.sent);
        st->setUInt64(2, i.failed);
        st->setUInt64(3, i.id);
        st->executeUpdate();
    }
}

// Takes the lease of each running task in `rows` that has none, a lapsed one or `node`'s own
// (a previous run of this node); true for each taken.
std::vector<uint64_t> TakeLapsed(MysqlSession& db, const Config& config, const TaskLeaseBeat& beat,
                                 const std::vector<TaskInfo>& rows,
                                 const std::vector<uint64_t>& kept) {
    std::unique_ptr<sql::PreparedStatement> take(db.connection()->prepareStatement(
        "UPDATE " + Table(config) +
        " SET lease_node=?,lease_until=DATE_ADD(NOW(6), INTERVAL ? MICROSECOND) "
        "WHERE id=? AND status='running' AND (lease_node=? OR lease_node='' OR "
        "lease_until IS NULL OR lease_until < NOW(6))"));
    std::vector<uint64_t> taken;
    for (const TaskInfo& i : rows) {
        if (i.status != "running" || std::find(kept.begin(), kept.end(), i.id) != kept.end())
            continue;
        if (!i.lease_lapsed && i.lease_node != beat.node && !i.lease_node.empty()) continue;
        take->setString(1, beat.node);
        take->setInt64(2, int64_t(beat.lease_ms) * 1000);
        take->setUInt64(3, i.id);
        take->setString(4, beat.node);
        if (take->executeUpdate() > 0) taken.push_back(i.id);
    }
    return taken;
}

std::string RowsWanted(const std::vector<uint64_t>& also) {
    std::string where = "status IN ('loading','running','paused')";
    if (also.empty()) return where;
    where += " OR id IN (";
    for (size_t n = 0; n < also.size(); n++) where += (n ? "," : "") + std::to_string(also[n]);
    return where + ")";
}

}  // namespace

Status BeatTaskLeases(const Config& config, const TaskLeaseBeat& beat, TaskLeaseResult* out) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    std::vector<TaskInfo> before;
    std::vector<uint64_t> taken;
    try {
        RenewOrRelease(db, config, beat, out);
        RaiseCounts(db, config, beat.counted);
        s = ReadTasks(db, config, RowsWanted(beat.also), &before);
        if (!s.ok()) return s;
        if (beat.take) taken = TakeLapsed(db, config, beat, before, out->kept);
    } catch (const sql::SQLException& e) {
        return MysqlError(e);
    }
    if (taken.empty()) {
        out->rows = std::move(before);
        return Status::Ok();
    }
    s = ReadTasks(db, config, RowsWanted(beat.also), &out->rows);
    for (const TaskInfo& i : out->rows)
        if (std::find(taken.begin(), taken.end(), i.id) != taken.end()) out->taken.push_back(i);
    return s;
}

}  // namespace mega
