"""Startup: mega refuses to start (non-zero exit, a clear message) when MySQL is unreachable
or queue_file_path is unusable; and the original Mega-Wechat config file
(tests/golden/original-wechat.ini, BOM and `table_size = 100;` kept, only its paths and
addresses rewritten) starts a server that serves a push.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("startup")
S = {}
ORIG_APPID = "wx90c4bf2cf0dae125"
ORIG_SECRET = "e01207cd557f62c73f5099aae83a9f15"


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)


def exits_nonzero(m, what):
    m.start(wait=False)
    try:
        rc = m.proc.wait(60)
    except subprocess.TimeoutExpired:
        up = m.ready()
        m.kill()
        raise harness.TestFailure(f"mega kept running with {what} (port open: {up})")
    check(rc != 0, f"mega exited 0 with {what}")
    return rc, m.output()


def test_mysql_unreachable():
    dead = harness.closed_port()  # refuses connections
    m = env.mega("nomysql", start=False,
                 overrides={"pdo": {"dsn": f'"mysql:host=127.0.0.1;port={dead};dbname=mega"'}})
    rc, out = exits_nonzero(m, "MySQL unreachable")
    check(re.search(r"(?i)mysql|mariadb", out),
          f"exit {rc} without naming MySQL; output:\n{out[-2000:]}")
    print(f"  exit {rc}: {last_line_matching(out, r'(?i)mysql|mariadb')}")


def test_queue_path_unusable():
    blocker = os.path.join(env.dir, "a-regular-file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    qpath = os.path.join(blocker, "queue")
    m = env.mega("badqueue", start=False, overrides={"server": {"queue_file_path": qpath}})
    rc, out = exits_nonzero(m, "queue_file_path under a regular file")
    check(re.search(r"(?i)queue", out) and (qpath in out or blocker in out),
          f"exit {rc} without naming the queue path {qpath}; output:\n{out[-2000:]}")
    print(f"  exit {rc}: {last_line_matching(out, re.escape(blocker))}")


def last_line_matching(text, pattern):
    lines = [ln for ln in text.splitlines() if re.search(pattern, ln)]
    return lines[-1].strip() if lines else "?"


def test_original_config_file():
    with open(os.path.join(harness.GOLDEN_DIR, "original-wechat.ini"), "rb") as f:
        orig = f.read()
    check(orig.startswith(b"\xef\xbb\xbf"), "golden ini lost its BOM")
    check(b"table_size = 100;" in orig, "golden ini lost `table_size = 100;`")
    fake = env.fake_wechat(latency_ms=0, appid=ORIG_APPID, secret=ORIG_SECRET)
    d = os.path.join(env.dir, "orig")
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    db = S["db"]
    subs = [
        (b"listen[] = 127.0.0.1:9501", b"listen[] = 127.0.0.1:0"),
        (b'queue_file_path = "/Mega-Wechat/logs/queue"',
         f'queue_file_path = "{d}/logs/queue"'.encode()),
        (b'dsn = "mysql:host=127.0.0.1;dbname=mega"',
         f'dsn = "mysql:host=127.0.0.1;port={db.port};dbname=mega"'.encode()),
        (b"log_file = /Mega-Wechat/logs/mega.log", f"log_file = {d}/logs/mega.log".encode()),
        # the WeChat API address: the only line added
        (b"app_id = " + ORIG_APPID.encode(),
         b"app_id = " + ORIG_APPID.encode() + f"\napi_base = {fake.base}".encode()),
    ]
    text = orig
    for old, new in subs:
        check(text.count(old) == 1, f"golden ini has no single line {old!r}")
        text = text.replace(old, new)
    # mega's admin API would listen on 127.0.0.1:9502 by default, which other tests running
    # in parallel use too: port 0 (the one section added)
    text += b"\n[admin]\nlisten = 127.0.0.1:0\n"
    check(text.startswith(b"\xef\xbb\xbf") and b"table_size = 100;" in text, "rewrite broke it")
    # the original has daemonize = 1: `start` returns once the daemon runs
    m = harness.Mega(env, "orig", {"server": {"listen[]": "127.0.0.1:0",
                                              "queue_file_path": f"{d}/logs/queue"},
                                   "log": {"log_file": f"{d}/logs/mega.log"}}, ini_bytes=text)
    env.megas.append(m)
    p = m.cli("start", timeout=60)
    check(p.returncode == 0, f"start with the original ini exited {p.returncode}:\n"
                             f"{p.stdout.decode(errors='replace')}{p.stderr.decode(errors='replace')}")
    m.wait_ready(30)
    with m.client() as c:
        r = c.call_push("oOrigIni0001", "order_paid", {"product": "tea", "price": "1"}, opaque=5)
        check((r.code, r.opaque, r.message) == (200, 5, b""), f"push: {r}")
    wait_until(lambda: fake.messages_to("oOrigIni0001"), 30,
               "the push to reach the fake WeChat of the original app_id")
    p = m.cli("stop", timeout=60)
    check(p.returncode == 0, f"stop exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    wait_until(lambda: not harness.port_open(m.port), 30, "the daemon to stop listening")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
