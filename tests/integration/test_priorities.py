"""Priorities: with a slow WeChat (fake latency 20 ms) and little concurrency (one sender
thread, max_inflight 4: about 200 sends/s), 10,000 pushes with priority=low are queued, then
50 with priority=high. The high ones overtake the backlog: in fake-wechat's delivery order
(/fake/messages) the last high message arrives while more than half of the lows are still
undelivered, only a handful of lows (the 1-in-20 turn low is offered first, plus what was
already in flight) arrive between the first and the last high one, and the lows keep
progressing after the highs were pushed.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

LOWS, HIGHS = 10_000, 50
INFLIGHT = 4
env = harness.Env("priorities")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=20)
    S["mega"] = env.mega(overrides={"setting": {"task_worker_num": 1, "max_inflight": INFLIGHT}})


def test_highs_overtake_a_low_backlog():
    fake, mega = S["fake"], S["mega"]
    lows, highs = ds.openids("oLow", LOWS), ds.openids("oHigh", HIGHS)
    ds.push_many(mega, lows, "order_paid", {"product": "low"}, options="priority=low",
                 window=512, timeout=120)
    delivered_at_high_push = fake.delivered()
    pending = ds.stats(mega)["queue"]["low"]
    print(f"  lows queued; {delivered_at_high_push} delivered, {pending} pending "
          f"when the highs are pushed")
    check(pending > LOWS // 2, f"the low backlog drained too fast to test anything ({pending} "
                               f"pending): is the fake's latency applied?")
    acked = ds.push_many(mega, highs, "order_paid", {"product": "high"}, options="priority=high")
    t_first_ack = min(acked.values())
    d = ds.Deliveries(fake)
    hs = set(highs)
    wait_until(lambda: hs <= set(d.tousers()), 60,
               lambda: f"the {HIGHS} high messages delivered "
                       f"(have {len(hs & set(d.tousers()))}, fake {fake.stats()})")
    order = d.tousers()
    pos = [i for i, t in enumerate(order) if t in hs]
    first, last = pos[0], pos[-1]
    lows_before_last = sum(1 for t in order[:last] if t.startswith("oLow"))
    lows_between = last - first + 1 - HIGHS
    print(f"  high deliveries at positions {first}..{last}; {lows_before_last} lows delivered "
          f"before the last high ({LOWS - lows_before_last} still undelivered), {lows_between} "
          f"lows between the first and the last high")
    check(LOWS - lows_before_last > LOWS // 2,
          f"only {LOWS - lows_before_last} of {LOWS} lows were undelivered when the last high "
          f"arrived")
    check(len(pos) == HIGHS, f"high messages delivered {len(pos)} times, expected {HIGHS}")
    # 1 in 20 picks offers low first: <= 3 lows for 50 highs, plus the ones in flight
    check(lows_between <= 3 + INFLIGHT + 3,
          f"{lows_between} lows were delivered between the first and the last high one")
    # once a high one was queued (acknowledged), only lows already in flight may go first
    msgs = d.all()
    late_lows = sum(1 for m in msgs[:first] if m["t_ms"] > t_first_ack)
    check(late_lows <= INFLIGHT + 3,
          f"{late_lows} lows reached WeChat after the first high push was acknowledged and "
          f"before the first high one")
    S["last_high"] = last


def test_lows_keep_progressing():
    fake = S["fake"]
    d = ds.Deliveries(fake)
    after = lambda: sum(1 for t in d.tousers()[S["last_high"] + 1:] if t.startswith("oLow"))  # noqa: E731
    wait_until(lambda: after() >= 100, 30, lambda: f"lows delivered after the highs ({after()})")
    lows = [t for t in d.tousers() if t.startswith("oLow")]
    check(len(lows) == len(set(lows)), "a low message was delivered twice")
    # each level is FIFO: the lows were taken in push order (4 in flight may swap neighbours)
    idx = [int(t[4:]) for t in lows]
    worst = max((a - b for a, b in zip(idx, idx[1:])), default=0)
    check(worst < 2 * INFLIGHT, f"lows out of FIFO order by {worst} places")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
