"""Delayed delivery: a push with delay=5 reaches fake-wechat no earlier than 5 s after it was
pushed and (generously) within 5+3 s; a push with at=UNIX_TIME no earlier than that second and
within 3 s after it; an at= in the past is sent at once. While they wait, /api/waiting lists
them as delayed with their due time, and they do not hold up a message pushed after them.
This spec is about time, so times are asserted: fake-wechat's t_ms (unix ms at receipt)
against the test's clock around the push (same host, same clock).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("delay")
S = {}
LATE_MARGIN_MS = 3000


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega()


def now_ms():
    return int(time.time() * 1000)


def push(openid, options):
    t0 = now_ms()
    with S["mega"].client() as c:
        r = c.call_push(openid, "order_paid", {"product": "later"}, options=options)
    t1 = now_ms()
    check(r.code == 200 and r.message == b"", f"push {openid} {options}: {r}")
    return t0, t1


def test_delay_and_at():
    fake, mega = S["fake"], S["mega"]
    d = ds.Deliveries(fake)
    t_delay = push("oDelay5", "delay=5")
    at_s = int(time.time()) + 6
    t_at = push("oAt", f"at={at_s}")
    t_now = push("oNow", "")
    t_past = push("oPast", f"at={int(time.time()) - 3600}")

    # while they wait: listed as delayed, with their due times
    w = {it["openid"]: it for it in ds.admin_get(mega, "/api/waiting")["items"]}
    check(now_ms() < t_delay[0] + 5000, "the test was too slow to look at /api/waiting in time")
    check("oDelay5" in w and "oAt" in w, f"/api/waiting does not list the delayed messages: {w}")
    check(w["oDelay5"]["kind"] == "delayed" and w["oDelay5"]["attempts"] == 0, f"{w['oDelay5']}")
    check(t_delay[0] + 5000 <= w["oDelay5"]["due_ms"] <= t_delay[1] + 5000,
          f"oDelay5 due at {w['oDelay5']['due_ms']}, pushed in [{t_delay[0]}, {t_delay[1]}]")
    check(w["oAt"]["kind"] == "delayed" and w["oAt"]["due_ms"] == at_s * 1000, f"{w['oAt']}")
    check(ds.admin_get(mega, "/api/waiting")["total"] >= 2, "waiting total")

    # the undelayed ones go at once, ahead of the delayed
    wait_until(lambda: {"oNow", "oPast"} <= set(d.tousers()), 10, "oNow and oPast delivered")
    check(not {"oDelay5", "oAt"} & set(d.tousers()), f"a delayed message went early: {d.tousers()}")

    wait_until(lambda: {"oDelay5", "oAt"} <= set(d.tousers()), 20, "the delayed messages delivered")
    t = {m["touser"]: m["t_ms"] for m in d.all()}
    print(f"  oDelay5 arrived {t['oDelay5'] - t_delay[1]} ms after its push reply; oAt "
          f"{t['oAt'] - at_s * 1000} ms after its time; oNow {t['oNow'] - t_now[1]} ms, "
          f"oPast {t['oPast'] - t_past[1]} ms")
    check(t["oDelay5"] >= t_delay[0] + 5000,
          f"delay=5 delivered {t['oDelay5'] - t_delay[0]} ms after the push started")
    check(t["oDelay5"] <= t_delay[1] + 5000 + LATE_MARGIN_MS,
          f"delay=5 delivered {t['oDelay5'] - t_delay[1]} ms after the push reply")
    check(t["oAt"] >= at_s * 1000, f"at= delivered {at_s * 1000 - t['oAt']} ms early")
    check(t["oAt"] <= at_s * 1000 + LATE_MARGIN_MS, f"at= delivered {t['oAt'] - at_s * 1000} ms late")
    check(t["oNow"] <= t_now[1] + LATE_MARGIN_MS and t["oPast"] <= t_past[1] + LATE_MARGIN_MS,
          "the undelayed messages were slow")
    check(ds.admin_get(mega, "/api/waiting")["total"] == 0, "something still waiting")
    check(len(d.tousers()) == 4, f"deliveries: {d.tousers()}")


def test_bad_delay_values_refused():
    with S["mega"].client() as c:
        for opt in ("delay=-1", "delay=abc", "delay=31622401", "at=x"):
            r = c.call_push("oBadDelay", "order_paid", None, options=opt)
            name = opt.split("=")[0]
            check((r.code, r.text()) == (400, f"bad value for {name}"), f"{opt}: {r}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
