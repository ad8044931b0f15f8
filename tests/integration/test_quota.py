"""Daily quota (45009): fake-wechat accepts 20 sends a day, then answers 45009. The server pauses
the account: nothing more is sent (fake's request count stops growing), no message is failed
(even with [retry] tries = 1: the quota is not the message's fault), /api/account and
`mega-cli account status` show the pause with a reason naming the quota. After
/fake/clear_quota, `mega-cli account resume` makes sending resume and every message arrives.
Separately, with [wechat] quota_probe_s = 1, the server probes once a second while paused and
/fake/new_day alone makes it resume by itself.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

QUOTA = 20
env = harness.Env("quota")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=5)
    S["fake"].configure(quota=QUOTA)
    S["mega"] = env.mega(overrides={
        "retry": {"tries": 1},
        "setting": {"task_worker_num": 1, "max_inflight": 2},
        "wechat": {"quota_probe_s": 0},
    })


def account(mega):
    return ds.admin_get(mega, "/api/account")


def stable_requests(fake, quiet_s=2.0):
    """fake's request count once it stopped growing for quiet_s seconds (a wait on a
    non-event: the only way to see that nothing more is sent)."""
    last = fake.stats()["requests"]
    while True:
        time.sleep(quiet_s)
        now = fake.stats()["requests"]
        if now == last:
            return now
        last = now


def test_quota_pauses_without_failing_anything():
    fake, mega = S["fake"], S["mega"]
    ids = ds.openids("oQuota", 2 * QUOTA)  # the second half fills the next "day"
    S["ids"] = ids
    ds.push_many(mega, ids, "order_paid", {"product": "quota"})
    wait_until(lambda: account(mega)["paused"], 20, lambda: f"the account paused: {account(mega)}")
    reqs = stable_requests(fake)
    fs = fake.stats()
    print(f"  paused after {fs['delivered']} deliveries, {reqs} requests, errors {fs['errors']}")
    check(fs["delivered"] == QUOTA, f"fake delivered {fs['delivered']}, quota {QUOTA}")
    # once paused, at most what was already in flight (max_inflight 2) hit the quota
    check(fs["errors"].get("45009", 0) <= 2, f"sends went on after the first 45009: {fs}")
    acct = account(mega)
    check(acct["paused"] and not acct["by_operator"], f"/api/account: {acct}")
    check("quota" in acct["reason"] and "45009" in acct["reason"], f"reason: {acct['reason']}")
    st = ds.stats(mega)
    check(st["failed"] == 0 and st["paused"], f"/api/stats failed {st['failed']} paused {st['paused']}")
    check(st["quota_hits"] >= 1, f"/api/stats quota_hits {st['quota_hits']}")
    check(st["queue"]["total"] == QUOTA, f"queue: {st['queue']}")
    check(ds.failed_items(mega) == [], f"dead letters: {ds.failed_items(mega)}")
    rc, out, err = ds.mega_cli(mega, "account", "status")
    check(rc == 0 and out.startswith("account wxtest paused: ") and "quota" in out,
          f"mega-cli account status: {rc} {out!r} {err!r}")
    health = ds.admin_call(mega, "GET", "/api/health")
    check(health[1].get("status") == "degraded", f"/api/health while paused: {health}")


def test_clearing_the_quota_alone_does_not_resume_without_probes():
    fake, mega = S["fake"], S["mega"]
    ds.fake_post(fake, "/fake/clear_quota")
    before = fake.stats()["requests"]
    time.sleep(2)  # quota_probe_s = 0: nothing may be sent until an operator resumes
    check(fake.stats()["requests"] == before, "the server sent while paused")
    check(account(mega)["paused"], "the account resumed by itself")


def test_cli_resume_sends_the_rest():
    fake, mega = S["fake"], S["mega"]
    rc, out, err = ds.mega_cli(mega, "account", "resume")
    check(rc == 0, f"mega-cli account resume: {rc} {out} {err}")
    d = ds.Deliveries(fake)
    want = set(S["ids"])
    wait_until(lambda: want <= set(d.tousers()), 20,
               lambda: f"all {2 * QUOTA} delivered (missing {len(want - set(d.tousers()))})")
    check(not ds.duplicates(d.tousers()), "duplicates")
    check(not account(mega)["paused"], f"still paused: {account(mega)}")
    rc, out, err = ds.mega_cli(mega, "account", "status")
    check(rc == 0 and out.strip() == "account wxtest sending", f"account status: {out!r}")
    st = ds.stats(mega)
    check(st["failed"] == 0 and st["sent"] == 2 * QUOTA, f"/api/stats sent {st['sent']} failed {st['failed']}")


def test_probe_resumes_after_new_day():
    fake = env.fake_wechat(latency_ms=5)
    fake.configure(quota=QUOTA)
    mega = env.mega("probe", fake=fake, overrides={
        "retry": {"tries": 1},
        "setting": {"task_worker_num": 1, "max_inflight": 2},
        "wechat": {"quota_probe_s": 1},
    })
    ids = ds.openids("oProbe", 30)
    ds.push_many(mega, ids, "order_paid", {"product": "probe"})
    wait_until(lambda: account(mega)["paused"], 20, "the account paused")
    r0 = fake.stats()["requests"]
    time.sleep(3.2)
    r1 = fake.stats()["requests"]
    print(f"  while paused: {r1 - r0} requests in 3.2 s (probes, one a second)")
    check(1 <= r1 - r0 <= 5, f"{r1 - r0} requests in 3.2 s while paused with quota_probe_s = 1")
    check(fake.delivered() == QUOTA and account(mega)["paused"], "a probe got through a full quota")
    ds.fake_post(fake, "/fake/new_day")
    d = ds.Deliveries(fake)
    wait_until(lambda: set(ids) <= set(d.tousers()), 20,
               lambda: f"all 30 delivered after /fake/new_day (have {len(set(d.tousers()))})")
    wait_until(lambda: not account(mega)["paused"], 5, "the account resumed")
    st = ds.stats(mega)
    check(st["failed"] == 0 and ds.failed_items(mega) == [], f"/api/stats failed {st['failed']}")
    check(ds.grep(ds.log_text(mega), r"resumed: a probe message went through"),
          "the log does not name the probe as the reason to resume")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
