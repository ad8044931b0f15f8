"""Dead letters: fake-wechat answers 43004 (not subscribed) for oBadA and 40037 (invalid
template_id) for oBadB. Both are permanent errors: each message goes to the failed store after
exactly one attempt (with [retry] tries = 5 allowed), and `mega-cli failed list` shows them
with attempts 1. A `send` for oBadA is answered `result 400` with WeChat's JSON plus the
openid, as the original did. Then the fake's failures are cleared and
`mega-cli -c INI failed retry --all` queues every dead letter again: all are delivered and
the failed list is empty.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("deadletter")
S = {}
BAD = {"oBadA": 43004, "oBadB": 40037}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["fake"].configure(fail_openids=BAD)
    S["mega"] = env.mega(overrides=ds.fast_retry(tries=5, backoff="1,1,2"))


def test_permanent_errors_fail_after_one_attempt():
    fake, mega = S["fake"], S["mega"]
    good = ds.openids("oGoodDL", 20)
    ds.push_many(mega, ["oBadA"], "order_paid", {"product": "a"}, options="source=shop")
    ds.push_many(mega, ["oBadB"] + good, "order_paid", {"product": "b"})
    d = ds.Deliveries(fake)
    wait_until(lambda: set(good) <= set(d.tousers()), 30, "the good messages delivered")
    items = wait_until(lambda: (lambda it: it if len(it) >= 2 else None)(ds.failed_items(mega)),
                       30, lambda: f"two dead letters (have {ds.failed_items(mega)})")
    by_openid = {it["openid"]: it for it in items}
    check(set(by_openid) == set(BAD), f"dead letters: {items}")
    for openid, code in BAD.items():
        it = by_openid[openid]
        check(it["attempts"] == 1, f"{openid}: attempts {it['attempts']}, expected 1: {it}")
        check(it["errcode"] == code, f"{openid}: errcode {it['errcode']}, expected {code}: {it}")
        check(it["class"] == "permanent", f"{openid}: class {it['class']}: {it}")
        check(str(code) in it["error"], f"{openid}: error text lacks WeChat's reply: {it}")
        check(it["key"] == "order_paid", f"{openid}: {it}")
    check("source=shop" in by_openid["oBadA"]["options"], f"source lost: {by_openid['oBadA']}")
    errs = fake.stats()["errors"]
    check(errs.get("43004") == 1 and errs.get("40037") == 1,
          f"fake-wechat should have answered each bad openid exactly once: {errs}")
    st = ds.stats(mega)
    check(st["failed"] == 2 and st["retried"] == 0 and st["dead_letters"] == 2,
          f"/api/stats: failed {st['failed']} retried {st['retried']} "
          f"dead_letters {st['dead_letters']}")


def test_cli_failed_list():
    rc, out, err = ds.mega_cli(S["mega"], "failed", "list")
    check(rc == 0, f"mega-cli failed list exited {rc}: {out} {err}")
    lines = out.splitlines()
    check(lines and lines[0] == "2 dead letters", f"failed list output:\n{out}")
    for openid, code in BAD.items():
        row = [line for line in lines if f"  {openid}  " in line]
        check(len(row) == 1, f"{openid} not listed once:\n{out}")
        check(f"errcode {code}" in row[0] and "attempts 1" in row[0] and "order_paid" in row[0],
              f"row for {openid}: {row[0]}")


def test_send_answers_400_with_wechat_json():
    with S["mega"].client(timeout=30) as c:
        r = c.call_send("oBadA", "order_paid", {"product": "send"})
    check(r.code == 400, f"send to a failing openid: {r}")
    body = json.loads(r.message)
    check(body.get("errcode") == 43004, f"send reply lacks WeChat's errcode: {body}")
    check("require subscribe" in body.get("errmsg", ""), f"send reply lacks WeChat's errmsg: {body}")
    check(body.get("openid") == "oBadA", f"send reply lacks the openid: {body}")
    # the failed send is a dead letter too
    wait_until(lambda: len(ds.failed_items(S["mega"])) == 3, 10, "the failed send listed")


def test_retry_all_after_the_fault_is_gone():
    fake, mega = S["fake"], S["mega"]
    fake.configure(fail_openids={})
    before = ds.Deliveries(fake).count_to(BAD)
    rc, out, err = ds.mega_cli(mega, "failed", "retry", "--all", "--json")
    check(rc == 0, f"mega-cli failed retry --all exited {rc}: {out} {err}")
    check(json.loads(out).get("retried") == 3, f"failed retry --all --json: {out}")
    d = ds.Deliveries(fake)
    wait_until(lambda: d.count_to(BAD) - before >= 3, 30,
               lambda: f"3 retried dead letters delivered (have {d.count_to(BAD) - before})")
    got = [m["touser"] for m in d.all() if m["touser"] in BAD]
    check(sorted(got) == ["oBadA", "oBadA", "oBadB"], f"deliveries to the bad openids: {got}")
    check(ds.failed_items(mega) == [], f"failed store not empty: {ds.failed_items(mega)}")
    rc, out, err = ds.mega_cli(mega, "failed", "list")
    check(rc == 0 and out.splitlines()[0] == "0 dead letters", f"failed list: {rc} {out} {err}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
