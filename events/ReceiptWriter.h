// The receipt writer: one thread that applies journaled events to MySQL in journal order
// (store/Receipts.h). A receipt whose message the log does not show as sent yet (the log
// writer may be behind) is tried again for [events] receipt_wait_s, then logged and counted
// as unknown.
// WeChat's repeats find the message already ended and are counted as repeats.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "config/Config.h"
#include "events/Receipt.h"
#include "events/ReceiptJournal.h"
#include "store/MysqlSession.h"
#include "store/Receipts.h"

namespace mega {

// What the events endpoint and the receipt writer counted (the admin API, /metrics).
struct ReceiptCounts {
    uint64_t delivered = 0, blocked = 0, undelivered = 0;  // receipts applied
    uint64_t repeats = 0;  // receipts for a message that already had one
    uint64_t unknown = 0;  // receipts for no message mega sent (or an unknown status)
    uint64_t choices = 0;  // subscribe choices recorded
    uint64_t pending = 0;  // journaled, not applied yet
    // The endpoint: pushes accepted, URL verifications, and refusals by reason.
    uint64_t pushes = 0, verified = 0;
    uint64_t bad_signature = 0, stale = 0, bad_appid = 0, malformed = 0, journal_errors = 0;
};

class ReceiptWriter {
  public:
    // Called (writer thread) for each receipt that ended a message.
    using OnEnded = std::function<void(const ReceiptMessage& message, ReceiptStatus status,
                                       uint64_t msgid, int64_t at_ms)>;
    // Called (writer thread) for each subscribe choice recorded: rejected or accepted.
    using OnChoice = std::function<void(const std::string& openid, const std::string& template_id,
                                        bool rejected)>;
    ReceiptWriter(const Config& config, ReceiptJournal* journal, OnEnded on_ended = {},
                  OnChoice on_choice = {});
    ~ReceiptWriter();  // stops the thread; what is not applied stays in the journal
    ReceiptWriter(const ReceiptWriter&) = delete;
    ReceiptWriter& operator=(const ReceiptWriter&) = delete;

    void Start();
    void Add(Receipt&& receipt, uint64_t end);  // any thread (the journal's Take)
    void Counts(ReceiptCounts* out) const;

  private:
    struct Item {
        Receipt receipt;
        uint64_t end = 0;  // journal offset after it
        uint64_t seq = 0;
        int64_t first_ms = 0, next_ms = 0;
    };
    void Main();
    bool Apply(MysqlSession& db, Item& item, int64_t now_ms);  // false: try again later
    void Finish(uint64_t seq);                                 // applied or given up

    const Config& config_;
    ReceiptJournal* journal_;
    OnEnded on_ended_;
    OnChoice on_choice_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Item> incoming_;  // guarded by mu_
    bool stop_ = false;
    uint64_t next_seq_ = 0;  // guarded by mu_
    // Writer thread: receipts waiting for their message's row, and which seqs are done.
    std::vector<Item> held_;
    std::deque<std::pair<uint64_t, bool>> order_;  // (end offset, done) from seq order_base_
    uint64_t order_base_ = 0;
    std::atomic<uint64_t> delivered_{0}, blocked_{0}, undelivered_{0}, repeats_{0}, unknown_{0},
        choices_{0}, pending_{0};
    std::thread thread_;
};

}  // namespace mega
