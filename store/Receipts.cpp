// Receipts with prepared statements (values bound, never pasted). A receipt moves a row only
// from `sent`: the first receipt wins, every later one (WeChat repeats each up to 3 times)
// is a repeat.
#include "store/Receipts.h"

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <memory>

namespace mega {
namespace {

std::string LogTable(const Config& c) {
    return "`" + c.table_prefix + "mega_message_log`";
}

Status Failed(const sql::SQLException& e) {
    return Status::Unavailable(std::string("MySQL: ") + e.what());
}

}  // namespace

const char* ReceiptStatusName(ReceiptStatus s) {
    switch (s) {
        case ReceiptStatus::kDelivered:
            return "delivered";
        case ReceiptStatus::kBlocked:
            return "blocked";
        default:
            return "undelivered";
    }
}

bool ReceiptStatusOf(std::string_view wechat_status, ReceiptStatus* out) {
    if (wechat_status == "success")
        *out = ReceiptStatus::kDelivered;
    else if (wechat_status == "failed:user block")
        *out = ReceiptStatus::kBlocked;
    else if (wechat_status.substr(0, 6) == "failed")
        *out = ReceiptStatus::kUndelivered;
    else
        return false;
    return true;
}

Status ApplyReceipt(MysqlSession& db, const Config& config, uint64_t msgid, ReceiptStatus status,
                    int64_t now_ms, ReceiptResult* result, ReceiptMessage* message) {
    *message = ReceiptMessage{};
    try {
        std::unique_ptr<sql::PreparedStatement> find(db.connection()->prepareStatement(
            "SELECT id, status, openid, tmpl_key, source, msgkey, callback, created_at FROM " +
            LogTable(config) + " WHERE msgid = ? ORDER BY id DESC LIMIT 1"));
        find->setUInt64(1, msgid);
        std::unique_ptr<sql::ResultSet> rs(find->executeQuery());
        if (!rs->next()) {
            *result = ReceiptResult::kNotYet;
            return Status::Ok();
        }
        message->id = rs->getUInt64(1);
        const std::string now = rs->getString(2);
        message->openid = rs->getString(3);
        message->key = rs->getString(4);
        message->source = rs->getString(5);
        message->msgkey = rs->getString(6);
        message->callback = rs->getString(7);
        message->created_ms = rs->getInt64(8);
        if (now == "delivered" || now == "blocked" || now == "undelivered") {
            *result = ReceiptResult::kRepeat;
            return Status::Ok();
        }
        if (now != "sent") {  // the log has not caught up with the send yet
            *result = ReceiptResult::kNotYet;
            return Status::Ok();
        }
        std::unique_ptr<sql::PreparedStatement> set(db.connection()->prepareStatement(
            "UPDATE " + LogTable(config) +
            " SET status = ?, updated_at = ? WHERE id = ? AND status = 'sent'"));
        set->setString(1, ReceiptStatusName(status));
        set->setInt64(2, now_ms);
        set->setUInt64(3, message->id);
        *result = set->executeUpdate() == 1 ? ReceiptResult::kApplied : ReceiptResult::kRepeat;
        return Status::Ok();
    } catch (const sql::SQLException& e) {
        return Failed(e);
    }
}

Status RecordSubscribeChoice(MysqlSession& db, const std::string& openid,
                             const std::string& template_id, const std::string& choice,
                             const std::string& scene, int64_t now_ms) {
    if (choice != "accept" && choice != "reject") return Status::Invalid("unknown choice");
    try {
        std::unique_ptr<sql::PreparedStatement> st(db.connection()->prepareStatement(
            "INSERT INTO `" + db.prefix() +
            "mega_subscribe_choice`"
            " (openid, template_id, choice, scene, updated_at) VALUES (?,?,?,?,?)"
            " ON DUPLICATE KEY UPDATE choice = VALUES(choice), scene = VALUES(scene),"
            " updated_at = VALUES(updated_at)"));
        st->setString(1, openid);
        st->setString(2, template_id);
        st->setString(3, choice);
        st->setString(4, scene);
        st->setInt64(5, now_ms);
        st->executeUpdate();
        return Status::Ok();
    } catch (const sql::SQLException& e) {
        if (MysqlSession::IsDataRefusal(e.getErrorCode()))
            return Status::Invalid(std::string("MySQL refused the choice: ") + e.what());
        return Failed(e);
    }
}

Status LoadSubscribeRejections(MysqlSession& db,
                               std::vector<std::pair<std::string, std::string>>* out) {
    try {
        std::unique_ptr<sql::PreparedStatement> st(
            db.connection()->prepareStatement("SELECT openid, template_id FROM `" + db.prefix() +
                                              "mega_subscribe_choice` WHERE choice = 'reject'"));
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
        while (rs->next()) out->emplace_back(rs->getString(1), rs->getString(2));
        return Status::Ok();
    } catch (const sql::SQLException& e) {
        return Failed(e);
    }
}

}  // namespace mega
