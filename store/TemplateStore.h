// Reads templates from MySQL (`{prefix}mega_wechat_template`) with Connector/C++.
// Every call is blocking; callers keep it off the event-loop thread (start-up, or the libuv
// thread pool for `tset`). It keeps one connection open between calls (a pool of one: the
// reloads are serialized by TemplateReloads), so a stream of reloads costs one connection,
// not one each; a kept connection that fails (database restarted) is replaced once.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"

namespace mega {

class MysqlSession;

class TemplateStore {
  public:
    struct Row {
        std::string key, text;
        std::string account = "default", kind = "template";  // schema 008
    };

    explicit TemplateStore(const Config& config);
    ~TemplateStore();
    TemplateStore(const TemplateStore&) = delete;
    TemplateStore& operator=(const TemplateStore&) = delete;

    // Up to `limit` templates, by key. Unavailable when MySQL cannot be reached; the
    // message names the database (for the log, not for clients).
    Status LoadAll(int limit, std::vector<Row>* rows);
    // One template; NotFound when the key is not in the table.
    Status LoadOne(const std::string& key, Row* row);

  private:
    using Query = std::function<Status(MysqlSession&)>;
    // Runs `query` on the kept connection, or on a new one when there is none or the kept
    // one failed; keeps the connection unless MySQL could not be reached through it.
    Status WithSession(const Query& query);
    std::unique_ptr<MysqlSession> TakeIdle();
    void KeepIdle(std::unique_ptr<MysqlSession> session);

    const Config& config_;
    std::mutex mu_;
    std::unique_ptr<MysqlSession> idle_;  // guarded by mu_
};

}  // namespace mega
