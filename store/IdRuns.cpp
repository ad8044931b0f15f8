// IdRuns: marking extends the open run or starts a new one (dropping the oldest beyond the
// bound); lookups are a binary search over the runs.
#include "store/IdRuns.h"

#include <algorithm>
#include <iterator>

namespace mega {

void IdRuns::Mark(uint64_t id) {
    if (open_ && !runs_.empty()) {
        runs_.back().second = id;
        return;
    }
    runs_.emplace_back(id, id);
    open_ = true;
    if (runs_.size() > max_runs_) runs_.pop_front();
}

void IdRuns::Skip() {
    open_ = false;
}

bool IdRuns::Contains(uint64_t id) const {
    // The last run that starts at or before id.
    auto it = std::upper_bound(runs_.begin(), runs_.end(), id,
                               [](uint64_t v, const auto& run) { return v < run.first; });
    return it != runs_.begin() && id <= std::prev(it)->second;
}

}  // namespace mega
