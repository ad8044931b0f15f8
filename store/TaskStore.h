// TaskStore: the rows of {prefix}mega_task, the batch tasks (campaigns) and their progress.
// Blocking MySQL calls: run them off the loop (base/OffLoop.h). The task runner
// (server/TaskRunner) keeps the live state and saves it here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"

namespace mega {

struct TaskInfo {
    uint64_t id = 0;
    std::string key, data, options, status;
    double rate = 0;  // messages per second fed; 0 = as fast as the queue takes them
    uint64_t total = 0, queued = 0, sent = 0, failed = 0, file_offset = 0;
    int64_t created_ms = 0, updated_ms = 0;
    // [queue] backend = redis: the node feeding it, and whether its lease ran out by the
    // database's clock (or it never had one).
    std::string lease_node;
    bool lease_lapsed = true;
};

// The tasks loading, running or paused, oldest first.
Status LoadUnfinishedTasks(const Config& config, std::vector<TaskInfo>* out);
// Inserts `task` and sets its id.
Status InsertTask(const Config& config, TaskInfo* task);
// Writes each task's status and counters, unless the row is newer (updated_at).
Status SaveTaskProgress(const Config& config, const std::vector<TaskInfo>& tasks);

// --- Several nodes on one database ([queue] backend = redis): leases and shared openids.

// Keeps `text` (whole lines) as the task's next part of openids, and adds `lines` to its
// total (an append; 0 at create, where the row already has it).
Status StoreTaskOpenids(const Config& config, uint64_t id, const std::string& text, uint64_t lines);
// The task's openids, every part in order: the bytes of its openid file.
Status LoadTaskOpenids(const Config& config, uint64_t id, std::string* text);
// Sets the status of a task to `to` where it is still `from` (an operator's action, on any
// node); *changed false when it was not (another node changed it first).
Status SetTaskStatus(const Config& config, uint64_t id, const std::string& from,
                     const std::string& to, bool* changed);

// One heartbeat of a node, on one connection.
struct TaskLeaseBeat {
    std::string node;
    int lease_ms = 0;
    std::vector<TaskInfo> held;      // the tasks it feeds: lease renewed, progress saved
    std::vector<TaskInfo> released;  // the tasks it stops feeding: progress saved, lease cleared
    std::vector<TaskInfo> counted;   // sent/failed raised to these (never lowered)
    std::vector<uint64_t> also;      // tasks to read back whatever their status
    bool take = true;                // take the lapsed leases of running tasks (not when stopping)
};
struct TaskLeaseResult {
    std::vector<uint64_t> kept;   // of `held`: still this node's
    std::vector<TaskInfo> taken;  // running tasks whose lapsed lease it took, as saved
    std::vector<TaskInfo> rows;   // the unfinished tasks and `also`, after the above
};
Status BeatTaskLeases(const Config& config, const TaskLeaseBeat& beat, TaskLeaseResult* out);

}  // namespace mega
