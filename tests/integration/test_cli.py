"""Command lines: `mega -c INI start|status|stop` with daemonize = 1 (pid file, queue depth,
clean stop); `mega NAME start` finding config/NAME.ini in the working directory; mega-cli:
`push`, `bulk` delivering every line of an openid file, and `bulk` resuming from
FILE.progress (only the lines after the recorded count are sent); and port 0 in listen[] and
[admin] listen, reported in the log and the status file and found there by the tools.
"""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("cli")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)


def read_pid(path):
    with open(path) as f:
        return int(f.read().split()[0])


def out_of(p):
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def test_daemon_start_status_stop():
    pid_file = os.path.join(env.dir, "daemon", "mega.pid")
    m = env.mega("daemon", start=False,
                 overrides={"setting": {"daemonize": 1}, "server": {"pid_file": pid_file}})
    p = m.cli("start", timeout=60)
    check(p.returncode == 0, f"start exited {p.returncode}: {out_of(p)}\n{m.diagnostics()}")
    check(os.path.exists(pid_file), f"no pid file {pid_file} after start")
    pid = read_pid(pid_file)
    check(harness.pid_alive(pid), f"pid {pid} from the pid file is not running")
    check(harness.is_mega(pid), f"pid {pid} is not a mega process")
    m.wait_ready(30)
    with m.client() as c:
        r = c.call_push("oDaemon0001", "order_paid", None)
        check(r.code == 200, f"push to the daemon: {r}")
    wait_until(lambda: S["fake"].messages_to("oDaemon0001"), 30, "delivery via the daemon")

    p = m.cli("status", timeout=30)
    text = out_of(p)
    print(f"  status: {text.strip()!r}")
    check(p.returncode == 0, f"status exited {p.returncode}: {text}")
    check(re.search(r"(?i)\brunning\b", text) and not re.search(r"(?i)not running", text),
          f"status does not say running: {text!r}")
    check(re.search(r"(?i)(queue|depth|backlog)\D{0,40}\d+", text),
          f"status prints no queue depth: {text!r}")

    p = m.cli("stop", timeout=60)
    check(p.returncode == 0, f"stop exited {p.returncode}: {out_of(p)}")
    check(not harness.pid_alive(pid), f"daemon {pid} still running when stop returned")
    check(not harness.port_open(m.port), "port still open after stop")

    p = m.cli("status", timeout=30)
    text = out_of(p)
    check(p.returncode != 0 or re.search(r"(?i)not running|stopped", text),
          f"status after stop: exit {p.returncode}, {text!r}")


def test_start_by_name():
    root = os.path.join(env.dir, "byname")
    os.makedirs(os.path.join(root, "config"), exist_ok=True)
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    sections = env.mega_sections("byname", overrides={
        # relative paths: against the working directory
        "server": {"queue_file_path": "logs/queue"},
        "log": {"log_file": "logs/mega.log"},
    })
    with open(os.path.join(root, "config", "shop.ini"), "w") as f:
        f.write(harness.render_ini(sections))
    proc = subprocess.Popen([harness.mega_binary(), "shop", "start"], cwd=root,
                            stdin=subprocess.DEVNULL,
                            stdout=open(os.path.join(root, "stdout"), "wb"),
                            stderr=open(os.path.join(root, "stderr"), "wb"),
                            preexec_fn=harness._die_with_parent)
    harness.on_exit(lambda: proc.poll() is None and (proc.kill(), proc.wait()))

    def up():
        if proc.poll() is not None:
            raise harness.TestFailure(
                f"`mega shop start` exited {proc.returncode}:\n"
                f"{harness.tail(os.path.join(root, 'stderr'))}")
        # listen[] says port 0: the port it got is in its status file
        st = harness.read_status(os.path.join(root, "logs", "queue"))
        return st and st.get("pid") == proc.pid and st["port"] and \
            harness.port_open(st["port"][0]) and st["port"][0]
    port = wait_until(up, 60, "`mega shop start` (cwd with config/shop.ini) to listen")
    with harness.Client(port) as c:
        r = c.call_push("oByName0001", "order_paid", None)
        check(r.code == 200, f"push: {r}")
    wait_until(lambda: S["fake"].messages_to("oByName0001"), 30, "delivery")
    check(os.path.isdir(os.path.join(root, "logs", "queue")),
          "relative queue_file_path not created under the working directory")
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(60)
    check(rc == 0, f"exit {rc} on SIGTERM")


def cli_server():
    if "cli" not in S:
        S["cli"] = env.mega("cliserver")
    return S["cli"]


def mega_cli(*args, timeout=120):
    m = cli_server()
    return harness.run_captured([harness.mega_cli_binary(), "-c", m.ini, *args],
                                cwd=env.dir, timeout=timeout)


def test_cli_push():
    p = mega_cli("push", "oCliPush0001", "order_paid", '{"product":"cli","price":"2"}')
    check(p.returncode == 0, f"mega-cli push exited {p.returncode}: {out_of(p)}")
    msgs = wait_until(lambda: S["fake"].messages_to("oCliPush0001"), 30, "delivery")
    body = harness.FakeWechat.body_of(msgs[0])
    check(body["data"]["keyword1"]["value"] == "cli", f"body: {body}")
    p = mega_cli("push", "oCliPush0002", "no_such_key")
    check(p.returncode != 0, "mega-cli push to a missing key exited 0")
    check("template key not exists" in out_of(p), f"mega-cli did not show the 400: {out_of(p)!r}")


def write_openids(name, prefix, n):
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        for i in range(n):
            f.write(f"{prefix}{i:06d}\n")
    return path, [f"{prefix}{i:06d}" for i in range(n)]


def delivered_set(prefix):
    return {m.get("touser") for m in S["fake"].messages() if (m.get("touser") or "").startswith(prefix)}


def test_bulk_delivers_every_line():
    path, ids = write_openids("bulk1.txt", "oBulkA", 500)
    p = mega_cli("bulk", "--key", "order_paid", "--openids", path,
                 "--data", '{"product":"bulk","price":"3"}')
    check(p.returncode == 0, f"bulk exited {p.returncode}: {out_of(p)[-2000:]}")
    want = set(ids)
    wait_until(lambda: delivered_set("oBulkA") == want, 60,
               lambda: f"all 500 bulk lines delivered (have {len(delivered_set('oBulkA'))})")
    check(os.path.exists(path + ".progress"), "no progress file after bulk")
    with open(path + ".progress") as f:
        progress = f.read()
    check(re.search(r"\b500\b", progress), f"progress file after a full run: {progress!r}")


def test_bulk_resumes_from_progress():
    n, k = 300, 120
    path, ids = write_openids("bulk2.txt", "oBulkB", n)
    with open(path + ".progress", "w") as f:  # an interrupted run got k lines acknowledged
        f.write(f"{k}\n")
    p = mega_cli("bulk", "--key", "order_paid", "--openids", path)
    check(p.returncode == 0, f"bulk exited {p.returncode}: {out_of(p)[-2000:]}")
    m = re.search(r"(\d+) sent", out_of(p))
    if m:  # the summary line "bulk: N sent, …"
        check(int(m.group(1)) == n - k, f"bulk resumed at {k} but sent {m.group(1)} (want {n - k})")
    want = set(ids[k:])
    wait_until(lambda: delivered_set("oBulkB") >= want, 60,
               lambda: f"lines after {k} delivered (have {len(delivered_set('oBulkB') & want)})")
    # an extra push as a fence: once it is delivered, earlier queued pushes had their chance
    p2 = mega_cli("push", "oBulkFence01", "order_paid")
    check(p2.returncode == 0, f"fence push: {out_of(p2)}")
    wait_until(lambda: S["fake"].messages_to("oBulkFence01"), 30, "fence delivery")
    early = delivered_set("oBulkB") & set(ids[:k])
    check(not early, f"{len(early)} lines before the progress mark were sent again, "
                     f"e.g. {sorted(early)[:3]}")


def test_port_0_is_reported_to_the_tools():
    """listen[] and [admin] listen on port 0 (as every test server): the OS picks, mega logs
    the ports it got and writes them into its status file (`port N` per listen[] address, in
    order; `admin N`), `mega status` shows them and `mega-cli -c INI` connects through them."""
    m = env.mega("port0", overrides={"server": {"listen[]": ["127.0.0.1:0", "127.0.0.1:0"]}})
    check(len(m.ports) == 2 and len({*m.ports, m.admin_port}) == 3 and 0 not in m.ports,
          f"ports {m.ports}, admin {m.admin_port}")
    for i, port in enumerate(m.ports):
        with harness.Client(port) as c:
            r = c.call_push(f"oPortZero{i:03d}", "order_paid", None)
            check(r.code == 200, f"push on listen[{i}] (port {port}): {r}")
    for port in m.ports:
        wait_until(lambda: f"listening on 127.0.0.1:{port}" in m.output(), 10,
                   f"'listening on 127.0.0.1:{port}' in the log")
    p = m.cli("status", timeout=30)
    check(p.returncode == 0 and all(f"port {n}" in out_of(p) for n in m.ports)
          and f"admin {m.admin_port}" in out_of(p), f"status: {out_of(p)!r}")
    p = harness.run_captured([harness.mega_cli_binary(), "-c", m.ini, "push", "oPortZero100",
                              "order_paid"], cwd=env.dir, timeout=60)
    check(p.returncode == 0, f"mega-cli -c INI (port 0) push: {out_of(p)}")
    p = harness.run_captured([harness.mega_cli_binary(), "-c", m.ini, "account", "status"],
                             cwd=env.dir, timeout=60)
    check(p.returncode == 0, f"mega-cli -c INI (admin port 0) account status: {out_of(p)}")
    wait_until(lambda: all(S["fake"].messages_to(f"oPortZero{i:03d}") for i in (0, 1, 100)),
               30, "the three pushes delivered")
    check(m.stop() == 0, "stop")
    p = harness.run_captured([harness.mega_cli_binary(), "-c", m.ini, "push", "oPortZero200",
                              "order_paid"], cwd=env.dir, timeout=60)
    check(p.returncode != 0 and "not running" in out_of(p),
          f"mega-cli after stop (the status file remains): {out_of(p)}")


def test_cli_server_sigterm():
    rc = cli_server().stop()
    check(rc == 0, f"mega exited {rc} on SIGTERM")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
