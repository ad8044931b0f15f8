"""Status callbacks (issue 14): [callback.crm] receives a signed JSON event for each status a
message reaches (sent, then delivered from fake-wechat's receipt), from the TCP push's
`callback=crm` and the HTTP API's "callback". The receiver (a real HTTP server in this
process) verifies every signature with the documented recipe (docs/CALLBACKS.md).
- The receiver goes down mid-way for 30 s, counted as mega's 30 failed attempts to reach it
  ([callback] max_backoff_s = 1: one attempt a second once the backoff is capped), and comes
  back; every callback still arrives, in order per message.
- One callback pending while the receiver is down stays pending across a mega restart and
  arrives after it.
- An unknown callback name is refused at the push (400).
"""

import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402

SECRET = "cb-secret-7"
TOKEN = "cbToken"
env = harness.Env("callbacks")
S = {}


class Receiver:
    """An HTTP receiver that verifies X-Mega-Signature = hex(HMAC-SHA256(secret,
    X-Mega-Timestamp + body)) and records the events in arrival order."""

    def __init__(self):
        self.events, self.bad, self.lock = [], 0, threading.Lock()
        self.port, self.server = 0, None

    def up(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers.get("X-Mega-Timestamp", "")
                want = hmac.new(SECRET.encode(), ts.encode() + body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(want, self.headers.get("X-Mega-Signature", ""))
                with receiver.lock:
                    if ok:
                        receiver.events.append(json.loads(body))
                    else:
                        receiver.bad += 1
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        self.server.shutdown()
        self.server.server_close()

    def of(self, ids):
        with self.lock:
            return [e for e in self.events if e["id"] in ids]


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["rx"] = Receiver()
    S["rx"].up()
    S["mega"] = env.mega(overrides={
        "events": {"listen": "127.0.0.1:0"},
        "wechat": {"token": TOKEN},
        "http": {"listen": "127.0.0.1:0"},
        "callback": {"max_backoff_s": 1},
        "callback.crm": {"url": f"http://127.0.0.1:{S['rx'].port}/hook", "secret": SECRET,
                         "events": "sent,failed,delivered,blocked,undelivered,cancelled"}})
    events_port = S["mega"].status()["events"]
    harness.megastack.http_json("POST", S["fake"].base + "/fake/receipts", {
        "url": f"http://127.0.0.1:{events_port}/wechat/default", "token": TOKEN,
        "repeats": 1, "delay_ms": 50})


def push_ids(n, prefix):
    """Pushes n messages with callback=crm; returns their ids (from the message log)."""
    with S["mega"].client() as c:
        for i in range(n):
            r = c.call_push(f"{prefix}{i:03d}", "order_paid", {"product": "p", "price": "1"},
                            options="callback=crm")
            check(r.code == 200, f"push {i}: {r}")
    rows = wait_until(lambda: (lambda r: len(r) == n and r)(S["db"].sql(
        f"SELECT id FROM mega_message_log WHERE openid LIKE '{prefix}%';")), 30, "logged")
    return {row[0] for row in rows}


def check_in_order(ids):
    got = S["rx"].of(ids)
    for i in ids:
        statuses = [e["status"] for e in got if e["id"] == i]
        dedup = [s for k, s in enumerate(statuses) if k == 0 or statuses[k - 1] != s]
        check(dedup == ["sent", "delivered"], f"message {i}: events {statuses}")


def all_arrived(ids):
    got = S["rx"].of(ids)
    return len({(e["id"], e["status"]) for e in got}) == 2 * len(ids)


def stats():
    return S["mega"].admin("GET", "/api/stats")["callbacks"][0]


def test_unknown_callback_refused():
    with S["mega"].client() as c:
        r = c.call_push("oCbX", "order_paid", None, options="callback=nope")
        check(r.code == 400 and b"unknown callback nope" in r.message, f"{r}")


def test_callbacks_arrive_signed_in_order():
    ids = push_ids(20, "oCbA")
    wait_until(lambda: all_arrived(ids), 60, lambda: f"callbacks: {len(S['rx'].of(ids))} {stats()} "
               f"{S['mega'].admin('GET', '/api/stats')['receipts']}")
    check_in_order(ids)
    e = next(e for e in S["rx"].of(ids) if e["status"] == "delivered")
    check(e["key"] == "order_paid" and e["openid"].startswith("oCbA") and e["msgid"],
          f"event fields: {e}")
    check(S["rx"].bad == 0, f"{S['rx'].bad} callbacks with a bad signature")


def test_http_api_callback():
    conn = http.client.HTTPConnection("127.0.0.1", S["mega"].http_port, timeout=30)
    conn.request("POST", "/v1/messages", json.dumps(
        {"key": "order_paid", "openid": "oCbHttp", "data": {"product": "h"}, "callback": "crm"}),
        {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = json.loads(r.read())
    check(r.status == 202, f"HTTP submit: {r.status} {body}")
    ids = {body["id"]} if "id" in body else {body["messages"][0]["id"]}
    wait_until(lambda: all_arrived(ids), 60, "the HTTP message's callbacks")


def test_receiver_down_mid_way():
    rx = S["rx"]
    rx.down()
    failed0 = stats()["failed_attempts"]
    ids = push_ids(20, "oCbB")
    wait_until(lambda: stats()["failed_attempts"] >= failed0 + 30, 120,
               lambda: f"mega failing to reach the receiver: {stats()}")
    check(stats()["recent_failures"], "recent failures are shown")
    rx.up()
    wait_until(lambda: all_arrived(ids), 60, lambda: f"callbacks: {len(rx.of(ids))}")
    check_in_order(ids)
    check(rx.bad == 0, f"{rx.bad} callbacks with a bad signature")


def test_pending_across_restart():
    rx, mega = S["rx"], S["mega"]
    harness.megastack.http_json("POST", S["fake"].base + "/fake/receipts", {"url": ""})
    rx.down()
    failed0 = stats()["failed_attempts"]
    with mega.client() as c:
        check(c.call_push("oCbR", "order_paid", None, options="callback=crm").code == 200, "push")
    wait_until(lambda: stats()["failed_attempts"] > failed0 and stats()["pending"] >= 1, 60,
               lambda: f"the callback pending: {stats()}")
    check(mega.stop() == 0, "mega stops cleanly")
    rx.up()
    mega.start()
    wait_until(lambda: [e for e in rx.events if e["openid"] == "oCbR" and e["status"] == "sent"],
               60, "the pending callback arrives after the restart")
    wait_until(lambda: stats()["pending"] == 0, 30, "nothing pending")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
