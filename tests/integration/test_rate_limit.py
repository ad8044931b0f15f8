"""Rate limit: [wechat] rate_limit_per_second = 200 (rate_burst left at its default, a
tenth of a second's worth: B = 20); 1,500 pushes with fake-wechat answering at once.
Everything is delivered, and the sends obey the token bucket: over any stretch of T seconds
of fake-wechat's receive times (/fake/messages t_ms) at most B + R*T messages arrive (+ 50 ms
worth of jitter), and fake-wechat never sees more than about 200 sends in any wall-clock
second (fake's max_per_second <= R + 10%, for a refill straddling a second boundary).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

N = 1500
RATE, BURST = 200, 20  # BURST: the default, rate / 10
env = harness.Env("ratelimit")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega(overrides={"wechat": {"rate_limit_per_second": RATE}})


def per_second(times_ms):
    h = {}
    for t in times_ms:
        h[t // 1000] = h.get(t // 1000, 0) + 1
    return [h.get(s, 0) for s in range(min(h), max(h) + 1)]


def test_all_delivered():
    fake, mega = S["fake"], S["mega"]
    ids = ds.openids("oRate", N)
    ds.push_many(mega, ids, "order_paid", {"product": "rate"}, window=512)
    d = ds.Deliveries(fake)
    wait_until(lambda: len(d.all()) >= N, 40,
               lambda: f"{N} messages delivered (have {len(d.all())})")
    got = d.tousers()
    check(sorted(got) == ids, f"deliveries differ from the pushes: {len(got)} for {N}")
    times = [m["t_ms"] for m in d.all()]
    S["times"] = times
    S["hist"] = per_second(times)
    S["max_per_second"] = fake.stats()["max_per_second"]
    span = (times[-1] - times[0]) / 1000
    print(f"  {N} delivered in {span:.2f} s ({N / max(span, 0.001):.0f}/s overall); per "
          f"wall-clock second: {S['hist']}; fake max_per_second {S['max_per_second']}")


def test_token_bucket_contract():
    times = sorted(S["times"])
    # any window [t_i, t_j] holds at most B + R*(t_j - t_i) sends (+1 for ms rounding)
    worst, where = 0.0, None
    for i in range(len(times)):
        for j in range(i + BURST, len(times), 25):
            excess = (j - i + 1) - (BURST + RATE * (times[j] - times[i]) / 1000.0)
            if excess > worst:
                worst, where = excess, (i, j, times[j] - times[i])
    # slack: 50 ms of jitter between the server's send and fake-wechat's receive time
    check(worst <= RATE * 0.05, f"the token bucket was exceeded by {worst:.1f} sends over the "
                                f"window {where} (i, j, ms)")
    total_s = (times[-1] - times[0]) / 1000
    check(total_s >= (N - BURST) / RATE * 0.95,
          f"{N} sends took {total_s:.2f} s; R={RATE}/s with B={BURST} needs >= "
          f"{(N - BURST) / RATE:.2f} s")


def test_steady_state_seconds_within_rate():
    hist = S["hist"]
    # whole seconds after the first two (the burst is spent by then), except the partial last
    steady = hist[2:-1]
    check(steady, f"too few seconds to judge: {hist}")
    check(max(steady) <= RATE * 1.1, f"a steady-state second carried {max(steady)} sends: {hist}")


def test_busiest_second_within_rate():
    check(S["max_per_second"] <= RATE * 1.1,
          f"fake-wechat saw {S['max_per_second']} sends in one wall-clock second with "
          f"rate_limit_per_second = {RATE} (rate_burst = {BURST}); per second: {S['hist']}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
