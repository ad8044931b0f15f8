// Unit tests for IdRuns (server/IdRuns): runs grow while nothing is skipped, a skip starts a
// new run, lookups hit exactly the marked ids, and only the newest runs are kept.
#include <doctest/doctest.h>

#include "store/IdRuns.h"

using mega::IdRuns;

TEST_CASE("IdRuns: marked ids in, skipped and unseen ids out") {
    IdRuns r(16);
    CHECK_FALSE(r.Contains(5));
    r.Skip();
    r.Mark(10);
    r.Mark(12);  // 11 was never seen (not a message): inside the run, harmless
    r.Mark(13);
    r.Skip();
    r.Mark(20);
    r.Skip();
    r.Skip();
    r.Mark(30);
    CHECK(r.runs() == 3);
    for (uint64_t id : {10, 12, 13, 20, 30}) CHECK_MESSAGE(r.Contains(id), id);
    for (uint64_t id : {1, 9, 14, 19, 21, 22, 29, 31, 1000}) CHECK_MESSAGE(!r.Contains(id), id);
}

TEST_CASE("IdRuns: one long burst of drops is one run") {
    IdRuns r(4);
    for (uint64_t id = 100; id < 100100; id++) r.Mark(id);
    CHECK(r.runs() == 1);
    CHECK(r.Contains(100));
    CHECK(r.Contains(50000));
    CHECK(r.Contains(100099));
    CHECK_FALSE(r.Contains(99));
    CHECK_FALSE(r.Contains(100100));
}

TEST_CASE("IdRuns: beyond max_runs the oldest runs are forgotten") {
    IdRuns r(3);
    for (uint64_t id = 1; id <= 10; id += 2) {  // marks 1,3,5,7,9, skips 2,4,6,8
        r.Mark(id);
        r.Skip();
    }
    CHECK(r.runs() == 3);
    CHECK_FALSE(r.Contains(1));
    CHECK_FALSE(r.Contains(3));
    CHECK(r.Contains(5));
    CHECK(r.Contains(7));
    CHECK(r.Contains(9));
    CHECK_FALSE(r.Contains(8));
}
