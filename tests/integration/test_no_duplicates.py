"""No duplicate after a crash: every template message carries a stable client_msg_id (its
msgkey, or one derived from its message id, which the queue keeps across restarts), so a
message mega sent but never heard back about is sent again after kill -9 + restart with the
same id, and WeChat (fake-wechat, one send per touser + client_msg_id within 10 minutes)
drops the repeat.

3,000 pushes, each to its own openid: a third without msgkey, a third with a short msgkey
(sent as is) and a third with a 100-byte msgkey (longer than mega sends: mapped to a short
stable id). fake-wechat answers after a long latency, so hundreds of sends are in flight
(received and counted by fake-wechat, unanswered) when mega is killed. After the restart
every message is delivered exactly once, and fake-wechat's dedup counter shows the repeats
it dropped.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

N = 3000
IN_FLIGHT = 200          # sends fake-wechat holds unanswered when mega is killed
LATENCY_MS = 5000        # below http_timeout_ms: nothing times out, answers only come late
MAX_CLIENT_MSG_ID = 32   # bytes mega sends at most (README: client_msg_id)
env = harness.Env("nodup")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=LATENCY_MS)
    S["mega"] = env.mega(overrides={
        "server": {"fsync": "always"},
        "setting": {"task_worker_num": 2, "max_inflight": 256, "http_timeout_ms": 30000},
    })
    S["openids"] = ds.openids("oNoDup", N)


def msgkey(openid):
    """None for a third of the openids, a short key, or a key of 100 bytes."""
    i = int(openid[len("oNoDup"):])
    if i % 3 == 0:
        return None
    if i % 3 == 1:
        return f"k-{i}"
    return f"long-{i:06d}-" + "x" * (100 - 12)


def options(openid):
    k = msgkey(openid)
    return f"msgkey={k}" if k else ""


def test_kill_with_sends_in_flight():
    fake, mega = S["fake"], S["mega"]
    ds.admin_post(mega, "/api/account/pause", {"reason": "load first"})
    ds.push_many(mega, S["openids"], "order_paid", lambda o: {"product": o}, options=options)
    ds.admin_post(mega, "/api/account/resume")
    st = wait_until(lambda: (lambda s: s if s["inflight"] >= IN_FLIGHT else None)(fake.stats()),
                    30, lambda: f"{IN_FLIGHT} sends held by fake-wechat ({fake.stats()})")
    mega.kill()  # SIGKILL while fake-wechat holds their answers
    after = fake.stats()
    print(f"  killed with {st['inflight']} sends in flight; fake-wechat received "
          f"{after['delivered']} of {N}")
    check(0 < after["delivered"] < N, f"the kill did not come mid-delivery: {after}")
    check(after["dedup_dropped"] == 0, f"repeats before the restart: {after}")


def test_restart_delivers_each_message_once():
    fake, mega = S["fake"], S["mega"]
    fake.configure(latency_ms=0)
    mega.start()  # same ini, same queue directory: the unanswered sends go again
    want = set(S["openids"])
    d = ds.Deliveries(fake)
    wait_until(lambda: want <= set(d.tousers()), 60,
               lambda: f"every message delivered ({len(want - set(d.tousers()))} missing)")
    wait_until(lambda: (lambda s: s["queue"]["total"] == 0 and s["inflight"] == 0)(ds.stats(mega)),
               60, lambda: f"the queue to drain: {ds.stats(mega)['queue']}")
    got = d.tousers()
    fs = fake.stats()
    dups = ds.duplicates(got)
    print(f"  {len(got)} deliveries for {N} messages, {sum(v - 1 for v in dups.values())} "
          f"duplicates; fake-wechat dropped {fs['dedup_dropped']} repeats")
    check(set(got) == want, f"deliveries to openids never pushed: {sorted(set(got) - want)[:5]}")
    check(not dups, f"{len(dups)} messages delivered more than once, e.g. {sorted(dups)[:5]}")
    check(fs["dedup_dropped"] > 0, f"no repeat reached fake-wechat: the crash path was not run {fs}")
    check(fs["requests"] == fs["delivered"] + fs["dedup_dropped"], f"sends that failed: {fs}")


def test_every_message_carries_a_stable_short_client_msg_id():
    by_openid = {m["touser"]: m for m in ds.Deliveries(S["fake"]).all()}
    ids = [m["client_msg_id"] for m in by_openid.values()]
    check(len(set(ids)) == N, f"{N - len(set(ids))} client_msg_ids shared by two messages")
    bad = []
    for openid, m in by_openid.items():
        cid, k = m["client_msg_id"], msgkey(openid)
        body = harness.FakeWechat.body_of(m)
        ok = body.get("client_msg_id") == cid and 0 < len(cid.encode()) <= MAX_CLIENT_MSG_ID
        if k is not None and len(k) <= MAX_CLIENT_MSG_ID:
            ok = ok and cid == k  # a short msgkey is sent as it is
        if not ok:
            bad.append((openid, k, cid))
    check(not bad, f"{len(bad)} deliveries with a wrong client_msg_id, e.g. {bad[:3]}")


def test_sigterm_exits_zero():
    rc = S["mega"].stop()
    check(rc == 0, f"mega exited {rc} on SIGTERM\n{S['mega'].diagnostics()}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
