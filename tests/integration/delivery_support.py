"""Helpers for the "delivery you can trust" integration tests (test_retries, test_dead_letters,
test_restart_durability, test_priorities, test_delay, test_msgkey, test_rate_limit, test_quota,
test_stable_token, test_failover). Built on harness.py, which stays untouched.

    import delivery_support as ds
    mega = env.mega(overrides=ds.fast_retry(tries=10, http_timeout_ms=1000))
    ds.push_many(mega, openids, "order_paid")          # pipelined, every reply must be 200
    ds.admin_get(mega, "/api/stats")                    # admin API (JSON)
    ds.metric(mega, "mega_api_base_switches_total")     # one sample of /metrics
    ds.mega_cli(mega, "failed", "list")                 # mega-cli -c INI ...
    ds.Deliveries(fake).all()                           # /fake/messages, paged, independent reader
"""

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402, F401


# --------------------------------------------------------------------------------------------
# configuration

def merge(*dicts):
    """Merges {section: {key: value}} override dicts (later ones win)."""
    out = {}
    for d in dicts:
        for sec, kv in (d or {}).items():
            out.setdefault(sec, {}).update(kv)
    return out


def fast_retry(tries=10, backoff="1,1,2", http_timeout_ms=None, **sections):
    """Overrides for short test runs: small backoffs, enough tries; `sections` merged in."""
    o = {"retry": {"tries": tries, "backoff": backoff}}
    if http_timeout_ms is not None:
        o["setting"] = {"http_timeout_ms": http_timeout_ms}
    return merge(o, sections)


# --------------------------------------------------------------------------------------------
# admin API and metrics

def admin_base(mega):
    """http://host:port of the admin API: the port the running server got (its status file)."""
    check(mega.admin_port, f"mega[{mega.name}] has no admin port (not started, or no API)")
    return mega.admin_base


def admin_call(mega, method, path, body=None, timeout=15):
    """(status, parsed JSON or text) of an admin API call; HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(admin_base(mega) + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode("utf-8", "replace")


def admin_get(mega, path, timeout=15):
    status, doc = admin_call(mega, "GET", path, timeout=timeout)
    check(status == 200, f"GET {path}: HTTP {status}: {doc}")
    return doc


def admin_post(mega, path, body=None, timeout=15):
    status, doc = admin_call(mega, "POST", path, body if body is not None else {}, timeout=timeout)
    check(status == 200, f"POST {path}: HTTP {status}: {doc}")
    return doc


def stats(mega):
    return admin_get(mega, "/api/stats")


def metrics_text(mega):
    with urllib.request.urlopen(admin_base(mega) + "/metrics", timeout=15) as r:
        return r.read().decode("utf-8", "replace")


def metric(mega, name, labels=None):
    """The value of one /metrics sample (labels: the exact label text, e.g. 'priority="low"');
    None if absent."""
    want = name + ("{" + labels + "}" if labels else "")
    for line in metrics_text(mega).splitlines():
        if line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 2 and parts[0] == want:
            return float(parts[1])
    return None


def failed_items(mega):
    return admin_get(mega, "/api/failed?limit=1000")["items"]


# --------------------------------------------------------------------------------------------
# mega-cli

def mega_cli(mega, *args, timeout=60):
    """Runs `mega-cli -c INI ARGS...`; returns (exit status, stdout text, stderr text)."""
    p = harness.run_captured([harness.mega_cli_binary(), "-c", mega.ini, *args],
                             cwd=mega.cwd, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# pushing

def push_many(mega, openids, key, data=None, options="", window=256, timeout=60):
    """Pushes one message per openid over one pipelined connection (`window` requests in
    flight). `data` is a dict, or a function openid -> dict; `options` a string or a function
    openid -> string. Every reply must be `200` with no message. Returns the push wall-clock
    times (unix ms, when each reply was read) by openid."""
    openids = list(openids)
    acked = {}
    with harness.Client(mega.port, timeout=timeout) as c:
        pending = {}
        i = 0
        while i < len(openids) or pending:
            frames = []
            while i < len(openids) and len(pending) < window:
                o = openids[i]
                op = c.opaque()
                d = data(o) if callable(data) else data
                opt = options(o) if callable(options) else options
                frames.append(harness.encode_push(o, key, d, op, opt))
                pending[op] = o
                i += 1
            if frames:
                c.send_raw(b"".join(frames))
            # read half a window (or the rest) before writing more
            for _ in range(min(len(pending), max(1, window // 2))):
                r = c.read_result()
                o = pending.pop(r.opaque, None)
                check(o is not None, f"reply with unknown opaque {r.opaque}: {r}")
                check(r.code == 200 and r.message == b"", f"push for {o}: {r}")
                acked[o] = int(time.time() * 1000)
    return acked


# --------------------------------------------------------------------------------------------
# fake-wechat

class Deliveries:
    """Reads /fake/messages incrementally (its own cursor; call reset() after /fake/reset)."""

    def __init__(self, fake):
        self.fake = fake
        self.next = 0
        self.items = []

    def reset(self):
        self.next = 0
        self.items = []

    def all(self):
        while True:
            page = self.fake._http("GET", f"/fake/messages?since={self.next}&limit=20000",
                                   timeout=30)
            msgs = page.get("messages") or []
            self.items.extend(msgs)
            nxt = int(page.get("next", self.next + len(msgs)))
            if not msgs or nxt == self.next:
                self.next = nxt
                return self.items
            self.next = nxt

    def tousers(self):
        return [m["touser"] for m in self.all()]

    def count_to(self, openids):
        s = set(openids)
        return sum(1 for m in self.all() if m["touser"] in s)


def fake_post(fake, path, body=None):
    return fake._http("POST", path, body if body is not None else {})


def duplicates(tousers):
    """{openid: count} for openids delivered more than once."""
    seen = {}
    for t in tousers:
        seen[t] = seen.get(t, 0) + 1
    return {k: v for k, v in seen.items() if v > 1}


# --------------------------------------------------------------------------------------------
# logs

def log_text(mega):
    """The server's log file ([log] log_file; every run appends to it)."""
    try:
        with open(mega.log_file, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def grep(text, pattern):
    return [line for line in text.splitlines() if re.search(pattern, line)]


def openids(prefix, n, width=6):
    return [f"{prefix}{i:0{width}d}" for i in range(n)]
