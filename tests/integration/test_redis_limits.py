"""State the nodes of one Redis queue share ([queue] backend = redis): a real redis-server, 3
mega nodes on loopback (port 0), fake-wechat answering at once. Each test has a key_prefix of
its own.
- one rate bucket for the whole cluster: rate_limit_per_second = 200 (burst left at its
  default, a tenth of a second's worth: B = 20) over 3 nodes, 700 pushes spread over them
  (about 3.5 s of sending). Over any 1 s of fake-wechat's receive times at most
  R + B + 3 * batch = 200 + 20 + 60 sends arrive: the shared bucket grants at most R per
  second plus its capacity B, and each node may still hold one unspent lease of at most a
  batch (a tenth of a second's worth, 20) granted before the window. With a bucket per node
  the 3 nodes send about 600 a second;
- a pause on node A (admin API) reaches node B: B reports it paused, a push to B is not sent
  until A resumes, and then it is;
- the access token: 3 nodes sending for one account make one token call between them (the
  one holding the refresh lock), and the others take the token from redis.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

RATE, BURST, NODES = 200, 20, 3
BATCH = RATE // 10  # a lease asks for a tenth of a second's worth (queue/TokenLease.h)
env = harness.Env("redislimits")
S = {}
DATA = {"product": "tea", "price": "3"}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["redis"] = env.redis()


def node(name, prefix, wechat=None, more=None):
    return env.mega(name, overrides={
        "server": {"node_id": name},
        "wechat": wechat or {},
        "queue": {"backend": "redis"},
        "redis": {"url": S["redis"].url, "key_prefix": prefix},
        **(more or {})})


def delivered_to(openids):
    wanted = set(openids)
    return [m for m in ds.Deliveries(S["fake"]).all() if m["touser"] in wanted]


def push_spread(nodes, openids):
    def push(i):
        ds.push_many(nodes[i], openids[i::len(nodes)], "order_paid", DATA)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(nodes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def busiest_second(times_ms):
    """The most sends in any sliding window of 1000 ms (two pointers over sorted times)."""
    times, worst, i = sorted(times_ms), 0, 0
    for j in range(len(times)):
        while times[j] - times[i] >= 1000:
            i += 1
        worst = max(worst, j - i + 1)
    return worst


def test_one_rate_bucket_for_the_cluster():
    nodes = [node(f"rate-{i}", "r1:", {"rate_limit_per_second": RATE}) for i in range(NODES)]
    openids = ds.openids("oRate", 700)
    push_spread(nodes, openids)
    wait_until(lambda: len(delivered_to(openids)) >= len(openids), 60,
               lambda: f"{len(openids)} delivered: {len(delivered_to(openids))}")
    got = delivered_to(openids)
    check(len({m["touser"] for m in got}) == len(openids), "each message delivered")
    worst = busiest_second([m["t_ms"] for m in got])
    bound = RATE + BURST + NODES * BATCH
    span = (max(m["t_ms"] for m in got) - min(m["t_ms"] for m in got)) / 1000
    print(f"  {len(got)} sent in {span:.2f} s by 3 nodes ("
          + ", ".join(str(ds.stats(n)["sent"]) for n in nodes)
          + f"); busiest 1 s: {worst} (bound {bound})")
    check(worst <= bound, f"{worst} sends in one second over 3 nodes; the shared bucket "
                          f"allows {bound}")


def account(mega):
    return ds.admin_get(mega, "/api/account")


def test_pause_on_one_node_holds_every_node():
    a, b = node("pause-a", "p1:"), node("pause-b", "p1:")
    ds.admin_post(a, "/api/account/pause", {"reason": "maintenance"})
    wait_until(lambda: account(b).get("paused") is True, 10,
               lambda: f"node B paused after A was: {account(b)}")
    openids = ds.openids("oPaused", 5)
    ds.push_many(b, openids, "order_paid", DATA)  # acknowledged: in redis, not sent
    wait_until(lambda: ds.stats(b)["queue"]["total"] == len(openids), 10,
               lambda: f"the pushes wait in the queue: {ds.stats(b)['queue']}")
    resumed_ms = int(time.time() * 1000)
    ds.admin_post(a, "/api/account/resume")
    wait_until(lambda: len(delivered_to(openids)) >= len(openids), 10,
               lambda: f"sent after the resume on A: {len(delivered_to(openids))}")
    early = [m for m in delivered_to(openids) if m["t_ms"] < resumed_ms]
    check(not early, f"nothing sent while paused on A: {early}")
    check(account(b).get("paused") is False, f"node B resumed: {account(b)}")


def test_a_named_accounts_pause_reaches_every_node():
    shop = {"account.shop": {"type": "wechat_oa", "app_id": "wxshop", "app_secret": "s2",
                             "api_base": S["fake"].base}}
    a, b = node("named-a", "p2:", more=shop), node("named-b", "p2:", more=shop)
    ds.admin_post(a, "/api/accounts/shop/pause", {"reason": "shop audit"})
    wait_until(lambda: ds.admin_get(b, "/api/accounts/shop").get("paused") is True, 10,
               lambda: f"node B's shop paused after A's: {ds.admin_get(b, '/api/accounts/shop')}")
    check(account(b).get("paused") is False, f"B's default account is not: {account(b)}")
    ds.admin_post(a, "/api/accounts/shop/resume")
    wait_until(lambda: ds.admin_get(b, "/api/accounts/shop").get("paused") is False, 10,
               "node B's shop resumed after A's")


def token_calls():
    st = S["fake"].stats()
    return st.get("token_requests", 0) + st.get("stable_token_requests", 0)


def test_three_nodes_make_one_token_call():
    before = token_calls()
    nodes = [node(f"token-{i}", "k1:") for i in range(NODES)]
    openids = ds.openids("oToken", 60)
    push_spread(nodes, openids)
    wait_until(lambda: len(delivered_to(openids)) >= len(openids), 30,
               lambda: f"{len(openids)} delivered: {len(delivered_to(openids))}")
    sent = [ds.stats(n)["sent"] for n in nodes]
    check(all(sent), f"every node sent some: {sent}")
    check(token_calls() - before == 1,
          f"one token call for the 3 nodes: {token_calls() - before}")
    check(S["redis"].command("EXISTS", "k1:{wxtest}:token:default") == 1,
          "the token is kept in redis for the nodes")


if __name__ == "__main__":
    harness.run_tests(globals(), env, setup)
