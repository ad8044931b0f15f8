"""The dashboard's history (GET /api/history, mega_message_stats of schema 006) and the message
timeline (GET /api/messages/ID), against a real MariaDB, fake-wechat and mega.

- Messages pushed (one sent on its second attempt, one failing for good, 30 sent at once):
  once the log writer has flushed, the 24 h history counts exactly them (queued, sent, failed,
  retried, waits, WeChat calls), in 288 steps of 5 minutes ending now; 7 d has 168 hourly
  steps and also a bucket written 3 days ago; a bucket 9 days old was purged by the writer.
- A range other than 24h/7d: 400 with the ranges it takes.
- The timeline of the retried message: queued, attempt 1 failed (-1, with its latency), attempt
  2 sent; of the failed one: queued, attempt 1 failed (43004).
- MySQL stopped: /api/history answers 503 "message store unavailable", the server goes on
  (health answers, a message is delivered); MySQL back: the message sent meanwhile is counted.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ops_support as ops  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("history")
S = {}
HOUR = 3600 * 1000
BUCKET = 5 * 60 * 1000
LATENCY_MS = 5  # fake-wechat's answer delay, so that every call has a latency to record
NOW_MS = int(time.time() * 1000)
OLD_3D = (NOW_MS - 3 * 24 * HOUR) // BUCKET * BUCKET   # shown in 7 d, not in 24 h
OLD_9D = (NOW_MS - 9 * 24 * HOUR) // BUCKET * BUCKET   # purged (older than 8 days)


def setup():
    db = S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    db.sql("INSERT INTO mega_message_stats (bucket_ms, sent, wait_sum_ms, wait_count, wait_max_ms)"
           f" VALUES ({OLD_3D}, 7, 700, 7, 300), ({OLD_9D}, 1000, 0, 0, 0);")
    S["fake"] = env.fake_wechat(latency_ms=LATENCY_MS)
    S["mega"] = env.mega(overrides={"retry": {"tries": 3, "backoff": 1}})
    S["api"] = ops.Admin(S["mega"])


def history(range_):
    return S["api"].ok_get(f"/api/history?range={range_}")


def row_status(openid):
    rows = S["db"].sql(f"SELECT status FROM mega_message_log WHERE openid = '{openid}';")
    return rows[0][0] if rows else None


def wait_totals(range_, expected, what):
    """Waits until the history's totals have `expected` (a dict of some of their fields)."""
    last = [None]

    def matches():
        last[0] = history(range_)["totals"]
        return all(last[0][k] == v for k, v in expected.items())
    wait_until(matches, 60, lambda: f"{what}: totals {expected}, have {last[0]}")
    return last[0]


def test_history_counts_what_the_log_wrote():
    fake, mega = S["fake"], S["mega"]
    fake.configure(next_errors=[-1])  # the next call fails once (transient): one retry
    ops.push_all(mega, ["oHistRetry"], "order_paid", {"product": "tea"})
    wait_until(lambda: row_status("oHistRetry") == "sent", 30, "oHistRetry sent on its retry")
    fake.configure(fail_openids={"oHistFail": 43004})
    ops.push_all(mega, ["oHistFail"] + [f"oHist{i:02d}" for i in range(30)], "order_paid",
                 {"product": "jam"})
    # 32 accepted, 31 sent (one on its second attempt), 1 failed; WeChat calls: 33
    t = wait_totals("24h", {"queued": 32, "sent": 31, "failed": 1, "retried": 1,
                            "cancelled": 0, "wait_count": 31, "latency_count": 33},
                    "the log writer's buckets")
    check(t["latency_max_ms"] > 0 and t["latency_avg_ms"] > 0,
          f"no send latency recorded: {t}")
    check(0 <= t["wait_avg_ms"] <= t["wait_max_ms"], f"waits {t}")
    check(t["wait_max_ms"] >= 1000, f"oHistRetry waited its 1 s backoff: wait_max_ms {t}")

    h = history("24h")
    pts = h["points"]
    check(h["range"] == "24h" and h["step_ms"] == BUCKET and len(pts) == 288, f"24h shape {h}")
    check(all(p["t_ms"] == h["from_ms"] + i * BUCKET for i, p in enumerate(pts)),
          "24h steps are not consecutive 5-minute buckets")
    now = int(time.time() * 1000)
    check(pts[-1]["t_ms"] <= now < h["to_ms"], f"24h ends at {h['to_ms']}, now {now}")
    check(sum(p["sent"] for p in pts) == 31, "points do not add up to the totals")
    busy = [p for p in pts if p["sent"] or p["queued"]]
    check(busy and busy[0]["t_ms"] >= now - 3 * BUCKET, f"counts in old steps: {busy[:3]}")
    empty = pts[0]
    check(empty["wait_avg_ms"] is None and empty["latency_max_ms"] is None,
          f"an empty step has averages: {empty}")

    w = history("7d")
    check(w["step_ms"] == HOUR and len(w["points"]) == 168, f"7d shape {len(w['points'])}")
    check(w["totals"]["sent"] == 31 + 7, f"7d totals {w['totals']}")
    old = [p for p in w["points"] if p["t_ms"] == OLD_3D // HOUR * HOUR]
    check(old and old[0]["sent"] == 7 and old[0]["wait_max_ms"] == 300
          and old[0]["wait_avg_ms"] == 100, f"the bucket of 3 days ago in 7d: {old}")
    check(S["db"].sql(f"SELECT COUNT(*) FROM mega_message_stats WHERE bucket_ms = {OLD_9D};")
          == [["0"]], "the bucket of 9 days ago was not purged")


def test_unknown_range_is_refused():
    r = S["api"].get("/api/history?range=2d")
    err = ops.expect_error(r, 400, "range=2d")
    check("24h" in err and "7d" in err, f"the error does not name the ranges: {err}")


def message_detail(openid):
    items = S["api"].ok_get(f"/api/messages?openid={openid}")["items"]
    check(len(items) == 1, f"{openid}: {items}")
    return S["api"].ok_get(f"/api/messages/{items[0]['id']}")


def test_timeline_of_attempts():
    m = message_detail("oHistRetry")
    steps = [(s["event"], s["attempt"], s["errcode"]) for s in m["timeline"]]
    check(steps == [("queued", 0, 0), ("retry", 1, -1), ("sent", 2, 0)], f"timeline {steps}")
    tl = m["timeline"]
    check(m["timeline_itemized"] is True, f"not itemized: {m}")
    check(tl[0]["at_ms"] == m["created_ms"] and tl[2]["at_ms"] == m["sent_ms"],
          f"times {tl} vs row {m['created_ms']} {m['sent_ms']}")
    check(tl[0]["at_ms"] <= tl[1]["at_ms"] <= tl[2]["at_ms"], f"order {tl}")
    # each call's own latency is recorded (not compared with the fake's delay: libuv timers
    # may fire a fraction of a millisecond early, and tests hold no timing thresholds)
    check(tl[0]["latency_ms"] is None and tl[1]["latency_ms"] > 0 and tl[2]["latency_ms"] > 0,
          f"latencies {tl}")
    check(not any(s["from_row"] for s in tl), f"steps made from the row: {tl}")
    f = message_detail("oHistFail")
    steps = [(s["event"], s["attempt"], s["errcode"]) for s in f["timeline"]]
    check(steps == [("queued", 0, 0), ("failed", 1, 43004)], f"failed timeline {steps}")
    check("require subscribe" in f["timeline"][1]["errmsg"], f"errmsg {f['timeline'][1]}")


def test_mysql_down_then_back():
    api, fake, db = S["api"], S["fake"], S["db"]
    db.stop()
    r = api.get("/api/history?range=24h")
    err = ops.expect_error(r, 503, "history with MySQL down")
    check(err == "message store unavailable", f"error {err!r}")
    check(api.get("/api/health").status == 200, "health with MySQL down")
    fake.configure(fail_openids={})
    ops.push_all(S["mega"], ["oHistDown"], "order_paid", {"product": "cake"})
    wait_until(lambda: fake.messages_to("oHistDown"), 30, "delivery with MySQL down")
    ops.expect_error(api.get("/api/history?range=7d"), 503, "7d history with MySQL down")
    check(S["mega"].proc.poll() is None, "mega exited")
    db.start()
    wait_totals("24h", {"queued": 33, "sent": 32, "failed": 1, "wait_count": 32},
                "the message sent during the outage, counted once MySQL is back")


harness.run_tests(globals(), env=env, setup=setup)
