"""Retries: fake-wechat fails 30% of sends (errcode -1 or HTTP 500) and never answers another
5% (half of those it still delivers: WeChat executed the call, the answer was lost). 300
pushes, each to its own openid, half of them with a msgkey (sent as client_msg_id). With
[retry] tries = 15 and backoff 1,1,2, every message is delivered: fake-wechat's delivered set
holds every openid, nothing is failed, the server counted its retries (/api/stats "retried")
and logged them ("attempt N/15 failed").

Duplicates: only a request WeChat executed without the server hearing the answer is sent
twice. Every message carries a client_msg_id (its msgkey, or one from its message id), which
fake-wechat (like WeChat) deduplicates: none may be delivered twice, and each executed but
unanswered request shows up as a dropped repeat (fake's dedup_dropped).

A `send` is retried the same way before its client hears anything: after two transient
failures it is answered 200; with tries=2 and three failures queued it is answered 400 with
WeChat's JSON after exactly two attempts, and becomes a dead letter (attempts 2, transient).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

N = 300
TRIES = 15  # P(15 failures in a row) = 0.35^15 ~ 1.5e-7 per message
env = harness.Env("retries")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["fake"].configure(fail_rate=0.3, fail_codes=[-1, 500], timeout_rate=0.05,
                        timeout_executes=0.5)
    S["mega"] = env.mega(overrides=ds.fast_retry(
        tries=TRIES, backoff="1,1,2", http_timeout_ms=1000,
        setting={"task_worker_num": 2, "max_inflight": 32}))


def test_every_message_delivered_despite_faults():
    fake, mega = S["fake"], S["mega"]
    keyed = ds.openids("oRetK", N // 2)
    plain = ds.openids("oRetP", N - N // 2)
    ds.push_many(mega, keyed, "order_paid", {"product": "retry", "price": "1"},
                 options=lambda o: f"msgkey=k-{o}")
    ds.push_many(mega, plain, "order_paid", {"product": "retry", "price": "1"})
    want = set(keyed) | set(plain)
    d = ds.Deliveries(fake)

    def all_there():
        return want <= set(d.tousers())
    wait_until(all_there, 75, lambda: f"all {N} openids delivered (missing "
               f"{len(want - set(d.tousers()))}, fake stats {fake.stats()})")
    # and the server agrees: everything settled as sent, nothing failed, nothing waiting
    st = wait_until(lambda: (lambda s: s if s["sent"] >= N and s["waiting"] == 0
                             and s["inflight"] == 0 else None)(ds.stats(mega)),
                    30, lambda: f"server to settle every message: {ds.stats(mega)}")
    fs = fake.stats()
    S["stats"], S["fake_stats"], S["d"] = st, fs, d
    print(f"  server: sent {st['sent']} failed {st['failed']} retried {st['retried']} "
          f"attempts {st['attempts']}; fake: requests {fs['requests']} errors {fs['errors']} "
          f"held {fs['held']} executed_on_timeout {fs['executed_on_timeout']} "
          f"dedup_dropped {fs['dedup_dropped']}")
    check(st["sent"] == N, f"/api/stats sent {st['sent']}, expected {N}")
    check(st["failed"] == 0, f"/api/stats failed {st['failed']}, expected 0")
    check(ds.failed_items(mega) == [], f"dead letters: {ds.failed_items(mega)}")
    check(fs["errors"].get("-1", 0) > 0 and fs["errors"].get("500", 0) > 0 and fs["held"] > 0,
          f"the faults were not exercised: {fs}")


def test_retries_counted_and_logged():
    st, fs, mega = S["stats"], S["fake_stats"], S["mega"]
    injected = fs["errors"].get("-1", 0) + fs["errors"].get("500", 0) + fs["held"]
    check(st["retried"] > 0, f"/api/stats retried is {st['retried']}")
    # every injected failure made the server schedule one more attempt (none was final)
    check(st["retried"] >= injected,
          f"retried {st['retried']} < failures injected by fake-wechat {injected}")
    check(st["attempts"] == st["sent"] + st["retried"],
          f"attempts {st['attempts']} != sent {st['sent']} + retried {st['retried']}")
    check(fs["requests"] == st["attempts"],
          f"fake-wechat saw {fs['requests']} template/send calls, server counted "
          f"{st['attempts']} attempts")
    def retry_lines():
        return ds.grep(ds.log_text(mega), r"attempt \d+/%d failed" % TRIES)
    wait_until(lambda: len(retry_lines()) >= st["retried"], 10,
               lambda: f"{st['retried']} 'attempt N/{TRIES} failed' lines in the log file "
                       f"(have {len(retry_lines())})")
    lines = retry_lines()
    print(f"  {len(lines)} retry lines in the log file, e.g. {lines[0]}")
    check(len(lines) == st["retried"], f"{len(lines)} retry lines for {st['retried']} retries")
    check(any("(transient -1)" in line for line in lines), "no retry after errcode -1 logged")


def test_no_duplicates_unanswered_executed_calls_dropped():
    st, fs, d = S["stats"], S["fake_stats"], S["d"]
    dups = ds.duplicates(d.tousers())
    keyed_dups = {k: v for k, v in dups.items() if k.startswith("oRetK")}
    plain_dups = {k: v for k, v in dups.items() if k.startswith("oRetP")}
    extra = sum(v - 1 for v in plain_dups.values())
    injected = fs["errors"].get("-1", 0) + fs["errors"].get("500", 0) + fs["held"]
    given_up = st["retried"] - injected  # answers the server stopped waiting for
    print(f"  duplicates: {extra} extra deliveries over {len(plain_dups)} openids without "
          f"msgkey, {len(keyed_dups)} with msgkey; executed_on_timeout "
          f"{fs['executed_on_timeout']}, dedup_dropped {fs['dedup_dropped']}, "
          f"answers given up on {given_up}")
    check(not keyed_dups, f"messages with a msgkey (client_msg_id) delivered twice: {keyed_dups}")
    check(not plain_dups, f"messages without msgkey delivered twice: {plain_dups}")
    check(fs["dedup_dropped"] >= fs["executed_on_timeout"],
          f"executed but unanswered sends not sent again with their client_msg_id: {fs}")
    check(fs["delivered"] == N, f"fake delivered {fs['delivered']} != {N}")


def test_send_is_retried_before_the_client_hears():
    fake, mega = S["fake"], S["mega"]
    fake.configure(fail_rate=0.0, timeout_rate=0.0, next_errors=[-1, 500])
    with mega.client(timeout=30) as c:
        r = c.call_send("oSendRetry", "order_paid", {"product": "send"})
    check((r.code, r.message) == (200, b""), f"send after two transient failures: {r}")
    check(ds.Deliveries(fake).tousers().count("oSendRetry") == 1, "oSendRetry not delivered once")
    # with tries=2 the third failure is not reached: the client gets WeChat's -1 after 2 attempts
    fake.configure(next_errors=[-1, -1, -1])
    with mega.client(timeout=30) as c:
        r = c.call_send("oSendGiveUp", "order_paid", {"product": "send"}, options="tries=2")
    check(r.code == 400, f"send with tries=2 after two failures: {r}")
    body = json.loads(r.message)
    check(body.get("errcode") == -1 and body.get("openid") == "oSendGiveUp", f"reply: {body}")
    items = [it for it in ds.failed_items(mega) if it["openid"] == "oSendGiveUp"]
    check(len(items) == 1 and items[0]["attempts"] == 2 and items[0]["class"] == "transient",
          f"dead letter of oSendGiveUp: {items}")
    left = fake._http("GET", "/fake/config")["next_errors"]
    check(left == [-1], f"tries=2 should have used 2 of the 3 queued errors; left: {left}")
    fake.configure(next_errors=[])


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
