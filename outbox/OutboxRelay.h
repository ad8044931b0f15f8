// OutboxRelay ([outbox] dsn): publishes the rows apps write into the outbox table of their
// own database, inside their own transactions, as pushes into mega's queue. A row is queued
// with msgkey `outbox:<id>` (or the msgkey it names), then marked published once the queue
// holds it durably; a crash between the two repeats the row, and the msgkey answers
// `duplicate`, so nothing goes out twice - if the repeat comes within [retry] dedup_window
// (default a day) of the first attempt: mega down longer than that with rows queued but not
// yet marked would send those rows again. (The window between queue and mark is one fsync
// and one UPDATE; the records reach the queue files before the mark, so a kill -9 keeps
// them even without fsync = always.)
//
// Which rows: every read takes the first [outbox] batch rows with published_at IS NULL in id
// order, starting from the lowest id every time (the index (published_at, id) makes this a
// short range scan, since published rows leave it). There is no "last id read" cursor: under
// concurrent transactions auto-increment ids are taken at INSERT time but become visible at
// COMMIT, so a row with a lower id may appear after higher ones were relayed (a long
// transaction). A cursor would skip it; starting from the lowest unpublished id finds it on
// the next read, however late its transaction commits. Rolled-back rows are never visible
// and leave a gap nobody waits for.
//
// A row mega cannot send (not JSON, an unknown member or template, a bad openid) is marked
// published with its error and never blocks the rows behind it. A full queue pauses the
// relay (logged, with the reason) until the queue takes messages again; a database error
// is logged and the read retried every poll_ms. Published rows are deleted after keep_s.
// Database work runs on the libuv thread pool, one statement sequence at a time.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/Status.h"
#include "config/Config.h"
#include "queue/QueueBackend.h"
#include "server/Server.h"
#include "store/OutboxTable.h"

namespace mega {

class OutboxRelay : public MessageFeed {
  public:
    OutboxRelay(uv_loop_t* loop, Server* server, const Config& config);
    ~OutboxRelay() override;
    // Starts polling; the business database need not answer yet (retried every poll).
    Status Start() override;
    void Shutdown() override;

  private:
    struct Batch;  // one read's rows and what became of each
    static void OnTimer(uv_timer_t* h);
    void Read();
    void Relay(const std::shared_ptr<Batch>& batch);
    void QueueRows(Batch& batch);
    Status Enqueue(const OutboxRow& row, AppendTicket* ticket, bool* queued);
    void WhenBatchDurable(const std::shared_ptr<Batch>& batch);
    void Mark(const std::shared_ptr<Batch>& batch);
    void Finish(const Batch& batch);
    void ReportQueue(const Status& refusal, uint64_t row_id);
    void ReportDatabase(const Status& s, const char* doing, std::string* last);

    uv_loop_t* loop_;
    Server* server_;
    const Config& config_;
    std::shared_ptr<OutboxTable> table_;  // shared with the pool thread's work
    uv_timer_t timer_;
    bool timer_open_ = false, busy_ = false, stopping_ = false;
    std::string queue_refusal_;  // why the relay is paused ("" when it is not)
    // The database error last logged for each kind of statement ("" when it went through).
    std::string read_error_, mark_error_, clean_error_;
    int64_t last_clean_up_ms_ = 0;
};

}  // namespace mega
