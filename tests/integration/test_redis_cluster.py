"""Several mega nodes on one queue in Redis ([queue] backend = redis): a real redis-server with
its AOF fsynced on every write, mega nodes on loopback (port 0), fake-wechat. Each test uses
a key_prefix of its own, so its nodes share a queue no other test sees.
- a msgkey pushed to node A and then to node B is sent once;
- 1,000 messages with delay=3 spread over 3 nodes are each sent once, none before 3 s;
- 3 nodes, fake-wechat at 50 ms, one node kill -9'ed mid-run: every acknowledged message is
  delivered; the test reports how many arrived twice (only the killed node's in flight may);
- Redis killed (-9) and started again from its AOF under push load: no acknowledged message
  is lost, and pushes get 503 while it is away;
- a poison message (its node dies each time it sends it) ends as a dead letter after
  max_deliveries.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("redis")
S = {}
DATA = {"product": "tea", "price": "3"}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["redis"] = env.redis()


def node(name, prefix, setting=None, **redis):
    return env.mega(name, overrides={
        "setting": setting or {},
        "server": {"node_id": name},
        "queue": {"backend": "redis"},
        "redis": {"url": S["redis"].url, "key_prefix": prefix, "claim_idle_ms": 1000,
                  **redis}})


def idle(mega):
    s = ds.stats(mega)
    return s["queue"]["total"] == 0 and s["inflight"] == 0


def health(mega):
    status, body = ds.admin_call(mega, "GET", "/api/health")
    return body.get("status") if isinstance(body, dict) else status


def delivered_to(openids):
    wanted = set(openids)
    return [m for m in ds.Deliveries(S["fake"]).all() if m["touser"] in wanted]


def test_msgkey_pushed_to_two_nodes_is_sent_once():
    a, b = node("key-a", "t1:"), node("key-b", "t1:")
    with a.client() as c:
        r = c.call_push("oKeyA", "order_paid", DATA, options="msgkey=order-77")
        check((r.code, r.message) == (200, b""), f"push to A: {r}")
    wait_until(lambda: delivered_to(["oKeyA"]), 10, "A's message delivered")
    with b.client() as c:
        r = c.call_push("oKeyB", "order_paid", DATA, options="msgkey=order-77")
        check(r.code == 200, f"push to B: {r}")
        # a later, unkeyed push to B: once it is delivered, B's earlier one would have been
        r = c.call_push("oKeyLater", "order_paid", DATA)
        check(r.code == 200, f"unkeyed push to B: {r}")
    wait_until(lambda: delivered_to(["oKeyLater"]) and idle(a) and idle(b), 10, "both idle")
    got = [m["touser"] for m in delivered_to(["oKeyA", "oKeyB"])]
    check(got == ["oKeyA"], f"msgkey order-77 sent once, to oKeyA: {got}")


def test_delayed_messages_over_three_nodes_each_once_not_before_due():
    nodes = [node(f"delay-{i}", "t2:") for i in range(3)]
    openids = ds.openids("oDelay", 1000)
    started = {}

    def push(i):
        part = openids[i::3]
        started[i] = int(time.time() * 1000)
        ds.push_many(nodes[i], part, "order_paid", DATA, options="delay=3")

    threads = [threading.Thread(target=push, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: len(delivered_to(openids)) >= len(openids), 30,
               lambda: f"{len(openids)} delayed messages delivered: {len(delivered_to(openids))}")
    got = delivered_to(openids)
    dups = ds.duplicates([m["touser"] for m in got])
    check(not dups, f"each delayed message once: {len(dups)} twice or more")
    for i in range(3):
        early = [m for m in got if m["touser"] in set(openids[i::3])
                 and m["t_ms"] < started[i] + 3000]
        check(not early, f"none before its delay of 3 s: {early[:3]}")
    print(f"  delayed: {len(got)} sent, by node: " +
          ", ".join(str(ds.stats(n)["sent"]) for n in nodes))


def test_node_killed_mid_run_loses_nothing():
    fake = S["fake"]
    ds.fake_post(fake, "/fake/config", {"latency_ms": 50})
    try:
        # a small sender pool, so that the run lasts a few seconds at 50 ms a call
        # claim_idle_ms 3 s: a node alive but slowed by a loaded machine keeps its records
        # (its heartbeat every second), so that only the killed node's are taken over
        nodes = [node(f"kill-{i}", "t3:", setting={"task_worker_num": 1, "max_inflight": 8},
                      claim_idle_ms=3000) for i in range(3)]
        dropped = fake.stats().get("dedup_dropped", 0)
        openids = ds.openids("oKill", 900)
        acked = {}

        def push(i):
            acked.update(ds.push_many(nodes[i], openids[i::3], "order_paid", DATA))

        threads = [threading.Thread(target=push, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_until(lambda: len(delivered_to(openids)) >= 150, 30, "deliveries under way")
        victim = nodes[2]
        inflight = ds.stats(victim)["inflight"]
        victim.proc.kill()
        victim.proc.wait()
        wait_until(lambda: set(acked) <= {m["touser"] for m in delivered_to(openids)}, 60,
                   lambda: f"every acknowledged message delivered: "
                           f"{len(set(m['touser'] for m in delivered_to(openids)))}/{len(acked)}")
        # fake-wechat drops a repeated client_msg_id (as WeChat does) and counts it
        repeated = len(ds.duplicates([m["touser"] for m in delivered_to(openids)])) + \
            fake.stats().get("dedup_dropped", 0) - dropped
        print(f"  node killed with {inflight} in flight: {len(acked)} acknowledged, all "
              f"delivered; {repeated} sent twice")
        # in flight at the kill itself: up to its 8 transfers (more may start after the look)
        check(repeated <= max(inflight, 8),
              f"only the killed node's in-flight messages may repeat: {repeated} > {inflight}")
    finally:
        ds.fake_post(fake, "/fake/config", {"latency_ms": 0})


def test_redis_restarted_under_push_load_loses_nothing():
    redis = S["redis"]
    a = node("restart-a", "t4:")
    acked, refused, errors = [], [0], []
    stop = threading.Event()

    def load():
        try:
            pushes()
        except Exception as e:  # shown by the waits below
            errors.append(repr(e))

    def pushes():
        i = 0
        while not stop.is_set():
            try:
                # a push in flight at the kill waits for redis: a short timeout moves on
                with a.client(timeout=2) as c:
                    while not stop.is_set():
                        openid = f"oRestart{i:06d}"
                        r = c.call_push(openid, "order_paid", DATA)
                        if r.code == 200:
                            acked.append(openid)
                            i += 1
                        else:
                            check(r.code == 503, f"a refused push is 503: {r}")
                            refused[0] += 1
                            time.sleep(0.02)  # pacing the retries of a refused push
            except (harness.Closed, OSError):
                time.sleep(0.02)

    t = threading.Thread(target=load)
    t.start()
    try:
        wait_until(lambda: len(acked) >= 100, 30, "pushes acknowledged before the restart")
        redis.kill()
        wait_until(lambda: refused[0] > 0 or errors, 30, "a push refused (503) while redis is away")
        check(not errors, f"the pushes: {errors}")
        wait_until(lambda: health(a) == "down", 10, "/api/health down while redis is away")
        at_restart = len(acked)
        redis.start()
        wait_until(lambda: len(acked) >= at_restart + 100, 30, "pushes acknowledged again")
    finally:
        stop.set()
        t.join(30)
    openids = set(acked)
    wait_until(lambda: openids <= {m["touser"] for m in delivered_to(openids)}, 60,
               lambda: f"acknowledged pushes delivered: "
                       f"{len(set(m['touser'] for m in delivered_to(openids)))}/{len(openids)}")
    dups = ds.duplicates([m["touser"] for m in delivered_to(openids)])
    print(f"  redis killed and restarted from its AOF: {len(acked)} acknowledged, all "
          f"delivered, {refused[0]} pushes refused (503) while it was away, {len(dups)} "
          f"delivered twice")


def test_poison_message_becomes_a_dead_letter():
    fake = S["fake"]
    # every send hangs (in flight, never executed) until its node dies
    ds.fake_post(fake, "/fake/config", {"timeout_rate": 1, "timeout_executes": 0})
    try:
        before = fake.stats()["held"]
        n = node("poison-0", "t5:", max_deliveries=2)
        with n.client() as c:
            check(c.call_push("oPoison", "order_paid", DATA).code == 200, "poison pushed")
        for i in range(1, 3):  # it dies sending it; the next node takes it over
            wait_until(lambda: fake.stats()["held"] >= before + i, 20, f"delivery {i} in flight")
            n.proc.kill()
            n.proc.wait()
            n = node(f"poison-{i}", "t5:", max_deliveries=2)
        wait_until(lambda: S["redis"].command("HLEN", "t5:{wxtest}:dead") == 1, 20,
                   "the poison message kept as a dead letter")
        wait_until(lambda: ds.stats(n)["dead_letters"] == 1, 10, "the node counts it")
        check(fake.stats()["held"] == before + 2, f"sent twice only: {fake.stats()}")
    finally:
        ds.fake_post(fake, "/fake/config", {"timeout_rate": 0})


if __name__ == "__main__":
    harness.run_tests(globals(), env, setup)
