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
#include "server/Server.h"

namespace mega {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kLowWater = 2000;
constexpr uint64_t kMaxPerTick = 20000;

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
    std::vector<TaskInfo> rows;
    Status s = LoadUnfinishedTasks(server_->config(), &rows);
    if (!s.ok()) return s;
    for (TaskInfo& row : rows) {
        auto t = std::make_unique<Running>();
        t->info = std::move(row);
        t->read_offset = t->info.file_offset;
        tasks_[t->info.id] = std::move(t);
    }
    if (!tasks_.empty()) spdlog::info("{} unfinished tasks resumed", tasks_.size());
    uv_timer_start(&timer_, OnTick, 100, 100);
    return Status::Ok();
}

void TaskRunner::Close() {
    if (closed_) return;
    closed_ = true;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void TaskRunner::Create(TaskInfo info, std::string openids_text, bool start, Done done) {
    info.status = start && !openids_text.empty() ? "running" : "loading";
    info.total = CountLines(openids_text);
    info.created_ms = info.updated_ms = NowMs();
    auto status = std::make_shared<Status>();
    auto task = std::make_shared<TaskInfo>(std::move(info));
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
        [this, task, status, done] {
            if (!status->ok()) return done(*status, 0);
            auto t = std::make_unique<Running>();
            t->info = *task;
            tasks_[task->id] = std::move(t);
            spdlog::info("task {} created: {} openids, template {}", task->id, task->total,
                         task->key);
            done(Status::Ok(), task->id);
        });
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
        [path = FilePath(id), text = std::move(text), status] {
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
                    it->second->dirty = true;
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
    it->second->dirty = true;
    spdlog::info("task {}: {} ({} → {})", id, action, from, i.status);
    return Status::Ok();
}

void TaskRunner::OnFinal(uint64_t task_id, bool sent) {
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
    for (auto& [id, t] : tasks_) {
        TaskInfo& i = t->info;
        if (i.status == "running") Feed(*t, now);
        // Finished: everything fed and every fed message settled.
        if (i.status == "running" && t->file_done && t->ahead.empty() && t->outstanding == 0) {
            i.status = "done";
            spdlog::info("task {} done: {} sent, {} failed", id, i.sent, i.failed);
            t->dirty = true;
        }
    }
    last_tick_ms_ = now;
    if (now - last_save_ms_ >= 1000) Save();
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
        if (!s.ok()) {
            spdlog::warn("task {}: {} refused: {}", i.id, LogText(openid), s.message());
            i.failed++;
        } else if (!a.duplicate) {  // a duplicate was fed before a restart: not again
            t.outstanding++;
        }
        i.queued++;
        i.file_offset = end_offset;
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
        bool eof = false;
    };
    auto chunk = std::make_shared<Chunk>();
    OffLoop(
        loop_,
        [path = FilePath(id), offset = t.read_offset, chunk] {
            std::ifstream in(path, std::ios::binary);
            in.seekg(std::streamoff(offset));
            chunk->bytes.resize(kReadChunk);
            in.read(chunk->bytes.data(), std::streamsize(kReadChunk));
            chunk->bytes.resize(size_t(in.gcount()));
            chunk->eof = chunk->bytes.size() < kReadChunk;
        },
        [this, id, chunk] {
            auto it = tasks_.find(id);
            if (it == tasks_.end()) return;
            Running& t = *it->second;
            t.reading = false;
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

}  // namespace mega
