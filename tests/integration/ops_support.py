"""Helpers for the "Operations" integration tests (test_admin_api, test_metrics,
test_message_log, test_migrate, test_tasks). Built on harness.py, which stays untouched.

    import ops_support as ops
    api = ops.Admin(mega, token="s3cret")      # admin HTTP API client (records every reply)
    st, doc = api.get("/api/stats")            # (HTTP status, parsed JSON or text)
    ops.push_all(mega, openids, "order_paid")  # pipelined pushes, every reply 200
    ops.mega_cli(mega, "task", "list")         # mega-cli -c INI ...
    ops.Deliveries(fake).tousers()             # /fake/messages, paged, own cursor
"""

import http.client
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402, F401
from delivery_support import Deliveries, push_many  # noqa: E402,F401  (shared helpers)


# --------------------------------------------------------------------------------------------
# admin API

class Reply:
    __slots__ = ("status", "headers", "raw", "doc")

    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.doc = json.loads(raw) if raw.strip() else None
        except ValueError:
            self.doc = None

    def is_json(self):
        ct = self.headers.get("content-type", "")
        return ct.startswith("application/json") and self.doc is not None

    def __repr__(self):
        return f"HTTP {self.status} {self.raw[:300]!r}"


def admin_addr(mega):
    """(host, port) of the admin API: the port the running server got (its status file)."""
    check(mega.admin_port, f"mega[{mega.name}] has no admin port (not started, or no API)")
    return mega.admin_host, mega.admin_port


class Admin:
    """A client of one server's admin API. `token` is sent as the bearer token unless a call
    overrides it (auth=None: no Authorization header; auth="..." that header's value).
    Every reply (status line, headers, body) is kept in `replies` so that a test can check
    that a secret never appears in any of them."""

    _DEFAULT = object()

    def __init__(self, mega, token=None):
        self.mega = mega
        self.token = token
        self.replies = []

    def call(self, method, path, body=None, auth=_DEFAULT, raw=None, headers=None, timeout=30):
        host, port = admin_addr(self.mega)
        hdrs = dict(headers or {})
        if auth is Admin._DEFAULT:
            if self.token:
                hdrs["Authorization"] = f"Bearer {self.token}"
        elif auth is not None:
            hdrs["Authorization"] = auth
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            text = r.read()
            rep = Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, text)
            rep_line = f"{r.status} {r.reason}\n" + "\n".join(f"{k}: {v}" for k, v in r.getheaders())
        finally:
            conn.close()
        self.replies.append((method, path, rep_line.encode() + b"\n\n" + text))
        return rep

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body=body if body is not None or "raw" in kw else {}, **kw)

    def ok_get(self, path, **kw):
        r = self.get(path, **kw)
        check(r.status == 200 and r.is_json(), f"GET {path}: {r}")
        return r.doc

    def ok_post(self, path, body=None, **kw):
        r = self.post(path, body, **kw)
        check(r.status == 200 and r.is_json(), f"POST {path} {body}: {r}")
        return r.doc

    def stats(self):
        return self.ok_get("/api/stats")

    def metrics_text(self):
        r = self.get("/metrics")
        check(r.status == 200, f"GET /metrics: {r}")
        return r.raw.decode("utf-8")


def expect_error(rep, statuses, what):
    """rep is an HTTP error (status in `statuses`) with a JSON body {"error": "..."}."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    check(rep.status in statuses, f"{what}: expected HTTP {statuses}, got {rep}")
    check(rep.is_json() and isinstance(rep.doc, dict) and isinstance(rep.doc.get("error"), str)
          and rep.doc["error"], f"{what}: error reply is not JSON {{\"error\": ...}}: {rep} "
          f"(content-type {rep.headers.get('content-type')!r})")
    return rep.doc["error"]


# --------------------------------------------------------------------------------------------
# pushing

def push_all(mega, openids, key, data=None, options="", window=512, timeout=60):
    """Pushes one message per openid (delivery_support.push_many); returns the number pushed."""
    return len(push_many(mega, openids, key, data, options, window, timeout))


# --------------------------------------------------------------------------------------------
# fake-wechat



def counts(items):
    out = {}
    for t in items:
        out[t] = out.get(t, 0) + 1
    return out


# --------------------------------------------------------------------------------------------
# command lines

def mega_cli(mega, *args, timeout=60):
    """Runs `mega-cli -c INI ARGS...`; returns (exit status, stdout, stderr) as text."""
    p = harness.run_captured([harness.mega_cli_binary(), "-c", mega.ini, *args],
                             cwd=mega.cwd, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def mega_cmd(mega, *args, timeout=60):
    """Runs `mega -c INI ARGS...`; returns (exit status, stdout + stderr as text)."""
    p = mega.cli(*args, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def run_start_to_exit(mega, timeout=60):
    """Starts `mega -c INI start` in the foreground expecting it to exit by itself; returns
    (exit status, its stdout + stderr + log)."""
    mega.start(wait=False)
    try:
        rc = mega.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        mega.kill()
        raise harness.TestFailure(f"mega did not exit within {timeout}s\n{mega.diagnostics()}")
    return rc, mega.output()
