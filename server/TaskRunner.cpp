// TaskRunner: a 100 ms timer feeds every running task from its read-ahead buffer (refilled
// 64 KiB at a time off the loop), up to the task's rate and never into a full queue.
#include "server/TaskRunner.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/Clock.h"
#include "base/LogText.h"
#include "base/OffLoop.h"
#include "queue/RedisBackend.h"
#include "server/Server.h"

namespace mega {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kLowWater = 2000;
constexpr uint64_t kMaxPerTick = 20000;
constexpr int64_t kBeatMs = 1000;  // the leases' heartbeat ([queue] backend = redis)
constexpr int kMinLeaseMs = 3000;

uint64_t CountLines(const std::string& text) {
    uint64_t n = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string_view line(text.data() + pos, nl - pos);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
        if (!line.empty() && line.front() != '#') n++;
        pos = nl + 1;
    }
    return n;
}

// The text as the openid file holds it: ending with a newline.
std::string FileText(std::string text) {
    if (!text.empty() && text.back() != '\n') text.push_back('\n');
    return text;
}

std::string LineKey(uint64_t id, uint64_t end_offset) {
    return "task-" + std::to_string(id) + "-" + std::to_string(end_offset);
}

// The local copy of the task's openid file, written afresh from MySQL (off the loop): the
// file left by an earlier holding may be short of later appends. False when there is nothing
// to feed from.
bool EnsureOpenidFile(const Config& config, const TaskInfo& task, const std::string& path) {
    std::string text;
    Status s = LoadTaskOpenids(config, task.id, &text);
    if (!s.ok() || (text.empty() && task.total > 0)) {
        spdlog::warn("task {}: its openids cannot be read: {}", task.id,
                     s.ok() ? "none stored" : s.message());
        return false;
    }
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    const std::string part = path + ".part";
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (out) std::filesystem::rename(part, path, ec);
    if (!out || ec) spdlog::warn("task {}: cannot write its openid file", task.id);
    return out && !ec;
}

}  // namespace

TaskRunner::TaskRunner(uv_loop_t* loop, Server* server) : loop_(loop), server_(server) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
}

TaskRunner::~TaskRunner() = default;

std::string TaskRunner::FilePath(uint64_t id) const {
    return server_->config().queue_file_path + "/tasks/" + std::to_string(id) + ".openids";
}

Status TaskRunner::Load() {
    std::error_code ec;
    std::filesystem::create_directories(server_->config().queue_file_path + "/tasks", ec);
    const Config& config = server_->config();
    if (config.queue_redis) {
        redis_ = dynamic_cast<RedisBackend*>(&server_->backend());
        if (!redis_) return Status::Invalid("tasks: the queue is not on redis");
        node_ = redis_->node_id();
        lease_ms_ = std::max(kMinLeaseMs, config.redis_claim_idle_ms);
    }
    std::vector<TaskInfo> rows;
    Status s = LoadUnfinishedTasks(config, &rows);
    if (!s.ok()) return s;
    for (TaskInfo& row : rows) {
        auto t = std::make_unique<Running>();
        t->info = std::move(row);
        t->read_offset = t->info.file_offset;
        tasks_[t->info.id] = std::move(t);
    }
    if (!tasks_.empty() && redis_)
        spdlog::info("{} unfinished tasks, each fed by the node holding its lease", tasks_.size());
    else if (!tasks_.empty())
        spdlog::info("{} unfinished tasks resumed", tasks_.size());
    uv_timer_start(&timer_, OnTick, 100, 100);
    return Status::Ok();
}

void TaskRunner::Close() {
    if (closed_) return;
    closed_ = true;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

// Loop thread, once the task's row (and its openids) are stored, or failed to be.
void TaskRunner::Created(const TaskInfo& task, const Status& status, const Done& done) {
    if (!status.ok()) return done(status, 0);
    auto t = std::make_unique<Running>();
    t->info = task;
    tasks_[task.id] = std::move(t);
    spdlog::info("task {} created: {} openids, template {}", task.id, task.total, task.key);
    done(Status::Ok(), task.id);
}

void TaskRunner::Create(TaskInfo info, std::string openids_text, bool start, Done done) {
    info.status = start && !openids_text.empty() ? "running" : "loading";
    info.total = CountLines(openids_text);
    info.created_ms = info.updated_ms = NowMs();
    auto status = std::make_shared<Status>();
    auto task = std::make_shared<TaskInfo>(std::move(info));
    if (redis_) return CreateShared(std::move(task), std::move(openids_text), std::move(done));
    const Config& config = server_->config();
    const std::string dir = config.queue_file_path + "/tasks/";
    OffLoop(
        loop_,
        [&config, task, status, dir, text = std::move(openids_text)] {
            Status s = InsertTask(config, task.get());
            if (s.ok()) {
                std::error_code ec;
                std::filesystem::create_directories(dir, ec);
                std::ofstream out(dir + std::to_string(task->id) + ".openids", std::ios::binary);
                out << text;
                if (!text.empty() && text.back() != '\n') out << '\n';
                if (!out) s = Status::IoError("cannot write the task's openid file");
            }
            *status = s;
        },
        [this, task, status, done] { Created(*task, *status, done); });
}

// [queue] backend = redis: the openids go to MySQL, where whichever node takes the task reads
// them; a task whose openids could not be stored is cancelled (never fed from nothing).
void TaskRunner::CreateShared(std::shared_ptr<TaskInfo> task, std::string text, Done done) {
    auto status = std::make_shared<Status>();
    OffLoop(
        loop_,
        [&config = server_->config(), task, status, text = FileText(std::move(text))] {
            Status s = InsertTask(config, task.get());
            if (s.ok()) s = StoreTaskOpenids(config, task->id, text, 0);
            if (!s.ok() && task->id) {
                bool changed = false;
                (void)SetTaskStatus(config, task->id, task->status, "cancelled", &changed);
            }
            *status = s;
        },
        [this, task, status, done] { Created(*task, *status, done); });
}

void TaskRunner::Append(uint64_t id, std::string text, Done done) {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return done(Status::NotFound("no task " + std::to_string(id)), id);
    Running& t = *it->second;
    if (t.info.status != "loading" || t.appending)
        return done(Status::Invalid("task " + std::to_string(id) + " is not loading"), id);
    t.appending = true;
    const uint64_t lines = CountLines(text);
    auto status = std::make_shared<Status>();
    OffLoop(
        loop_,
        [path = FilePath(id), text = std::move(text), status, id, lines, shared = redis_ != nullptr,
         &config = server_->config()] {
            if (shared) {  // the openids and the total in MySQL, for any node
                *status = StoreTaskOpenids(config, id, FileText(text), lines);
                return;
            }
            std::ofstream out(path, std::ios::binary | std::ios::app);
            out << text;
            if (!text.empty() && text.back() != '\n') out << '\n';
            if (!out) *status = Status::IoError("cannot append to the task's openid file");
        },
        [this, id, lines, status, done] {
            auto it = tasks_.find(id);
            if (it != tasks_.end()) {
                it->second->appending = false;
                if (status->ok()) {
                    it->second->info.total += lines;
                    it->second->dirty = !redis_;  // on redis the row's total is added to
                }
            }
            done(*status, id);
        });
}

Status TaskRunner::Control(uint64_t id, const std::string& action) {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return Status::NotFound("no task " + std::to_string(id));
    TaskInfo& i = it->second->info;
    const std::string from = i.status;
    if (action == "start" && from == "loading") {
        i.status = "running";
    } else if (action == "pause" && from == "running") {
        i.status = "paused";
    } else if (action == "resume" && from == "paused") {
        i.status = "running";
    } else if (action == "cancel" && from != "done" && from != "cancelled") {
        i.status = "cancelled";
    } else {
        return Status::Invalid("cannot " + action + " a task that is " + from);
    }
    spdlog::info("task {}: {} ({} → {})", id, action, from, i.status);
    if (!redis_) {
        it->second->dirty = true;
        return Status::Ok();
    }
    // Any node may be asked: the row's status changes where it is still `from`; the holder
    // stops at its next heartbeat (at once when it is this node).
    if (it->second->held && i.status != "running") it->second->release = true;
    OffLoop(
        loop_,
        [&config = server_->config(), id, from, to = i.status] {
            bool changed = false;
            Status s = SetTaskStatus(config, id, from, to, &changed);
            if (!s.ok() || !changed)
                spdlog::warn("task {}: {} → {} not saved: {}", id, from, to,
                             s.ok() ? "another node changed it first" : s.message());
        },
        [] {});
    return Status::Ok();
}

void TaskRunner::OnFinal(uint64_t task_id, std::string_view msgkey, bool sent) {
    if (redis_) {  // any node's outcome, tallied once per line, before the message's XACK
        redis_->CountTaskOutcome(task_id, msgkey, sent);
        return;
    }
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return;
    (sent ? it->second->info.sent : it->second->info.failed)++;
    if (it->second->outstanding > 0) it->second->outstanding--;
    it->second->dirty = true;
}

std::vector<TaskInfo> TaskRunner::List() const {
    std::vector<TaskInfo> out;
    for (const auto& [id, t] : tasks_) out.push_back(t->info);
    return out;
}

void TaskRunner::OnTick(uv_timer_t* t) {
    static_cast<TaskRunner*>(t->data)->Tick();
}

void TaskRunner::Tick() {
    const int64_t now = NowMs();
    // Before feeding: the lines fed at the last tick have their pushes acknowledged by now.
    if (redis_ && now - last_save_ms_ >= kBeatMs) Beat();
    for (auto& [id, t] : tasks_) {
        TaskInfo& i = t->info;
        if (redis_) {
            TickShared(*t, now);
            continue;
        }
        if (i.status == "running") Feed(*t, now);
        // Finished: everything fed and every fed message settled.
        if (i.status == "running" && t->file_done && t->ahead.empty() && t->outstanding == 0) {
            i.status = "done";
            spdlog::info("task {} done: {} sent, {} failed", id, i.sent, i.failed);
            t->dirty = true;
        }
    }
    last_tick_ms_ = now;
    if (!redis_ && now - last_save_ms_ >= 1000) Save();
}

void TaskRunner::Feed(Running& t, int64_t now) {
    TaskInfo& i = t.info;
    const double elapsed = last_tick_ms_ ? double(now - last_tick_ms_) / 1000.0 : 0.1;
    uint64_t budget = kMaxPerTick;
    if (i.rate > 0) {
        t.tokens = std::min(t.tokens + elapsed * i.rate, std::max(1.0, i.rate));
        budget = std::min<uint64_t>(budget, uint64_t(t.tokens));
    }
    uint64_t fed = 0;
    while (fed < budget && !t.ahead.empty()) {
        const auto& [openid, end_offset] = t.ahead.front();
        const std::string options = (i.options.empty() ? "" : i.options + " ") +
                                    "task=" + std::to_string(i.id) + " msgkey=task-" +
                                    std::to_string(i.id) + "-" + std::to_string(end_offset);
        Server::Accepted a;
        Status s = server_->Accept(MessageKind::kPush, openid, i.key, i.data, options, &a);
        if (s.code() == Status::Code::kFull) break;  // the queue is full: try again next tick
        if (redis_ && s.code() == Status::Code::kUnavailable) break;  // redis is away
        if (!s.ok()) {
            spdlog::warn("task {}: {} refused: {}", i.id, LogText(openid), s.message());
            if (redis_) redis_->CountTaskOutcome(i.id, LineKey(i.id, end_offset), false);
            if (!redis_) i.failed++;
        } else if (!a.duplicate) {  // a duplicate was fed before a restart: not again
            t.outstanding++;
        }
        i.queued++;
        i.file_offset = end_offset;
        if (redis_)
            t.unconfirmed.push_back({a.ticket, s.ok() && !a.duplicate, i.queued, end_offset});
        t.ahead.pop_front();
        fed++;
        t.dirty = true;
    }
    if (i.rate > 0) t.tokens -= double(fed);
    if (t.ahead.size() < kLowWater && !t.reading && !t.file_done) ReadAhead(i.id);
}

void TaskRunner::ReadAhead(uint64_t id) {
    Running& t = *tasks_[id];
    t.reading = true;
    struct Chunk {
        std::string bytes;
        bool eof = false, missing = false;
    };
    auto chunk = std::make_shared<Chunk>();
    OffLoop(
        loop_,
        [path = FilePath(id), offset = t.read_offset, chunk] {
            std::ifstream in(path, std::ios::binary);
            chunk->missing = !in.is_open();
            in.seekg(std::streamoff(offset));
            chunk->bytes.resize(kReadChunk);
            in.read(chunk->bytes.data(), std::streamsize(kReadChunk));
            chunk->bytes.resize(size_t(in.gcount()));
            chunk->eof = chunk->bytes.size() < kReadChunk;
        },
        [this, id, chunk, generation = t.generation] {
            auto it = tasks_.find(id);
            if (it == tasks_.end() || it->second->generation != generation) return;
            Running& t = *it->second;
            t.reading = false;
            if (redis_ && chunk->missing) {  // rebuilt from MySQL by the next take-over
                spdlog::warn("task {}: its openid file is missing; giving the task up", id);
                t.release = true;
                return;
            }
            // Whole lines only; a partial last line is read again next time.
            size_t pos = 0;
            while (true) {
                size_t nl = chunk->bytes.find('\n', pos);
                if (nl == std::string::npos) break;
                std::string_view line(chunk->bytes.data() + pos, nl - pos);
                while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
                    line.remove_suffix(1);
                const uint64_t end = t.read_offset + nl + 1;
                if (!line.empty() && line.front() != '#')
                    t.ahead.emplace_back(std::string(line), end);
                pos = nl + 1;
            }
            t.read_offset += pos;
            if (chunk->eof && pos == chunk->bytes.size() && t.info.status != "loading")
                t.file_done = true;
        });
}

void TaskRunner::SaveAll() {
    if (redis_) return Beat(true);
    Save(true);
}

// Writes changed tasks off the loop. Each row carries its updated_at, and the UPDATE skips a
// row whose stored updated_at is newer, so two saves that overlap cannot go back in time.
void TaskRunner::Save(bool all) {
    if (saving_ && !all) return;
    server_->PublishQueues();  // the lines counted as fed are in the queue files
    std::vector<TaskInfo> changed;
    for (auto& [id, t] : tasks_) {
        if (!t->dirty && !all) continue;
        t->dirty = false;
        t->info.updated_ms = NowMs();
        changed.push_back(t->info);
    }
    last_save_ms_ = NowMs();
    if (changed.empty()) return;
    saving_ = true;
    const Config& config = server_->config();
    OffLoop(
        loop_,
        [&config, changed] {
            Status s = SaveTaskProgress(config, changed);
            if (!s.ok()) spdlog::warn("tasks: cannot save progress: {}", s.message());
        },
        [this] { saving_ = false; });
}

// --- [queue] backend = redis: leases (see the header).

void TaskRunner::TickShared(Running& t, int64_t now) {
    TaskInfo& i = t.info;
    if (!t.held || t.release || i.status != "running") return;
    // not renewed in time (steady clock, from before the renewal was sent): another node may
    // take it
    if (SteadyMs() >= t.lease_deadline_ms) return;
    Feed(t, now);
    ConfirmFed(t);
    // Finished: every line fed, its push acknowledged, and each one's outcome tallied.
    if (t.file_done && t.ahead.empty() && t.unconfirmed.empty() && i.sent + i.failed >= i.queued) {
        i.status = "done";
        spdlog::info("task {} done: {} sent, {} failed", i.id, i.sent, i.failed);
    }
}

// The lines fed whose pushes Redis acknowledged: the progress a heartbeat may save.
void TaskRunner::ConfirmFed(Running& t) {
    while (!t.unconfirmed.empty()) {
        const Running::Fed& f = t.unconfirmed.front();
        if (f.pushed && !server_->backend().Durable(f.ticket)) break;
        t.saved_queued = f.queued;
        t.saved_offset = f.end_offset;
        t.unconfirmed.pop_front();
    }
}

// Every second: renews the leases held (saving their progress), gives up those stopped here,
// copies the tallies into the rows, takes lapsed leases and reads the rows back. `stopping`
// (shutdown): every lease is given up and none taken.
void TaskRunner::Beat(bool stopping) {
    if (beating_ && !stopping) return;
    beating_ = true;
    const int64_t started = NowMs(), sent_at = SteadyMs();
    last_save_ms_ = started;
    server_->PublishQueues();
    auto beat = std::make_shared<TaskLeaseBeat>();
    beat->node = node_;
    beat->lease_ms = lease_ms_;
    beat->take = !stopping;
    for (auto& [id, t] : tasks_) {
        TaskInfo& i = t->info;
        if (t->held) {
            ConfirmFed(*t);
            TaskInfo p = i;
            p.queued = t->saved_queued;
            p.file_offset = t->saved_offset;
            p.updated_ms = started;
            if (stopping || t->release) {
                beat->released.push_back(p);
                StopFeeding(*t);
            } else {
                beat->held.push_back(p);
            }
        }
        if (i.status == "done" && !t->held) continue;
        beat->counted.push_back(i);
        beat->also.push_back(id);
        redis_->ReadTaskCounts(id, [this, id](bool ok, uint64_t sent, uint64_t failed) {
            auto it = tasks_.find(id);
            if (!ok || it == tasks_.end()) return;
            it->second->info.sent = std::max(it->second->info.sent, sent);
            it->second->info.failed = std::max(it->second->info.failed, failed);
        });
    }
    auto result = std::make_shared<TaskLeaseResult>();
    auto status = std::make_shared<Status>();
    OffLoop(
        loop_,
        [&config = server_->config(), beat, result, status] {
            *status = BeatTaskLeases(config, *beat, result.get());
            // A task is fed only from a complete copy of its openids (its lease lapses).
            std::erase_if(result->taken, [&](const TaskInfo& t) {
                const std::string path =
                    config.queue_file_path + "/tasks/" + std::to_string(t.id) + ".openids";
                return !EnsureOpenidFile(config, t, path);
            });
        },
        [this, beat, result, status, sent_at] {
            beating_ = false;
            if (!status->ok())  // nothing renewed: feeding stops as the leases run out
                return spdlog::warn("tasks: heartbeat failed: {}", status->message());
            ApplyBeat(*beat, *result, sent_at);
        });
}

void TaskRunner::ApplyBeat(const TaskLeaseBeat& beat, const TaskLeaseResult& result,
                           int64_t sent_at) {
    auto kept = [&](uint64_t id) {
        return std::find(result.kept.begin(), result.kept.end(), id) != result.kept.end();
    };
    auto row_of = [&](uint64_t id) -> const TaskInfo* {
        for (const TaskInfo& r : result.rows)
            if (r.id == id) return &r;
        return nullptr;
    };
    for (const TaskInfo& p : beat.held) {
        auto it = tasks_.find(p.id);
        if (it == tasks_.end() || !it->second->held) continue;
        Running& t = *it->second;
        const TaskInfo* row = row_of(p.id);
        if (!kept(p.id) && row && row->status != "running" && row->lease_node == node_ &&
            !row->lease_lapsed) {
            // paused or cancelled on another node: given up at the next heartbeat, with
            // every line fed until now
            t.info.status = row->status;
            t.release = true;
        } else if (!kept(p.id)) {
            spdlog::warn("task {}: lease lost (lapsed, or its status changed): not fed here", p.id);
            StopFeeding(t);
        } else if (p.status == "done") {
            t.held = false;  // saved as done: nothing more to feed
        } else {
            t.lease_deadline_ms = sent_at + lease_ms_;
        }
    }
    for (const TaskInfo& row : result.rows) {
        auto& t = tasks_[row.id];
        if (!t) t = std::make_unique<Running>();
        if (t->held) continue;  // this node's own progress is ahead of the row
        const uint64_t sent = t->info.sent, failed = t->info.failed;
        t->info = row;
        t->info.sent = std::max(sent, row.sent);
        t->info.failed = std::max(failed, row.failed);
    }
    if (closed_) return;  // stopping: a lease taken meanwhile just lapses
    for (const TaskInfo& row : result.taken) TakeOver(*tasks_[row.id], row, sent_at);
}

// This node now feeds the task, from the row's saved progress.
void TaskRunner::TakeOver(Running& t, const TaskInfo& row, int64_t sent_at) {
    StopFeeding(t);
    const uint64_t sent = t.info.sent, failed = t.info.failed;
    t.info = row;
    t.info.sent = std::max(sent, row.sent);
    t.info.failed = std::max(failed, row.failed);
    t.held = true;
    t.lease_deadline_ms = sent_at + lease_ms_;
    t.read_offset = row.file_offset;
    t.saved_offset = row.file_offset;
    t.saved_queued = row.queued;
    spdlog::info("task {}: lease taken by {}: feeding from line offset {} ({} of {} queued)",
                 row.id, node_, row.file_offset, row.queued, row.total);
}

// Forgets what was read ahead and fed unconfirmed (its lines are fed again, by whichever node
// takes the task, from the saved offset; their msgkeys stop a second send).
void TaskRunner::StopFeeding(Running& t) {
    t.held = false;
    t.release = false;
    t.generation++;
    t.ahead.clear();
    t.unconfirmed.clear();
    t.reading = false;
    t.file_done = false;
    t.tokens = 0;
}

}  // namespace mega
