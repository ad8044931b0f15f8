// OutboxRelay: read (pool) → queue each row (loop) → wait until the queue holds them durably
// → mark (pool) → read again at once if the batch was full, else on the next poll.
#include "outbox/OutboxRelay.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <optional>
#include <utility>
#include <vector>

#include "base/Clock.h"
#include "base/OffLoop.h"
#include "protocol/SubmitMessage.h"

namespace mega {

struct OutboxRelay::Batch {
    std::vector<OutboxRow> rows;
    Status read;
    bool clean_up = false;
    uint64_t deleted = 0;
    Status cleaned;
    std::vector<uint64_t> published;                                // queued, or a duplicate
    std::vector<std::pair<uint64_t, std::string>> failed;           // bad rows and why
    std::array<std::optional<AppendTicket>, kPriorityLevels> last;  // per priority
    size_t repeated = 0;     // rows whose msgkey was seen: queued before a crash or failed mark
    bool held_back = false;  // rows left for a later read (the queue refused them)
    Status marked;
};

OutboxRelay::OutboxRelay(uv_loop_t* loop, Server* server, const Config& config)
    : loop_(loop),
      server_(server),
      config_(config),
      table_(std::make_shared<OutboxTable>(config)) {}

OutboxRelay::~OutboxRelay() = default;

Status OutboxRelay::Start() {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    timer_open_ = true;
    const auto every = uint64_t(config_.outbox_poll_ms);
    uv_timer_start(&timer_, OnTimer, every, every);
    spdlog::info("outbox relay: reading {} every {} ms", table_->Describe(), every);
    return Status::Ok();
}

void OutboxRelay::Shutdown() {
    stopping_ = true;
    if (!timer_open_) return;
    timer_open_ = false;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void OutboxRelay::OnTimer(uv_timer_t* h) {
    static_cast<OutboxRelay*>(h->data)->Read();
}

void OutboxRelay::Read() {
    if (busy_ || stopping_) return;
    busy_ = true;
    auto batch = std::make_shared<Batch>();
    const int64_t clean_every_ms = std::clamp(config_.outbox_keep_s, 1, 60) * 1000LL;
    if (NowMs() - last_clean_up_ms_ >= clean_every_ms) {
        batch->clean_up = true;
        last_clean_up_ms_ = NowMs();
    }
    OffLoop(
        loop_,
        [table = table_, batch, limit = config_.outbox_batch, keep_s = config_.outbox_keep_s] {
            if (batch->clean_up)
                batch->cleaned = table->DeleteOlderThan(keep_s, 10000, &batch->deleted);
            batch->read = table->ReadUnpublished(limit, &batch->rows);
        },
        [this, batch] { Relay(batch); });
}

void OutboxRelay::Relay(const std::shared_ptr<Batch>& batch) {
    if (batch->clean_up) ReportDatabase(batch->cleaned, "delete from", &clean_error_);
    if (batch->deleted > 0) spdlog::info("outbox relay: deleted {} published rows", batch->deleted);
    if (!batch->read.ok()) {
        ReportDatabase(batch->read, "read", &read_error_);
        busy_ = false;
        return;
    }
    ReportDatabase(Status::Ok(), "read", &read_error_);
    if (stopping_ || batch->rows.empty()) {
        busy_ = false;
        return;
    }
    QueueRows(*batch);
    // The records reach the queue files (page cache) now: a kill -9 after the mark keeps them.
    server_->PublishQueues();
    WhenBatchDurable(batch);
}

// Each row into the queue, in id order, until the queue refuses one (that row and the rest
// wait for the next read).
void OutboxRelay::QueueRows(Batch& batch) {
    Status refusal;
    uint64_t held_at = 0;
    for (const OutboxRow& row : batch.rows) {
        AppendTicket ticket;
        bool queued = false;
        Status s = Enqueue(row, &ticket, &queued);
        if (s.code() == Status::Code::kInvalid) {
            if (mark_error_.empty())  // while marks fail, every read finds it again
                spdlog::warn("outbox relay: row {} is not sendable: {}", row.id, s.message());
            batch.failed.emplace_back(row.id, s.message());
            continue;
        }
        if (!s.ok()) {
            refusal = s;
            held_at = row.id;
            batch.held_back = true;
            break;
        }
        batch.published.push_back(row.id);
        if (!queued) {
            batch.repeated++;
            continue;
        }
        auto& last = batch.last[size_t(ticket.level)];
        if (!last) last = ticket;
        last->seq = std::max(last->seq, ticket.seq);
        last->key_seq = std::max(last->key_seq, ticket.key_seq);
    }
    ReportQueue(refusal, held_at);
    if (batch.repeated > 0 && mark_error_.empty())
        spdlog::info(
            "outbox relay: {} rows were queued before (their msgkey answered duplicate): "
            "marked, not queued again",
            batch.repeated);
}

// Ok: queued (*queued) or a duplicate of its msgkey. Invalid: a bad row. Else the queue's
// refusal, which says nothing about the row.
Status OutboxRelay::Enqueue(const OutboxRow& row, AppendTicket* ticket, bool* queued) {
    rapidjson::Document doc;
    doc.Parse(row.msg.data(), row.msg.size());
    if (doc.HasParseError())
        return Status::Invalid(std::string("msg is not valid JSON: ") +
                               rapidjson::GetParseError_En(doc.GetParseError()));
    SubmitMessage m;
    Status s = ParseSubmitMessage(doc, "outbox", "outbox:" + std::to_string(row.id), &m);
    if (!s.ok()) return s;
    Server::Accepted accepted;
    s = server_->Accept(MessageKind::kPush, m.openid, m.key, m.data, m.options, &accepted);
    if (!s.ok()) return s;
    *queued = !accepted.duplicate;
    *ticket = accepted.ticket;
    return Status::Ok();
}

// Marks the batch once every record it queued is durable (fsync = always: on disk).
void OutboxRelay::WhenBatchDurable(const std::shared_ptr<Batch>& batch) {
    auto left = std::make_shared<int>(1);  // one for this function: nothing marks early
    auto one_done = [this, left, batch] {
        if (--*left == 0) Mark(batch);
    };
    for (const auto& t : batch->last) {
        if (!t) continue;
        ++*left;
        server_->WhenDurable(*t, one_done);
    }
    one_done();
}

void OutboxRelay::Mark(const std::shared_ptr<Batch>& batch) {
    OffLoop(
        loop_,
        [table = table_, batch] {
            batch->marked = table->MarkPublished(batch->published);
            for (const auto& [id, error] : batch->failed) {
                if (!batch->marked.ok()) break;
                batch->marked = table->MarkFailed(id, error);
            }
        },
        [this, batch] { Finish(*batch); });
}

void OutboxRelay::Finish(const Batch& batch) {
    busy_ = false;
    if (!batch.marked.ok()) {
        // The rows stay unpublished: the next read queues them again as duplicates.
        ReportDatabase(batch.marked, "mark rows in", &mark_error_);
        return;
    }
    ReportDatabase(Status::Ok(), "mark rows in", &mark_error_);
    spdlog::debug("outbox relay: {} rows published, {} failed", batch.published.size(),
                  batch.failed.size());
    if (!batch.held_back && batch.rows.size() == size_t(config_.outbox_batch)) Read();
}

// Logs the queue's refusal once when the relay pauses, and once when it goes on.
void OutboxRelay::ReportQueue(const Status& refusal, uint64_t row_id) {
    if (refusal.ok()) {
        if (!queue_refusal_.empty())
            spdlog::info("outbox relay: resumed, the queue takes messages");
        queue_refusal_.clear();
        return;
    }
    if (queue_refusal_ == refusal.message()) return;
    queue_refusal_ = refusal.message();
    spdlog::warn(
        "outbox relay: paused at row {}: {} ({}); retrying every {} ms", row_id,
        refusal.code() == Status::Code::kFull ? "the queue is full" : "the queue refused a message",
        refusal.message(), config_.outbox_poll_ms);
}

// Logs a database error once (until it changes), and the recovery; `last` is the error last
// logged for this kind of statement ("" when it went through).
void OutboxRelay::ReportDatabase(const Status& s, const char* doing, std::string* last) {
    if (s.ok()) {
        if (!last->empty())
            spdlog::info("outbox relay: can {} {} again", doing, table_->Describe());
        last->clear();
        return;
    }
    if (*last == s.message()) return;
    *last = s.message();
    spdlog::error("outbox relay: cannot {} {}: {}; retrying every {} ms", doing, table_->Describe(),
                  s.message(), config_.outbox_poll_ms);
}

}  // namespace mega
