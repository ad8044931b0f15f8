// RedisBackend: the queue backend shared by several nodes, on Redis Streams (layout in
// queue/REDIS.md): one stream per priority read by the consumer group "mega" (each node a
// consumer named by its node_id), delays and retries in a sorted set moved to the streams by a
// Lua script when due, dead letters, msgkeys and the pause in keys every node shares. The
// seam's calls answer from local state (a prefetch buffer, mirrors of the shared keys); the
// network work is pipelined on two RedisLinks and announced through `wake` when it completes.
#pragma once

#include <uv.h>

#include <array>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/Config.h"
#include "queue/QueueBackend.h"
#include "queue/RedisLink.h"
#include "queue/RedisTokenStore.h"

struct redisReply;

namespace mega {

// One node of the cluster as its heartbeat in `Qnodes` tells it (queue/REDIS.md).
struct ClusterNode {
    std::string id, version, admin;  // admin: the address of its admin API, "" if none
    int64_t heartbeat_ms = 0;        // when it last published (unix ms)
    uint64_t inflight = 0, depth = 0;
    double rate = 0;  // messages sent per second over the last 10 s
    bool up = false;  // a heartbeat within the last few seconds
};

// What a node tells about itself at each heartbeat, besides its id and version.
struct NodeFacts {
    uint64_t inflight = 0;
    double rate = 0;
    std::string admin;
};

class RedisBackend final : public QueueBackend {
  public:
    // Connects once at start (blocking, before the loop serves: the group, the mirrors), then
    // runs on `loop`. Unavailable when Redis cannot be reached at start.
    static Status Open(const Config& config, uv_loop_t* loop, std::function<void()> wake,
                       std::unique_ptr<RedisBackend>* out);
    RedisBackend(const Config& config, uv_loop_t* loop, std::function<void()> wake);
    ~RedisBackend() override;

    bool KeySeen(std::string_view msgkey, int64_t now_ms) const override;
    Status Append(const Message& m, std::string_view msgkey, int64_t now_ms,
                  AppendTicket* ticket) override;
    void Publish() override;
    void RequestSync(int) override {}  // Redis's appendfsync decides
    bool Durable(const AppendTicket& ticket) const override;
    bool Duplicate(const AppendTicket& ticket) const override;

    bool HasUnread(int level) const override;
    bool Next(int level, RecordTag* tag) override;
    std::string_view Payload(RecordTag tag) const override;
    RecordState State(RecordTag tag) const override;
    void SetState(RecordTag tag, RecordState state) override;
    bool Requeue(RecordTag tag, RecordState state) override;
    void Done(RecordTag tag) override;

    Status AddDeadLetter(int errcode, uint16_t attempts, std::string_view error,
                         std::string_view payload) override;
    bool FindDeadLetter(uint64_t id, DeadLetter* out) const override;
    bool RemoveDeadLetter(uint64_t id) override;
    void ForEachDeadLetter(
        const std::function<bool(uint64_t id, const DeadLetter&)>& fn) const override;
    std::vector<uint64_t> DeadLetterIds() const override;
    uint64_t dead_letter_count() const override { return dead_.size(); }
    Status RequeueDeadLetter(uint64_t id) override;

    Status SavePause(std::string_view account, const PauseState& state) override;
    Status LoadPause(std::string_view account, PauseState* state) override;

    void Tick(int64_t now_ms) override;
    BackendStats Stats() const override;
    Status Close() override;

    const std::string& node_id() const { return node_; }

    // Shared state (queue/REDIS.md "Rate buckets", "Pause"): leases on the accounts' rate
    // buckets, and the pause other nodes save, polled.
    uint64_t pause_changes() const override { return pause_changes_; }
    TokenLease* LeaseRate(std::string_view account) override;
    SharedTokens* shared_tokens() override { return tokens_.get(); }

    // Batch tasks (server/TaskRunner): the outcome of a task's line, tallied once per line
    // however often the line is settled (a node that dies between a send and its XACK). Sent
    // on the command link, so a caller that calls it before Done(tag) has it executed before
    // that record's XACK.
    void CountTaskOutcome(uint64_t task, std::string_view line, bool sent);
    // The task's tally so far; ok false when Redis did not answer.
    using TaskCounts = std::function<void(bool ok, uint64_t sent, uint64_t failed)>;
    void ReadTaskCounts(uint64_t task, TaskCounts done);

    // --- The cluster view (queue/RedisNodes.cpp): a heartbeat in `Qnodes` every second.
    static constexpr int64_t kNodeHeartbeatMs = 1000;
    static constexpr int64_t kNodeDownAfterMs = 3500;    // no heartbeat for this long: down
    static constexpr int64_t kNodePruneAfterMs = 60000;  // then forgotten
    // Where the heartbeat's in-flight count, rate and admin address come from (else the
    // records this node holds, 0 and "").
    void SetNodeFacts(std::function<NodeFacts()> facts) { node_facts_ = std::move(facts); }
    // Every node's last heartbeat, sorted by id (this node's own as of now); Unavailable
    // when Redis does not answer. Prunes the entries gone for kNodePruneAfterMs.
    void ReadNodes(std::function<void(Status, std::vector<ClusterNode>)> done);
    ClusterNode SelfNode(int64_t now_ms) const;

  private:
    struct Held {  // a record handed out (or ready to be), until Done or Requeue
        int level = 0;
        std::string entry;  // the stream entry id
        std::string payload;
        RecordState state;
    };
    struct StoredDead {
        int errcode = 0;
        int64_t failed_ms = 0;
        uint16_t attempts = 0;
        std::string error, message;
    };

    Status Bootstrap();
    void StartTimers();
    void OnLinkState(bool read_link, bool up);
    size_t ready_count() const;
    void ReadMore();
    void OnRead(redisReply* reply);
    bool TakeEntry(int level, const redisReply* entry);
    void Forget(RecordTag tag);
    void Claim();
    void MoveDue();
    void Heartbeat();
    void RefreshCounts();
    void LoadDeadLetters(redisReply* reply);
    void SendAppend(uint64_t seq);
    static bool ParseDead(std::string_view value, StoredDead* out);
    std::string Key(const char* name) const;
    std::string StreamKey(int level) const;
    std::string PauseKey(std::string_view account) const;

    // Shared state: the rate leases and the pause poll (RedisBackend.cpp, "Shared state").
    struct Leased {
        std::string key;  // the account's bucket
        std::unique_ptr<TokenLease> lease;
    };
    void PollShared(int64_t now_ms);
    void PollPause();
    void AskLeases();
    void AskLease(Leased& l, int64_t now_ms);
    void ArmLeaseTimer(int64_t now_ms);
    void LoseLeases();
    void CloseLeaseTimer();

    // The cluster view (queue/RedisNodes.cpp).
    void StartNodeHeartbeat();
    void StopNodeHeartbeat();
    void PublishNode();
    std::string EncodeNode(const ClusterNode& n) const;
    static bool DecodeNode(std::string_view id, std::string_view json, ClusterNode* out);
    std::function<NodeFacts()> node_facts_;
    std::unique_ptr<uv_timer_t> node_timer_;
    int node_beats_ = 0;
    // Pushes Redis answered as duplicates (their msgkey pushed on another node), by seq, with
    // when: Duplicate() tells the intake, kept a minute.
    std::map<uint64_t, int64_t> duplicates_;
    std::unordered_set<uint64_t> pushed_;  // unanswered pushes known to have added (or maybe)
    void NotePushAnswer(uint64_t seq, const redisReply* reply);
    void PruneDuplicates(int64_t now_ms);

    const Config& config_;
    uv_loop_t* loop_;
    std::function<void()> wake_;
    RedisAddress address_;
    std::string tag_;  // "<prefix>{<app_id>}:" before every key
    std::string node_;
    std::unique_ptr<RedisLink> cmd_, read_;
    std::unique_ptr<uv_timer_t> timer_;
    int64_t last_claim_ms_ = 0, last_heartbeat_ms_ = 0;

    // Appends: staged until Publish, then unanswered until Redis replies.
    uint64_t next_seq_ = 1;
    std::vector<uint64_t> staged_;
    std::unordered_map<uint64_t, std::vector<std::string>> unanswered_;
    std::vector<uint64_t> failed_appends_;  // refused by Redis: sent again at the next Tick

    // Delivery: records held by this node, and the ready ones per priority.
    RecordTag next_tag_ = 1;
    std::unordered_map<RecordTag, Held> held_;
    std::unordered_set<std::string> held_entries_;
    std::array<std::deque<RecordTag>, kPriorityLevels> ready_;
    bool reading_ = false, read_pending_first_ = true;
    std::array<std::string, kPriorityLevels> cursor_{"0", "0", "0"};  // in what is pending

    // Mirrors of the shared keys.
    std::unordered_map<std::string, int64_t> keys_;  // msgkey → expiry (ms)
    std::map<uint64_t, StoredDead> dead_;
    struct PauseMirror {  // an account's pause as last read or written
        bool has = false;
        std::string raw;
        PauseState state;
    };
    std::map<std::string, PauseMirror, std::less<>> pauses_;  // every account's, polled
    std::array<uint64_t, kPriorityLevels> depth_{};
    uint64_t waiting_ = 0;
    bool closed_ = false, gone_ = false;

    // Shared state.
    std::map<std::string, Leased, std::less<>> leases_;  // by account name
    std::unique_ptr<uv_timer_t> lease_timer_;            // the next ask after a short grant
    int64_t lease_timer_at_ms_ = 0;
    uint64_t pause_writes_ = 0;   // this node's SETs: a GET sent before the last one is stale
    uint64_t pause_changes_ = 0;  // changes seen from other nodes
    int64_t last_pause_poll_ms_ = 0;
    std::unique_ptr<RedisTokenStore> tokens_;  // set in Open
};

}  // namespace mega
