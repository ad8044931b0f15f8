// IdRuns: a bounded set of message ids kept as runs [first, last], for ids that arrive in
// increasing order, some marked and some not (the message log's dropped "queued" events:
// one burst of drops is one run, however long). Only the newest `max_runs` runs are kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

namespace mega {

class IdRuns {
  public:
    explicit IdRuns(size_t max_runs) : max_runs_(max_runs) {}

    void Mark(uint64_t id);  // id is in the set; marked ids increase
    void Skip();             // an id between two marked ones is not: the current run ends
    bool Contains(uint64_t id) const;
    size_t runs() const { return runs_.size(); }

  private:
    const size_t max_runs_;
    std::deque<std::pair<uint64_t, uint64_t>> runs_;  // ascending, disjoint
    bool open_ = false;  // the last run may still grow (nothing skipped since its last id)
};

}  // namespace mega
