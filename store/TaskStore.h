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
};

// The tasks loading, running or paused, oldest first.
Status LoadUnfinishedTasks(const Config& config, std::vector<TaskInfo>* out);
// Inserts `task` and sets its id.
Status InsertTask(const Config& config, TaskInfo* task);
// Writes each task's status and counters, unless the row is newer (updated_at).
Status SaveTaskProgress(const Config& config, const std::vector<TaskInfo>& tasks);

}  // namespace mega
