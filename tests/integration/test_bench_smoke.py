"""Smoke test of the benchmark tools (tools/bench): mega-bench against a harness-started mega
(push, send, and a key that does not exist), then `tools/bench/compare --quick`. Asserts that
work was done and errors were counted right, never how fast: no timing thresholds.
mega-bench comes from the build dir (tools/bench/mega-bench) or is compiled here with c++.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

# mega-bench's body is {"t":"<unix ms>","pad":"xx…"}: the template uses both.
BENCH_TEMPLATE = json.dumps({
    "touser": "${OPENID}", "template_id": "bench-template",
    "data": {"t": {"value": "${t}"}, "pad": {"value": "${pad}"}}}, separators=(",", ":"))

env = harness.Env("bench")
state = {}


def mega_bench_binary():
    built = os.path.join(harness.BUILD_DIR, "tools", "bench", "mega-bench")
    if os.path.isfile(built) and os.access(built, os.X_OK):
        return built
    out = os.path.join(env.dir, "mega-bench")
    src = harness.SOURCE_DIR
    p = harness.run_captured(["c++", "-std=c++20", "-O2", "-Wall", "-Wextra", "-I", src,
                              os.path.join(src, "tools", "bench", "mega-bench.cpp"),
                              os.path.join(src, "protocol", "Frame.cpp"), "-pthread", "-o", out],
                             timeout=240)
    check(p.returncode == 0, f"compiling mega-bench failed: {p.stderr.decode()[-2000:]}")
    return out


def setup():
    db = env.mariadb({"bench": BENCH_TEMPLATE})
    state["fake"] = env.fake_wechat(latency_ms=0)
    state["mega"] = env.mega(db=db, overrides={"server": {"fsync": "interval"}})
    state["bench"] = mega_bench_binary()


def bench(*args, timeout=120):
    """Runs mega-bench --json against the test server; returns (exit code, result dict)."""
    cmd = [state["bench"], "--port", str(state["mega"].port), "--json", "--max-seconds", "60",
           *map(str, args)]
    p = harness.run_captured(cmd, timeout=timeout)
    lines = [l for l in p.stdout.decode().splitlines() if l.startswith("{")]
    check(lines, f"mega-bench printed no JSON ({p.returncode}): {p.stderr.decode()[-2000:]}")
    return p.returncode, json.loads(lines[-1])


def test_push_reports_throughput_and_no_errors():
    rc, r = bench("--cmd", "push", "--key", "bench", "--connections", 4, "--window", 16,
                  "--messages", 5000)
    check(rc == 0, f"exit {rc}: {r}")
    check(r["ok"] == 5000 and r["failed"] == 0 and r["errors"] == {}, f"result: {r}")
    check(r["msgs_per_s"] > 0 and r["seconds"] > 0, f"no throughput: {r}")
    check(r["stopped_by"] == "count" and r["unanswered"] == 0, f"result: {r}")
    lat = r["latency_ms"]
    check(0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], f"latency: {lat}")
    # The messages are real: mega delivers them, with the body mega-bench built.
    fake = state["fake"]
    harness.wait_until(lambda: fake.delivered() >= 5000, 120, "5000 deliveries")
    msgs = fake.messages()
    check(all(re.fullmatch(r"oBench\d{9}", m["touser"]) for m in msgs), "openids")
    check(len({m["touser"] for m in msgs}) == 5000, "openids are unique")
    body = fake.body_of(msgs[0])
    check(re.fullmatch(r"\d{13}", body["data"]["t"]["value"]), f"push time in body: {body}")


def test_send_waits_for_delivery():
    before = state["fake"].delivered()
    rc, r = bench("--cmd", "send", "--key", "bench", "--connections", 2, "--window", 8,
                  "--messages", 300)
    check(rc == 0 and r["ok"] == 300 and r["errors"] == {}, f"exit {rc}: {r}")
    check(r["msgs_per_s"] > 0, f"no throughput: {r}")
    check(state["fake"].delivered() >= before + 300, "send acknowledged before delivery")


def test_error_replies_are_counted_by_code():
    rc, r = bench("--cmd", "push", "--key", "no_such_key", "--connections", 2, "--window", 4,
                  "--messages", 50)
    check(rc == 1, f"exit {rc} despite errors")
    check(r["ok"] == 0 and r["failed"] == 50 and r["errors"] == {"400": 50}, f"result: {r}")


def test_compare_quick():
    """One tiny run per system that is installed (beanstalkd, Redis are skipped if not)."""
    cmd = [os.path.join(harness.SOURCE_DIR, "tools", "bench", "compare"), "--quick",
           "--build-dir", harness.BUILD_DIR]
    p = harness.run_captured(cmd, timeout=200)
    out = p.stdout.decode()
    check(p.returncode == 0, f"compare --quick exit {p.returncode}:\n{out}\n"
                             f"{p.stderr.decode()[-3000:]}")
    rates = re.findall(r"^quick: (\S+) \S+: (\d+) msgs/s", out, re.M)
    check(any(s == "mega" for s, _ in rates), f"no mega run in:\n{out}")
    check(all(int(v) > 0 for _, v in rates), f"a zero rate in:\n{out}")


harness.run_tests(globals(), env=env, setup=setup)
