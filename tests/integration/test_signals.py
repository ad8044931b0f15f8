"""Signals an operator (or logrotate) sends: SIGHUP and SIGUSR1 while pushes run. The server
keeps running, every acknowledged push is delivered, the log file is reopened by name after
it was moved away (lines before the move are in the moved file, lines after in the new one),
and SIGHUP applies a new log level and rate limit from the edited ini and names the settings
that need a restart. With [log] format = json every line is one JSON object.
"""

import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import delivery_support as ds  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("signals")
S = {}
N = 3000


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega()


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def test_sighup_during_log_rotation_under_push_load():
    mega, fake = S["mega"], S["fake"]
    log = mega.log_file
    wait_until(lambda: "mega started" in read(log), 30, "the start line in the log")
    openids = [f"oSig{i:05d}" for i in range(N)]
    result = {}

    def load():
        try:
            result["acked"] = ds.push_many(mega, openids, "order_paid", {"product": "tea"},
                                           window=32)
        except Exception as e:  # reported below
            result["error"] = e
    t = threading.Thread(target=load)
    t.start()
    os.rename(log, log + ".1")  # what logrotate does, then its postrotate sends HUP
    os.kill(mega.proc.pid, signal.SIGHUP)
    t.join(120)
    check("error" not in result, f"pushes failed across SIGHUP: {result.get('error')!r}")
    check(len(result.get("acked", {})) == N, "every push acknowledged")
    check(mega.proc.poll() is None, "mega still runs after SIGHUP")
    wait_until(lambda: "log file reopened" in read(log), 30, "the new log file")
    check("mega started" in read(log + ".1"), "lines before the move stay in the moved file")
    check("mega started" not in read(log), "the new file starts at the reopen")
    wait_until(lambda: len({m.get("touser") for m in fake.messages()} & set(openids)) == N, 120,
               "every acknowledged push delivered")


def test_sigusr1_only_reopens():
    mega = S["mega"]
    log = mega.log_file
    os.rename(log, log + ".2")
    os.kill(mega.proc.pid, signal.SIGUSR1)
    wait_until(lambda: "log file reopened" in read(log), 30, "the log reopened on SIGUSR1")
    check("SIGHUP" not in read(log), "SIGUSR1 reloads nothing")
    check(mega.proc.poll() is None, "mega still runs after SIGUSR1")


def test_sighup_applies_level_and_rate_and_names_the_rest():
    mega = S["mega"]
    text = read(mega.ini)
    text = text.replace("[wechat]\n", "[wechat]\nrate_limit_per_second = 5\n", 1)
    text = text.replace("[setting]\n", "[setting]\ntask_worker_num = 3\n", 1)
    text = text.replace("log_level = info", "log_level = debug")
    with open(mega.ini, "w") as f:
        f.write(text)
    os.kill(mega.proc.pid, signal.SIGHUP)
    out = lambda: read(mega.log_file)  # noqa: E731
    wait_until(lambda: "SIGHUP: rate_limit_per_second 5" in out(), 30, "the new rate applied")
    check("SIGHUP: log level debug" in out(), "the new log level applied")
    check("applied only after a restart: [setting] task_worker_num" in out(),
          f"the restart-only change named:\n{out()[-2000:]}")
    check("secret" not in out().split("SIGHUP: reloading", 1)[1], "no value of a setting logged")
    with mega.client() as c:
        r = c.call_push("oAfterReload", "order_paid", {"product": "tea"})
        check(r.code == 200, f"a push after the reload: {r}")
    check(mega.stop() == 0, "mega stops cleanly after the signals")


def test_json_log_lines():
    mega = env.mega("json", overrides={"log": {"format": "json"}})
    wait_until(lambda: "mega started" in read(mega.log_file), 30, "the start line")
    lines = [line for line in read(mega.log_file).splitlines() if line]
    docs = [json.loads(line) for line in lines]  # every line one JSON object
    check(any(d["msg"].startswith("mega started") and d["level"] == "info" for d in docs),
          f"the start line as JSON: {lines[-3:]}")
    check(mega.stop() == 0, "stopped")


harness.run_tests(globals(), env, setup)
