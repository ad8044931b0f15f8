// FileBackend: the queue backend of a single node, on local files (queue/FORMAT.md): one
// FileQueue per priority under queue_file_path/{high,normal,low}, the dead letters in
// failed/, the msgkey journal in keys/ and the pauses in the files `pause*`. All of them draw on
// one disk budget (queue_max_bytes); pushes leave a segment of it to the dead letters.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>

#include "config/Config.h"
#include "queue/DeadLetters.h"
#include "queue/DedupIndex.h"
#include "queue/FileQueue.h"
#include "queue/QueueBackend.h"

namespace mega {

class FileBackend final : public QueueBackend {
  public:
    // Recovers what is in config.queue_file_path (logging what recovery found). `wake` is
    // called from any thread when appends became durable or older records became ready.
    static Status Open(const Config& config, std::function<void()> wake,
                       std::unique_ptr<FileBackend>* out);
    explicit FileBackend(const Config& config) : pause_dir_(config.queue_file_path) {}
    ~FileBackend() override;

    bool KeySeen(std::string_view msgkey, int64_t now_ms) const override;
    Status Append(const Message& m, std::string_view msgkey, int64_t now_ms,
                  AppendTicket* ticket) override;
    void Publish() override;
    void RequestSync(int level) override;
    bool Durable(const AppendTicket& ticket) const override;

    bool HasUnread(int level) const override;
    bool Next(int level, RecordTag* tag) override;
    std::string_view Payload(RecordTag tag) const override;
    RecordState State(RecordTag tag) const override;
    void SetState(RecordTag tag, RecordState state) override;
    void Done(RecordTag tag) override;

    Status AddDeadLetter(int errcode, uint16_t attempts, std::string_view error,
                         std::string_view payload) override;
    bool FindDeadLetter(uint64_t id, DeadLetter* out) const override;
    bool RemoveDeadLetter(uint64_t id) override;
    void ForEachDeadLetter(
        const std::function<bool(uint64_t id, const DeadLetter&)>& fn) const override;
    std::vector<uint64_t> DeadLetterIds() const override;
    uint64_t dead_letter_count() const override { return dead_letters_->size(); }
    Status RequeueDeadLetter(uint64_t id) override;

    Status SavePause(std::string_view account, const PauseState& state) override;
    Status LoadPause(std::string_view account, PauseState* state) override;

    void Tick(int64_t now_ms) override;
    BackendStats Stats() const override;
    Status Close() override;

  private:
    Status OpenQueues(const Config& config, const std::shared_ptr<DiskBudget>& budget,
                      const std::function<void()>& wake);
    FileQueue& QueueOf(RecordTag tag) const;
    Status AppendRecord(const Message& m, uint64_t* seq);

    std::string pause_dir_;  // the pauses' files (queue/PauseFile.h)
    std::array<std::unique_ptr<FileQueue>, kPriorityLevels> queues_;
    std::unique_ptr<DeadLetters> dead_letters_;
    std::unique_ptr<DedupIndex> keys_;
};

}  // namespace mega
