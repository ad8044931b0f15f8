// OutboxTable: the outbox table in the business database ([outbox] dsn), which apps write
// inside their own transactions: its CREATE TABLE (`mega NAME migrate --outbox`) and the
// relay's statements. Blocking: used by migrate and on the libuv thread pool (one call at
// a time), never on the event loop. The SQL lives here, not in config/schema/: the table is
// not in mega's database and has no place in mega's numbered migrations.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"

namespace mega {

class MysqlSession;

struct OutboxRow {
    uint64_t id = 0;
    std::string msg;  // the JSON text the app wrote
};

class OutboxTable {
  public:
    explicit OutboxTable(const Config& config);  // [outbox] dsn, username, password, table
    ~OutboxTable();

    // CREATE TABLE IF NOT EXISTS, with the index the relay's read uses.
    Status Create();
    // The first `limit` unpublished rows in id order, from the lowest id (see
    // outbox/OutboxRelay.h for why every read starts there).
    Status ReadUnpublished(int limit, std::vector<OutboxRow>* rows);
    Status MarkPublished(const std::vector<uint64_t>& ids);
    // A row that can never be sent: published_at set (it leaves the scan), error kept.
    Status MarkFailed(uint64_t id, const std::string& error);
    // Deletes up to `limit` rows published more than `keep_s` seconds ago.
    Status DeleteOlderThan(int keep_s, int limit, uint64_t* deleted);
    // "table T in database D at HOST": for messages (no credentials).
    std::string Describe() const;
    // The config to connect with: [outbox]'s dsn and credentials in the [pdo] fields.
    static Config DatabaseConfig(const Config& config);

  private:
    Status WithSession(const std::function<Status(MysqlSession&)>& query);

    Config db_;
    std::string table_;  // quoted: `name`
    std::mutex mu_;
    std::unique_ptr<MysqlSession> idle_;  // a kept connection, guarded by mu_
};

}  // namespace mega
