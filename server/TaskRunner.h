// Batch send tasks (campaigns): a template, its data and a list of openids that the server
// feeds into the queue at the task's rate. The list lives in a file under
// `queue_file_path/tasks/ID.openids`; progress (total, queued, sent, failed, the file
// offset fed so far, status) lives in `{prefix}mega_task`, saved every second, so a restart
// resumes running tasks where they were. Each fed message carries `msgkey=task-ID-N`, so
// the few lines fed again after a crash are not sent twice. Loop thread; file and MySQL
// work goes to the libuv thread pool.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"
#include "store/TaskStore.h"

namespace mega {

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
    void OnFinal(uint64_t task_id, bool sent);
    std::vector<TaskInfo> List() const;

  private:
    struct Running {
        TaskInfo info;
        std::deque<std::pair<std::string, uint64_t>> ahead;  // openid, file offset after it
        uint64_t read_offset = 0;
        bool reading = false, file_done = false, dirty = false, appending = false;
        double tokens = 0;
        uint64_t outstanding = 0;  // fed by this process and not settled yet
    };
    static void OnTick(uv_timer_t* t);
    void Tick();
    void Feed(Running& t, int64_t now_ms);
    void ReadAhead(uint64_t id);
    void Save(bool all = false);
    std::string FilePath(uint64_t id) const;

    uv_loop_t* loop_;
    Server* server_;
    uv_timer_t timer_;
    std::map<uint64_t, std::unique_ptr<Running>> tasks_;
    int64_t last_tick_ms_ = 0, last_save_ms_ = 0;
    bool saving_ = false, closed_ = false;
};

}  // namespace mega
