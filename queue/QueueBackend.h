// QueueBackend: the storage seam. Everything the intake (server/) and the dispatcher
// (delivery/) need from wherever messages wait: append, hand out the next ready record,
// retry it later, finish it, dead letters, idempotency keys and the pause. FileBackend
// (queue/FileBackend.h) keeps them in segment files; a second backend (Redis) implements the
// same calls without a change to either user. Loop thread only, and no call blocks: work that
// takes a disk or network round trip finishes later and is announced through the `wake`
// callback each backend is opened with (appends became durable, more records are ready).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"
#include "queue/Message.h"
#include "queue/QueueStats.h"
#include "queue/SharedTokens.h"
#include "queue/TokenLease.h"

namespace mega {

// A record handed out by Next(), until Done(): opaque to the users of a backend.
using RecordTag = uint64_t;

// The mutable part of a record that is not done: attempts made so far and the earliest time
// of the next one. Kept with the record, so a retry schedule survives a restart.
struct RecordState {
    uint16_t attempts = 0;
    uint32_t retry_at = 0;  // unix seconds, 0 = none
};

// The account of [wechat] (config/Accounts.h), whose pause is kept where it was before accounts.
inline constexpr std::string_view kDefaultAccount = "default";

// Whether the account is paused (45009 daily quota, or an operator), and why.
struct PauseState {
    bool paused = false;
    bool by_operator = false;
    std::string reason;
    int64_t since_ms = 0;
    int64_t until_ms = 0;  // 0 = until resumed
};

// What an append must wait for before it is acknowledged: its record and its msgkey durable.
struct AppendTicket {
    int level = 0;
    uint64_t seq = 0;      // the record's
    uint64_t key_seq = 0;  // its msgkey's, 0 when it has none
};

// A message that failed for good, as kept in the failed store.
struct DeadLetter {
    int errcode = 0;
    int64_t failed_ms = 0;
    uint16_t attempts = 0;
    std::string_view error;    // WeChat's reply or our own description
    std::string_view message;  // the original message payload (DecodeMessage)
};

struct BackendStats {
    uint64_t depth[kPriorityLevels] = {};  // records not done, per priority
    uint64_t disk_bytes = 0;
    uint64_t scanning_segments = 0;  // still being checked after a restart
    bool writable = true;            // appends can succeed (no write error seen)
    SyncTimes syncs;                 // the message queues' flushes
    RecoveryCounts recovery;         // what recovery skipped, everywhere
    uint64_t dead_letters = 0, msgkeys = 0;
};

class QueueBackend {
  public:
    virtual ~QueueBackend() = default;

    // --- The intake.
    // True if a message with this idempotency key was appended within [retry] dedup_window.
    virtual bool KeySeen(std::string_view msgkey, int64_t now_ms) const = 0;
    // Appends `m` at its priority and remembers its msgkey (if any). Staged: it is written at
    // the next Publish() and acknowledged once Durable(*ticket). Full when the disk cap or the
    // disk is reached, Invalid when the record is too big.
    virtual Status Append(const Message& m, std::string_view msgkey, int64_t now_ms,
                          AppendTicket* ticket) = 0;
    // Writes what was staged (once per loop iteration, before any reply goes out).
    virtual void Publish() = 0;
    // Group commit: the appends at `level` have clients waiting on their acknowledgement.
    virtual void RequestSync(int level) = 0;
    virtual bool Durable(const AppendTicket& ticket) const = 0;
    // Once Durable(ticket): whether the append turned out to be a duplicate, nothing queued
    // (its msgkey was appended within the window elsewhere, unseen by KeySeen: another node
    // on a shared queue). A flag in the ticket could not tell, as this is known only when the
    // shared store answers. FileBackend: never (KeySeen sees every msgkey).
    virtual bool Duplicate(const AppendTicket& ticket) const {
        (void)ticket;
        return false;
    }

    // --- The dispatcher.
    virtual bool HasUnread(int level) const = 0;
    // Hands out the next record of `level` not handed out yet; false when there is none.
    virtual bool Next(int level, RecordTag* tag) = 0;
    // The payload (EncodeMessageHeader + parts) of a handed-out record, valid until Done.
    virtual std::string_view Payload(RecordTag tag) const = 0;
    virtual RecordState State(RecordTag tag) const = 0;
    virtual void SetState(RecordTag tag, RecordState state) = 0;  // retry later
    // Hands a record that must wait until state.retry_at back to a backend that keeps waiting
    // records itself (Redis: shared by every node, so a retry outlives the node): the tag
    // ends here and Next() hands the record out again once it is due. False (FileBackend):
    // the caller keeps the record waiting, and its tag stays valid.
    virtual bool Requeue(RecordTag tag, RecordState state) {
        (void)tag;
        (void)state;
        return false;
    }
    // The record's delivery ended: it is never handed out again, even after a restart.
    virtual void Done(RecordTag tag) = 0;

    // --- Dead letters: messages that failed for good, until retried or forgotten.
    virtual Status AddDeadLetter(int errcode, uint16_t attempts, std::string_view error,
                                 std::string_view payload) = 0;
    virtual bool FindDeadLetter(uint64_t id, DeadLetter* out) const = 0;
    virtual bool RemoveDeadLetter(uint64_t id) = 0;
    // Oldest first; `fn` returns false to stop.
    virtual void ForEachDeadLetter(
        const std::function<bool(uint64_t id, const DeadLetter&)>& fn) const = 0;
    virtual std::vector<uint64_t> DeadLetterIds() const = 0;
    virtual uint64_t dead_letter_count() const = 0;
    // Queues the dead letter again (due now) and forgets it; NotFound if there is none.
    virtual Status RequeueDeadLetter(uint64_t id) = 0;

    // --- Each account's pause (by account name; kDefaultAccount is [wechat]'s), kept across
    // restarts and, on a shared backend, seen by every node.
    virtual Status SavePause(std::string_view account, const PauseState& state) = 0;
    // NotFound when none was ever saved.
    virtual Status LoadPause(std::string_view account, PauseState* state) = 0;

    // --- Shared by every node (Redis); a backend of one node keeps none of it.
    // How often a saved pause was changed by another node (seen by polling): when this
    // grows, LoadPause has the new ones.
    virtual uint64_t pause_changes() const { return 0; }
    // This node's lease on the rate bucket of the account `account`, shared by every node
    // (owned by the backend, valid while it lives); null: the node's own bucket decides.
    virtual TokenLease* LeaseRate(std::string_view account) {
        (void)account;
        return nullptr;
    }
    // The accounts' access tokens kept for every node (thread-safe); null: each node's own.
    virtual SharedTokens* shared_tokens() { return nullptr; }

    // Housekeeping, about once a second (forgets expired msgkeys).
    virtual void Tick(int64_t now_ms) = 0;
    virtual BackendStats Stats() const = 0;
    // Makes everything appended durable and releases the files or connections. Idempotent.
    virtual Status Close() = 0;
};

}  // namespace mega
