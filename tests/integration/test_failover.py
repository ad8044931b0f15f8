"""API-domain failover: [wechat] api_base = "http://127.0.0.1:<dead port>,http://127.0.0.1:<fake
port>". Nothing listens on the first: the server switches to the second, and every message is
delivered through it, none failed; /metrics mega_api_base_switches_total >= 1; the log names the
switch (from the dead base to the live one). Then a fake-wechat starts on the first port, and
after failover_healthy_s (2) healthy seconds on the fallback the server goes back to the first
base: later messages arrive there, the switch counter grows and the log says so.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

N = 200
env = harness.Env("failover")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    # refuses connections until fake-wechat is started on it (SO_REUSEADDR) in the 2nd test
    S["dead"] = harness.closed_port(reusable=True)
    S["dead_base"] = f"http://127.0.0.1:{S['dead']}"
    S["live_base"] = f"http://127.0.0.1:{S['fake'].port}"
    S["mega"] = env.mega(overrides=ds.fast_retry(
        tries=5, backoff="1,1,2",
        wechat={"api_base": f"{S['dead_base']},{S['live_base']}", "failover_healthy_s": 2}))


def test_messages_flow_through_the_second_base():
    fake, mega = S["fake"], S["mega"]
    ids = ds.openids("oFail", N)
    ds.push_many(mega, ids, "order_paid", {"product": "failover"})
    d = ds.Deliveries(fake)
    wait_until(lambda: set(ids) <= set(d.tousers()), 30,
               lambda: f"{N} delivered through the second base (have {len(set(d.tousers()))})")
    check(not ds.duplicates(d.tousers()), "duplicates")
    st = wait_until(lambda: (lambda s: s if s["sent"] == N else None)(ds.stats(mega)), 10,
                    lambda: f"sent {N}: {ds.stats(mega)}")
    check(st["failed"] == 0 and ds.failed_items(mega) == [], f"failed {st['failed']}")
    switches = ds.metric(mega, "mega_api_base_switches_total")
    check(switches is not None and switches >= 1, f"mega_api_base_switches_total {switches}")
    S["switches"] = switches
    lines = wait_until(lambda: ds.grep(ds.log_text(mega), r"api_base: .* switching to "), 5,
                       "the switch in the log file")
    print(f"  {switches:.0f} switch(es); {lines[0]}")
    check(S["dead_base"] in lines[0] and S["live_base"] in lines[0].split("switching to")[1],
          f"the log line does not name the bases: {lines[0]}")


def test_back_to_the_first_base_when_healthy():
    mega = S["mega"]
    first = env.fake_wechat(latency_ms=0, extra_args=("--port", str(S["dead"])))
    check(first.port == S["dead"], f"fake-wechat took port {first.port}, not {S['dead']}")
    # keep messages flowing: the server returns to the first base after 2 healthy seconds
    d_first = ds.Deliveries(first)
    n = 0

    def some_arrive_on_first():
        nonlocal n
        ds.push_many(mega, [f"oBack{n:05d}"], "order_paid", {"product": "back"})
        n += 1
        return d_first.all()
    wait_until(some_arrive_on_first, 20, lambda: f"messages to reach the first base again "
               f"({n} pushed since it came up; failover_healthy_s = 2)", interval=0.2)
    switches = ds.metric(mega, "mega_api_base_switches_total")
    check(switches >= S["switches"] + 1, f"switch counter {switches} (was {S['switches']})")
    lines = wait_until(lambda: ds.grep(ds.log_text(mega), r"api_base: back to "), 5,
                       "'api_base: back to' in the log file")
    print(f"  after {n} pushes: {lines[0]}")
    check(S["dead_base"] in lines[0], f"the log line does not name the first base: {lines[0]}")
    # and everything pushed meanwhile arrived somewhere, once
    want = {f"oBack{i:05d}" for i in range(n)}
    wait_until(lambda: want <= set(ds.Deliveries(S["fake"]).tousers() + d_first.tousers()), 10,
               "every message pushed during the return delivered")
    got = [t for t in ds.Deliveries(S["fake"]).tousers() + d_first.tousers() if t in want]
    check(len(got) == len(want), f"duplicates while returning: {ds.duplicates(got)}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
