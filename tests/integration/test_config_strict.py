"""Strict config: an unknown section or key is reported at start with FILE:LINE and the
nearest known key (the original's Swoole keys are known); `[server] strict_config = 1` refuses
the start with the same text; `mega -c INI check` prints OK or every problem (exit 0, 78, 69);
`stop`, `status` and `restart` still find a daemon whose ini was broken on disk (restart
refuses and leaves it running).
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("cfgstrict")
S = {}

EX_CONFIG, EX_UNAVAILABLE = 78, 69

# Typos of ours, next to keys the original's file carries (Swoole's, class, protocol).
TYPOS = {
    "server": {"class": '"Server\\MegaWechatServer"', "protocol": '"Network\\MegaWechatProtocol"'},
    "setting": {"tsk_worker_num": 4, "worker_num": 2, "dispatch_mode": 2,
                "open_length_check": "true", "package_length_type": "N"},
    "wechat": {"rate_limit_per_secnd": 5},
    "sever": {"listen[]": "127.0.0.1:1"},
}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)


def out_of(p):
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def line_of(path, text):
    """The 1-based number of the line of `path` that starts with `text`."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.startswith(text):
                return n
    raise AssertionError(f"no line {text!r} in {path}")


def expected_warnings(ini):
    return [
        f"{ini}:{line_of(ini, 'tsk_worker_num')}: unknown key `tsk_worker_num` in [setting]; "
        "did you mean `task_worker_num`?",
        f"{ini}:{line_of(ini, 'rate_limit_per_secnd')}: unknown key `rate_limit_per_secnd` in "
        "[wechat]; did you mean `rate_limit_per_second`?",
        f"{ini}:{line_of(ini, '[sever]')}: unknown section [sever]; did you mean `[server]`?",
    ]


def check_only_typos_reported(text, ini):
    for w in expected_warnings(ini):
        check(w in text, f"missing {w!r} in:\n{text}")
    for key in ("class", "protocol", "worker_num`", "dispatch_mode", "open_length_check",
                "package_length_type"):
        check(f"unknown key `{key}" not in text, f"an original key {key} reported:\n{text}")


def test_typo_warns_and_starts():
    m = env.mega("typo", overrides=TYPOS)  # waits until it listens
    check_only_typos_reported(m.output(), m.ini)
    with open(m.log_file, encoding="utf-8") as f:
        log = f.read()
    check(expected_warnings(m.ini)[0] in log, f"the warning is not in the log:\n{log}")
    check(m.stop() == 0, "stop of the typo server")


def test_strict_config_refuses_with_the_same_text():
    m = env.mega("strict", overrides={**TYPOS, "server": {**TYPOS["server"],
                                                          "strict_config": 1}}, start=False)
    m.start(wait=False)
    wait_until(lambda: m.proc.poll() is not None or m.status() is not None, 60,
               "the strict server to exit (or to start)")
    rc = m.proc.poll()
    text = m.output()
    check(rc == EX_CONFIG, f"strict start exited {rc}, want {EX_CONFIG}:\n{text}")
    check_only_typos_reported(text, m.ini)
    check("strict_config" in text, f"the refusal does not name strict_config:\n{text}")
    check(m.status() is None, "a server runs after the refusal")


def test_check_ok_on_a_good_config():
    m = env.mega("checkok", start=False)
    p = m.cli("check")
    text = out_of(p)
    check(p.returncode == 0, f"check exited {p.returncode}:\n{text}")
    check(re.search(r"^OK\b", text, re.M), f"check does not print OK:\n{text}")


def test_check_lists_each_problem():
    m = env.mega("checkbad", start=False, overrides={
        **TYPOS, "server": {"table_size": "lots", "fsync": "sometimes"}})
    p = m.cli("check")
    text = out_of(p)
    check(p.returncode == EX_CONFIG, f"check exited {p.returncode}, want {EX_CONFIG}:\n{text}")
    check_only_typos_reported(text, m.ini)
    for key in ("table_size", "fsync"):
        want = f"{m.ini}:{line_of(m.ini, key)}: [server] {key}:"
        check(want in text, f"missing {want!r} in:\n{text}")
    check(not re.search(r"^OK\b", text, re.M), f"check says OK on a bad config:\n{text}")


def test_check_reports_mysql_unreachable():
    sections = env.mega_sections("checkdb")
    sections["pdo"]["dsn"] = '"mysql:host=127.0.0.1;port=1;dbname=mega"'
    m = harness.Mega(env, "checkdb", sections)
    p = m.cli("check")
    text = out_of(p)
    check(p.returncode == EX_UNAVAILABLE, f"check exited {p.returncode}, want 69:\n{text}")
    check("MySQL 127.0.0.1:1" in text, f"check does not name MySQL:\n{text}")


def break_ini(path):
    """What an operator's bad edit leaves: a bad value, and a line that is not ini at all."""
    with open(path) as f:
        text = f.read()
    text = text.replace("table_size = 100", "table_size = 100 messages")
    with open(path, "w") as f:
        f.write(text + "\nthis is not an ini line\n")


def test_stop_status_restart_after_the_ini_broke():
    pid_file = os.path.join(env.dir, "broken", "run", "mega.pid")
    m = env.mega("broken", start=False,
                 overrides={"setting": {"daemonize": 1}, "server": {"pid_file": pid_file}})
    p = m.cli("start")
    check(p.returncode == 0, f"start exited {p.returncode}: {out_of(p)}\n{m.diagnostics()}")
    m.wait_ready(30)
    pid = m.status()["pid"]
    break_ini(m.ini)

    p = m.cli("status")
    check(p.returncode == 0 and f"pid {pid}" in out_of(p),
          f"status with a broken ini: exit {p.returncode}: {out_of(p)}")
    p = m.cli("restart")
    check(p.returncode == EX_CONFIG, f"restart with a broken ini exited {p.returncode}: "
          f"{out_of(p)}")
    check("table_size" in out_of(p) and "left running" in out_of(p),
          f"restart does not say why, nor that the server runs: {out_of(p)}")
    check(harness.pid_alive(pid), "restart with a broken ini stopped the server")

    p = m.cli("stop")
    check(p.returncode == 0, f"stop with a broken ini exited {p.returncode}: {out_of(p)}")
    check(not harness.pid_alive(pid), f"server {pid} still running after stop")
    wait_until(lambda: not harness.port_open(m.port), 30, "the port to close")


if __name__ == "__main__":
    harness.run_tests(globals(), env, setup)
