// Batch send tasks (campaigns): a template, its data and a list of openids that the server
// feeds into the queue at the task's rate. The list lives in a file under
// `queue_file_path/tasks/ID.openids`; progress (total, queued, sent, failed, the file
// offset fed so far, status) lives in `{prefix}mega_task`, saved every second, so a restart
// resumes running tasks where they were. Each fed message carries `msgkey=task-ID-N`, so
// the few lines fed again after a crash are not sent twice. Loop thread; file and MySQL
// work goes to the libuv thread pool.
//
// Several nodes on one Redis queue and one database ([queue] backend = redis):
// - Lease. Each running task is fed by one node, the holder of its lease (`lease_node`,
//   `lease_until` in mega_task). The lease lives in MySQL beside the progress it guards, not
//   in Redis: one conditional UPDATE takes it only when it lapsed by the database's clock (so
//   the nodes' clocks need not agree), and the holder's heartbeat (every second) renews it in
//   the statement that saves queued and the file offset, so a node that lost its lease can
//   never save over its successor's progress. It lasts max(3 s, [redis] claim_idle_ms), the
//   time after which a dead node's messages are taken over too. A holder feeds only until the
//   lease it last renewed would lapse, timed from before the renewal was sent, so it stops
//   before another node can take the task over. The taker resumes from the saved offset; the
//   lines fed since that save are fed again with the same msgkeys, which the shared window
//   drops. The offset saved covers only lines whose pushes Redis acknowledged. The openids
//   are in MySQL too (mega_task_openids), so the taker rebuilds its local file from them.
// - Counting. A task's message may be settled by any node (a dead node's pending messages are
//   taken over), and a count kept in one node's memory dies with it. So each outcome is tallied
//   in Redis (RedisBackend::CountTaskOutcome): a script records the line's msgkey with HSETNX
//   and increments sent or failed only the first time. It goes out on the queue's command link
//   just before the record's XACK (Server::OnFinal runs before Dispatcher's Done), and Redis
//   runs one link's commands in order: an acknowledged message has been counted, and a node
//   dying between the two leaves the message pending, to be sent again by another node, whose
//   outcome for that line is then not counted a second time. A refused line is tallied as
//   failed the same way. Nodes copy the tally into mega_task with GREATEST (counts never go
//   back, whoever writes last); the holder marks the task done when the whole file is fed and
//   sent + failed == queued (each fed line has exactly one first outcome). What can repeat is
//   a WeChat send: a node killed after WeChat's reply and before its XACK; it is counted once.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"
#include "queue/QueueBackend.h"
#include "store/TaskStore.h"

namespace mega {

class RedisBackend;
class Server;

class TaskRunner {
  public:
    using Done = std::function<void(Status, uint64_t id)>;

    TaskRunner(uv_loop_t* loop, Server* server);
    ~TaskRunner();
    Status Load();   // blocking, at start: the unfinished tasks
    void Close();    // stops feeding (shutdown)
    void SaveAll();  // the final save of every task's progress (shutdown, after the last result)

    // Creates a task in status `loading` (or `running` when `start` and openids are given).
    void Create(TaskInfo info, std::string openids_text, bool start, Done done);
    // Appends newline-separated openids to a loading task.
    void Append(uint64_t id, std::string openids_text, Done done);
    // start (loading → running), pause, resume, cancel. NotFound / Invalid on a bad state.
    Status Control(uint64_t id, const std::string& action);
    // A message of the task ended; `msgkey` is its task-ID-N key.
    void OnFinal(uint64_t task_id, std::string_view msgkey, bool sent);
    std::vector<TaskInfo> List() const;

  private:
    struct Running {
        TaskInfo info;
        std::deque<std::pair<std::string, uint64_t>> ahead;  // openid, file offset after it
        uint64_t read_offset = 0;
        bool reading = false, file_done = false, dirty = false, appending = false;
        double tokens = 0;
        uint64_t outstanding = 0;  // fed by this process and not settled yet
        // [queue] backend = redis only.
        struct Fed {
            AppendTicket ticket;
            bool pushed = false;  // false: a duplicate or refused line, nothing to wait for
            uint64_t queued = 0, end_offset = 0;
        };
        bool held = false;              // this node holds the lease and feeds the task
        bool release = false;           // stopped here (pause, cancel): give the lease up
        int64_t lease_deadline_ms = 0;  // SteadyMs: feeds until then; each renewal moves it on
        uint64_t generation = 0;        // a read-ahead begun before a take-over is dropped
        std::deque<Fed> unconfirmed;    // fed, their push not acknowledged by Redis yet
        uint64_t saved_queued = 0, saved_offset = 0;  // progress with every push acknowledged
    };
    static void OnTick(uv_timer_t* t);
    void Tick();
    void Feed(Running& t, int64_t now_ms);
    void ReadAhead(uint64_t id);
    void Save(bool all = false);
    std::string FilePath(uint64_t id) const;
    // [queue] backend = redis: the heartbeat of the leases, and what it brings back.
    void TickShared(Running& t, int64_t now_ms);
    void ConfirmFed(Running& t);
    void Beat(bool stopping = false);
    // `sent_at`: SteadyMs() before the heartbeat's statements ran, where renewed leases start.
    void ApplyBeat(const TaskLeaseBeat& beat, const TaskLeaseResult& result, int64_t sent_at);
    void TakeOver(Running& t, const TaskInfo& row, int64_t sent_at);
    void StopFeeding(Running& t);
    void CreateShared(std::shared_ptr<TaskInfo> task, std::string text, Done done);
    void Created(const TaskInfo& task, const Status& status, const Done& done);

    uv_loop_t* loop_;
    Server* server_;
    uv_timer_t timer_;
    std::map<uint64_t, std::unique_ptr<Running>> tasks_;
    int64_t last_tick_ms_ = 0, last_save_ms_ = 0;
    bool saving_ = false, closed_ = false;
    RedisBackend* redis_ = nullptr;  // [queue] backend = redis: leases and a shared tally
    std::string node_;
    int lease_ms_ = 0;
    bool beating_ = false;
};

}  // namespace mega
