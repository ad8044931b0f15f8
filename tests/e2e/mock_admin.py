#!/usr/bin/env python3
"""A stand-in for mega's admin API, for working on the dashboard without a server
(python3 standard library only; a development tool, not used by the tests).

    python3 tests/e2e/mock_admin.py [--port 8088] [--token SECRET]
    open http://127.0.0.1:8088/

Serves admin/dashboard/ at / and /assets/NAME like mega does, and every /api/ endpoint the
dashboard calls, over in-memory state that a background thread keeps moving: messages are
queued, sent, some fail into dead letters, one account pause, one batch task.
"""

import argparse
import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

DASH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "admin", "dashboard")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
CLASSES = {43004: "permanent", 40003: "permanent", 47003: "permanent", -1: "transient",
           45009: "quota"}

lock = threading.Lock()
now_ms = lambda: int(time.time() * 1000)  # noqa: E731


class State:
    def __init__(self):
        self.next_id = 7_000_000_000_000_000_000
        self.messages = {}   # id -> dict
        self.dead = {}       # id -> dict
        self.waiting = {}    # id -> dict
        self.templates = {"order_paid": '{"touser":"${OPENID}","template_id":"ngqIpbw","data":{"first":{"value":"paid"},"keyword1":{"value":"${product}"}}}',
                          "welcome": '{"touser":"${OPENID}","template_id":"Wq3sL0d","data":{"name":{"value":"${name}"}}}'}
        self.account = {"app_id": "wxmock", "paused": False, "reason": "", "by_operator": False,
                        "since_ms": 0, "until_ms": 0}
        self.tasks = {}
        self.sent = self.failed = self.retried = self.attempts = self.quota_hits = 0
        self.events = []     # (t_ms, ok)
        self.started = now_ms()

    def new_id(self):
        self.next_id += random.randint(1, 999)
        return str(self.next_id)

    def push(self, openid, key, source="php", priority="normal", delay_ms=0):
        mid = self.new_id()
        t = now_ms()
        m = {"id": mid, "openid": openid, "key": key, "source": source, "priority": priority,
             "status": "queued", "attempts": 0, "msgid": "", "errcode": 0, "errmsg": "",
             "created_ms": t, "updated_ms": t, "sent_ms": 0,
             "body": json.dumps({"touser": openid, "template_id": "x", "data": {}})}
        self.messages[mid] = m
        if delay_ms:
            self.waiting[mid] = {"id": mid, "openid": openid, "key": key, "attempts": 0,
                                 "due_ms": t + delay_ms, "kind": "delayed"}
            m["status"] = "retrying"
        return mid

    def deliver_some(self):
        if self.account["paused"]:
            if self.account["until_ms"] and now_ms() >= self.account["until_ms"]:
                self.account.update(paused=False, reason="", until_ms=0)
            return
        t = now_ms()
        for mid, w in list(self.waiting.items()):
            if w["due_ms"] <= t:
                del self.waiting[mid]
                self.messages[mid]["status"] = "queued"
        queued = [m for m in self.messages.values() if m["status"] == "queued"]
        for m in queued[:random.randint(1, 6)]:
            m["attempts"] += 1
            self.attempts += 1
            m["updated_ms"] = t
            if m["openid"].startswith("oFail"):
                code = 43004 if m["openid"] != "oFailBusy" else -1
                if code == -1 and m["attempts"] < 3:
                    m["status"] = "retrying"
                    self.retried += 1
                    self.waiting[m["id"]] = {"id": m["id"], "openid": m["openid"], "key": m["key"],
                                             "attempts": m["attempts"], "due_ms": t + 20000,
                                             "kind": "retrying"}
                    continue
                m.update(status="failed", errcode=code, errmsg="require subscribe" if code == 43004 else "system busy")
                self.failed += 1
                self.events.append((t, False))
                self.dead[m["id"]] = {"id": m["id"], "openid": m["openid"], "key": m["key"],
                                      "options": "", "errcode": code, "class": CLASSES.get(code, "permanent"),
                                      "error": f"errcode {code}: {m['errmsg']}", "attempts": m["attempts"],
                                      "created_ms": m["created_ms"], "failed_ms": t}
            else:
                m.update(status="sent", msgid=str(random.randint(10**9, 10**10)), errcode=0, errmsg="", sent_ms=t)
                self.sent += 1
                self.events.append((t, True))
        for task in self.tasks.values():
            # like mega: "queued" counts what the task handed to the queue so far (cumulative)
            if task["status"] == "running" and task["queued"] < task["total"]:
                task["queued"] = min(task["total"], task["queued"] + random.randint(1, 8))
            pending = task["queued"] - task["sent"] - task["failed"]
            if task["status"] == "running" and pending > 0:
                n = min(pending, random.randint(1, 5))
                f = 1 if random.random() < 0.1 else 0
                task["sent"] += n - f
                task["failed"] += f
            if task["status"] == "running" and task["sent"] + task["failed"] >= task["total"]:
                task["status"] = "done"

    def series(self, step_s, count):
        t_now = int(time.time())
        start = (t_now // step_s - count + 1) * step_s
        buckets = [{"t": start + i * step_s, "sent": 0, "failed": 0} for i in range(count)]
        for t, ok in self.events:
            i = (t // 1000 - start) // step_s
            if 0 <= i < count:
                buckets[i]["sent" if ok else "failed"] += 1
        return buckets

    def stats(self):
        t = now_ms()
        depth = sum(1 for m in self.messages.values() if m["status"] == "queued")
        by_status = {}
        for m in self.messages.values():
            by_status[m["status"]] = by_status.get(m["status"], 0) + 1
        recent = [ok for ts, ok in self.events if ts >= t - 3600_000]

        def rate(evs):
            return (sum(evs) / len(evs)) if evs else None

        def tput(sec):
            return round(sum(1 for ts, _ in self.events if ts >= t - sec * 1000) / sec, 3)

        by_t, by_s = {}, {}
        for m in self.messages.values():
            if m["status"] in ("sent", "failed"):
                f = "sent" if m["status"] == "sent" else "failed"
                by_t.setdefault(m["key"], {"key": m["key"], "sent": 0, "failed": 0})[f] += 1
                by_s.setdefault(m["source"], {"source": m["source"], "sent": 0, "failed": 0})[f] += 1
        return {
            "queue": {"high": 0, "normal": depth, "low": 0, "total": depth, "disk_bytes": 4096 * (1 + depth)},
            "inflight": 0, "waiting": len(self.waiting), "sent": self.sent, "failed": self.failed,
            "retried": self.retried, "attempts": self.attempts, "quota_hits": self.quota_hits,
            "dead_letters": len(self.dead), "connections": 2, "templates": len(self.templates),
            "msgkeys": 0, "token_refreshes": 1, "paused": self.account["paused"],
            "message_log": {"written": len(self.messages), "dropped": 0, "pending": 0, "healthy": True},
            "rates": {"overall": rate([ok for _, ok in self.events]), "today": rate([ok for _, ok in self.events]),
                      "last_hour": rate(recent)},
            "throughput": {"1m": tput(60), "5m": tput(300), "60m": tput(3600)},
            "by_status": {k: by_status.get(k, 0) for k in ("queued", "sent", "failed", "retrying")},
            "by_template": list(by_t.values()), "by_source": list(by_s.values()),
            "series": {"minutes": self.series(60, 60), "seconds": self.series(1, 300)},
        }


S = State()


def seed():
    random.seed(7)
    t = now_ms()
    for i in range(400):  # an hour of history
        ts = t - random.randint(0, 3600_000)
        S.events.append((ts, random.random() > 0.03))
    S.sent = sum(1 for _, ok in S.events if ok)
    S.failed = len(S.events) - S.sent
    for i in range(30):
        S.push(f"oUser{i:04d}", random.choice(["order_paid", "welcome"]), random.choice(["php", "api", "task"]))
    S.push("oFail1", "order_paid")
    S.push("oFailBusy", "welcome")
    S.push("oLater1", "welcome", delay_ms=600_000)
    S.tasks["42"] = {"id": "42", "key": "welcome", "status": "running", "total": 500, "queued": 143,
                     "sent": 120, "failed": 3, "rate": 20, "created_ms": t - 60_000}
    S.tasks["43"] = {"id": "43", "key": "order_paid", "status": "paused", "total": 80, "queued": 30,
                     "sent": 30, "failed": 0, "rate": 0, "created_ms": t - 600_000}


def ticker():
    while True:
        time.sleep(0.5)
        with lock:
            S.deliver_some()
            if random.random() < 0.3:
                S.push(f"oUser{random.randint(0, 9999):04d}", random.choice(["order_paid", "welcome"]),
                       random.choice(["php", "api"]))


class Handler(BaseHTTPRequestHandler):
    token = ""

    def log_message(self, fmt, *args):
        pass

    def send(self, code, obj=None, ctype="application/json", raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def err(self, code, msg):
        self.send(code, {"error": msg})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if not n:
            return {}
        return json.loads(self.rfile.read(n))

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        u = urlparse(self.path)
        path, q = u.path, {k: v[-1] for k, v in parse_qs(u.query).items()}
        if method == "GET" and (path == "/" or path.startswith("/assets/")):
            name = "index.html" if path == "/" else path[len("/assets/"):]
            fp = os.path.join(DASH, os.path.basename(name))
            if not os.path.isfile(fp):
                return self.err(404, "no such asset")
            with open(fp, "rb") as f:
                return self.send(200, raw=f.read(), ctype=TYPES.get(os.path.splitext(fp)[1], "application/octet-stream"))
        if not path.startswith("/api/"):
            return self.err(404, "not found")
        with lock:
            if path == "/api/health":
                p = ["account paused: " + S.account["reason"]] if S.account["paused"] else []
                return self.send(200, {"status": "degraded" if p else "ok", "problems": p})
            if self.token and self.headers.get("Authorization") != f"Bearer {self.token}":
                return self.err(401, "missing or wrong bearer token")
            try:
                b = self.body() if method == "POST" else {}
            except ValueError:
                return self.err(400, "body must be a JSON object")
            return self.api(method, path, q, b)

    def api(self, method, path, q, b):
        parts = path.strip("/").split("/")
        off, lim = int(q.get("offset", 0)), int(q.get("limit", 50))
        if method == "GET" and path == "/api/stats":
            return self.send(200, S.stats())
        if method == "GET" and path == "/api/messages":
            items = sorted(S.messages.values(), key=lambda m: m["id"], reverse=True)
            for k in ("status", "openid", "key", "source"):
                if q.get(k):
                    items = [m for m in items if m[k] == q[k]]
            if q.get("from"):
                items = [m for m in items if m["created_ms"] >= int(q["from"])]
            if q.get("to"):
                items = [m for m in items if m["created_ms"] <= int(q["to"])]
            strip = [{k: v for k, v in m.items() if k != "body"} for m in items[off:off + lim]]
            return self.send(200, {"total": len(items), "items": strip})
        if len(parts) == 3 and parts[1] == "messages" and method == "GET":
            m = S.messages.get(parts[2])
            return self.send(200, m) if m else self.err(404, "no such message")
        if len(parts) == 4 and parts[1] == "messages" and parts[3] == "retry" and method == "POST":
            m = S.messages.get(parts[2])
            if not m:
                return self.err(404, "no such message")
            if m["status"] != "failed":
                return self.err(409, f"message is {m['status']}, not failed")
            m.update(status="queued", errcode=0, errmsg="")
            S.dead.pop(m["id"], None)
            return self.send(200, {"ok": True})
        if method == "GET" and path == "/api/failed":
            items = list(S.dead.values())
            return self.send(200, {"total": len(items), "items": items[off:off + lim]})
        if method == "POST" and path == "/api/failed/retry":
            ids = list(S.dead) if b.get("all") else [b.get("id")]
            for i in ids:
                if i not in S.dead:
                    return self.err(404, f"no dead letter {i}")
                del S.dead[i]
                S.messages[i].update(status="queued", errcode=0, errmsg="")
            return self.send(200, {"retried": len(ids)})
        if method == "POST" and path == "/api/failed/forget":
            if S.dead.pop(b.get("id"), None) is None:
                return self.err(404, "no dead letter")
            return self.send(200, {"forgotten": 1})
        if method == "POST" and path == "/api/failed/flush":
            n = len(S.dead)
            S.dead.clear()
            return self.send(200, {"forgotten": n})
        if method == "GET" and path == "/api/waiting":
            items = sorted(S.waiting.values(), key=lambda w: w["due_ms"])
            return self.send(200, {"total": len(items), "items": items[:lim]})
        if method == "POST" and path == "/api/waiting/cancel":
            w = S.waiting.pop(b.get("id"), None)
            if not w:
                return self.err(404, "not waiting")
            # like mega: a cancelled message is settled as failed, not a dead letter
            S.messages[w["id"]].update(status="failed", errcode=-1, errmsg="cancelled by an operator")
            return self.send(200, {"ok": True})
        if method == "GET" and path == "/api/account":
            return self.send(200, S.account)
        if method == "POST" and path == "/api/account/pause":
            r = b.get("reason") or "paused by an operator"
            until = now_ms() + 3600_000 if "45009" in r else 0
            S.account.update(paused=True, reason=r, by_operator="45009" not in r, since_ms=now_ms(), until_ms=until)
            return self.send(200, {"ok": True})
        if method == "POST" and path == "/api/account/resume":
            S.account.update(paused=False, reason="", by_operator=False, until_ms=0)
            return self.send(200, {"ok": True})
        if method == "GET" and path == "/api/templates":
            return self.send(200, [{"key": k, "template": v} for k, v in S.templates.items()])
        if method == "POST" and path == "/api/templates/reload":
            k = b.get("key")
            if k not in S.templates:
                return self.err(404, f"template {k} not in the database")
            return self.send(200, {"ok": True})
        if method == "POST" and path == "/api/test-message":
            if b.get("key") not in S.templates:
                return self.err(400, "unknown template")
            return self.send(200, {"id": S.push(b.get("openid", ""), b["key"], "test")})
        if method == "GET" and path == "/api/tasks":
            return self.send(200, list(S.tasks.values()))
        if method == "POST" and path == "/api/tasks":
            tid = S.new_id()
            S.tasks[tid] = {"id": tid, "key": b.get("key"), "status": "running", "total": len(b.get("openids") or []),
                            "queued": 0, "sent": 0, "failed": 0, "rate": b.get("rate", 0), "created_ms": now_ms()}
            return self.send(200, {"id": tid})
        if len(parts) == 4 and parts[1] == "tasks" and method == "POST":
            t = S.tasks.get(parts[2])
            if not t:
                return self.err(404, "no such task")
            t["status"] = {"pause": "paused", "resume": "running", "cancel": "cancelled"}.get(parts[3], t["status"])
            return self.send(200, {"ok": True})
        return self.err(404, f"no such endpoint: {method} {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8088)
    ap.add_argument("--token", default="")
    a = ap.parse_args()
    Handler.token = a.token
    seed()
    threading.Thread(target=ticker, daemon=True).start()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(f"mock admin on http://127.0.0.1:{srv.server_address[1]}/", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
