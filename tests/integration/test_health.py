"""Health that tells the truth, /metrics for Prometheus, and a `send` that fails fast.
- /api/health: ok (200) when all is well; degraded (200) when most WeChat calls of the last
  minute failed; down (503) when no access_token can be had; ok again after recovery.
- A `send` with credentials WeChat refuses is answered at once with WeChat's error.
- [admin] metrics_public = 1 serves /metrics without the token (the API still needs it);
  mega_build_info and the process_* metrics are there.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ops_support as ops  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("health")
S = {}
TOKEN = "health-test-token"


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["good"] = env.mega("good", overrides={
        "admin": {"token": TOKEN, "metrics_public": 1},
        "retry": {"tries": 100, "backoff": "1"}})
    S["bad"] = env.mega("bad", overrides={"wechat": {"app_secret": "rotated-away"}})


def health(mega, token=None):
    r = ops.Admin(mega, token).get("/api/health")
    return r.status, r.doc


def test_ok_when_all_is_well():
    with S["good"].client() as c:
        check(c.call_push("oHealthy", "order_paid", {"product": "tea"}).code == 200, "push")
    wait_until(lambda: S["fake"].delivered() >= 1, 30, "the push delivered")
    status, doc = health(S["good"])
    check((status, doc["status"], doc["problems"]) == (200, "ok", []), f"health: {doc}")


def test_degraded_while_most_calls_fail():
    fake, mega = S["fake"], S["good"]
    fake.configure(fail_rate=1, fail_codes=[-1])  # system busy: transient, retried
    try:
        with mega.client() as c:
            for i in range(12):
                check(c.call_push(f"oBusy{i}", "order_paid", None).code == 200, "push")
        wait_until(lambda: health(mega)[1]["status"] == "degraded", 60, "degraded")
        status, doc = health(mega)
        check(status == 200 and any("WeChat calls failed in the last minute" in p
                                    for p in doc["problems"]), f"health: {doc}")
    finally:
        fake.configure(fail_rate=0)


def test_send_with_refused_credentials_fails_fast_and_health_is_down():
    mega, fake = S["bad"], S["fake"]
    t0 = time.monotonic()
    with mega.client(timeout=25) as c:
        r = c.call_send("oRefused", "order_paid", {"product": "tea"})
    took = time.monotonic() - t0
    print(f"send with a refused secret answered in {took:.2f} s")
    check(r.code == 400 and b"40125" in r.message, f"WeChat's error for the send: {r}")
    check(b"rotated-away" not in r.message, "the secret is not in the reply")
    t0 = time.monotonic()
    rc, out, err = ops.mega_cli(mega, "send", "oRefusedCli", "order_paid", '{"product":"tea"}')
    print(f"mega-cli send with a refused secret: exit {rc} in {time.monotonic() - t0:.2f} s")
    check(rc != 0 and "40125" in out + err, f"mega-cli send: exit {rc}: {out} {err}")
    status, doc = health(mega)
    check(status == 503 and doc["status"] == "down" and
          any("no access_token" in p for p in doc["problems"]), f"health: {status} {doc}")
    # The secret is reset in WeChat's console to what mega has: health recovers on its own.
    fake.configure(secret="rotated-away")
    try:
        with mega.client() as c:  # a push waits for a token and so asks for one again
            check(c.call_push("oAfterFix", "order_paid", None).code == 200, "push")
        wait_until(lambda: health(mega)[0] == 200 and health(mega)[1]["status"] == "ok", 90,
                   "health ok again after the secret was fixed")
    finally:
        fake.configure(secret="")


def test_metrics_public_serves_metrics_without_the_token():
    mega = S["good"]
    r = ops.Admin(mega).get("/metrics")
    check(r.status == 200, f"/metrics without the token: {r.status}")
    text = r.raw.decode()
    for name in ("mega_build_info{version=\"", "process_resident_memory_bytes ",
                 "process_cpu_seconds_total ", "process_open_fds ",
                 "process_start_time_seconds ", "mega_send_attempts_total"):
        check(name in text, f"{name} missing from /metrics")
    check(ops.Admin(mega).get("/api/stats").status == 401, "the API still needs the token")
    check(ops.Admin(mega, TOKEN).get("/api/stats").status == 200, "with the token")


def test_metrics_need_the_token_by_default():
    mega = env.mega("private", overrides={"admin": {"token": TOKEN}})
    check(ops.Admin(mega).get("/metrics").status == 401, "metrics_public = 0: token needed")
    check(ops.Admin(mega, TOKEN).get("/metrics").status == 200, "with the token")


harness.run_tests(globals(), env, setup)
