// TokenLease (queue/TokenLease.h), a node's share of an account's rate bucket kept in Redis
// for every node, without Redis: when it asks, how many it asks for, what a short grant
// delays, and that a lost link leaves no token to spend. The Lua bucket itself is covered
// by tests/integration/test_redis_limits.py.
#include <doctest/doctest.h>

#include "queue/TokenLease.h"

using mega::TokenLease;

TEST_CASE("TokenLease: nothing to spend until a grant; an empty take asks at once") {
    int asks = 0;
    TokenLease lease([&asks] { asks++; });
    lease.SetRate(200, 20);
    CHECK(lease.batch() == 20);
    CHECK(lease.Want(0) == 0);  // nothing wanted yet: an idle account leases nothing
    CHECK_FALSE(lease.Take());
    CHECK(asks == 1);
    CHECK(lease.Want(0) == 20);
    lease.Asked(0);
    CHECK(lease.Want(0) == 0);  // one ask on its way at a time
    CHECK_FALSE(lease.Ready());
    lease.Granted(20, 20, 1);
    CHECK(lease.held() == 20);
    for (int i = 0; i < 20; i++) CHECK(lease.Take());
    CHECK_FALSE(lease.Take());
}

TEST_CASE("TokenLease: asks again when half the batch is spent, for what the batch lacks") {
    int asks = 0;
    TokenLease lease([&asks] { asks++; });
    lease.SetRate(200, 20);
    lease.Take();
    lease.Asked(0);
    lease.Granted(20, 20, 0);
    for (int i = 0; i < 9; i++) REQUIRE(lease.Take());
    CHECK(lease.Want(0) == 0);  // 11 held: more than half
    const int before = asks;
    REQUIRE(lease.Take());  // 10 held: half
    CHECK(asks == before + 1);
    CHECK(lease.Want(0) == 10);  // the batch again, never more
}

TEST_CASE("TokenLease: a short grant waits for the missing tokens to accrue (5 to 100 ms)") {
    TokenLease lease;
    lease.SetRate(200, 20);
    lease.Take();
    lease.Asked(1000);
    lease.Granted(20, 8, 1000);  // 12 missing: 60 ms at 200/s
    CHECK(lease.held() == 8);
    CHECK(lease.next_ask_ms() == 1060);
    for (int i = 0; i < 8; i++) REQUIRE(lease.Take());
    CHECK(lease.Want(1059) == 0);
    CHECK(lease.Want(1060) == 20);
    lease.Asked(1060);
    lease.Granted(20, 0, 1060);  // empty: 100 ms worth missing, the longest wait
    CHECK(lease.next_ask_ms() == 1160);
    lease.Asked(1160);
    lease.Granted(20, 19, 1160);  // 1 missing: 5 ms, never less
    CHECK(lease.next_ask_ms() == 1165);
    lease.Asked(1165);
    lease.Granted(20, 20, 1170);
    CHECK(lease.next_ask_ms() == 0);
}

TEST_CASE("TokenLease: a lost link drops the held tokens and the ask on its way") {
    TokenLease lease;
    lease.SetRate(50, 5);
    CHECK(lease.batch() == 5);
    lease.Take();
    lease.Asked(0);
    lease.Granted(5, 5, 0);
    lease.Lost();
    CHECK(lease.held() == 0);
    CHECK_FALSE(lease.Take());
    CHECK(lease.Want(0) == 5);  // asks again once the link is back
}

TEST_CASE("TokenLease: a slow rate still asks one token at a time; no rate asks nothing") {
    TokenLease lease;
    lease.SetRate(3, 1);
    CHECK(lease.batch() == 1);
    lease.Take();
    CHECK(lease.Want(0) == 1);
    TokenLease unlimited;
    unlimited.Take();
    CHECK(unlimited.Want(0) == 0);
}
