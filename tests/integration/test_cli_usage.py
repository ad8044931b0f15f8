"""The command lines of mega, mega-cli and mega-bench as users and scripts meet them:
`--help` on every command and subcommand (its own usage on stdout, exit 0, the exit statuses
listed), `--version`, an unknown command (exit 64, every command listed), usage errors
(exit 64, nothing on stdout), the sysexits statuses of failures (69 server unreachable, 65
refused), and output for people by default with `--json` for scripts (`account pause`,
`account status`, `task list`, `failed list`, `push`, `mega status`).
"""

import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

env = harness.Env("cliusage")
S = {}

MEGA_COMMANDS = ["start", "stop", "restart", "status", "migrate"]
CLI_COMMANDS = ["push", "send", "tset", "bulk", "failed", "account", "task"]
CLI_ACTIONS = {
    "failed": ["list", "retry", "forget", "flush"],
    "account": ["status", "pause", "resume"],
    "task": ["create", "list", "pause", "resume", "cancel"],
}
EX_USAGE, EX_DATAERR, EX_UNAVAILABLE = 64, 65, 69


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega("usage")


def bench_binary():
    path = os.path.join(harness.BUILD_DIR, "tools", "bench", "mega-bench")
    check(os.access(path, os.X_OK), f"no mega-bench at {path}")
    return path


def run(binary, *args, cwd=None):
    """(exit status, stdout, stderr) of one run."""
    p = harness.run_captured([binary, *args], cwd=cwd or env.dir, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def cli(*args):
    return run(harness.mega_cli_binary(), "-c", S["mega"].ini, *args)


def check_all(cases, fn):
    """fn(case) for every case; fails with all the failures, not only the first."""
    failures = []
    for case in cases:
        try:
            fn(case)
        except harness.TestFailure as e:
            failures.append(str(e))
    check(not failures, f"{len(failures)} of {len(cases)} failed:\n" + "\n".join(failures))


def check_help(binary, path):
    name = os.path.basename(binary)
    rc, out, err = run(binary, *path, "--help")
    what = f"`{name} {' '.join(path)} --help`"
    check(rc == 0, f"{what} exited {rc}; stderr {err!r}")
    check(err == "", f"{what} wrote on stderr: {err!r}")
    usage = f"Usage: {' '.join([name, *path])} "
    check(usage in out, f"{what}: no {usage!r} on stdout (not its own help?): {out[:150]!r}")
    check(re.search(r"(?m)^Exit status:", out) and re.search(r"(?m)^\s+64\s+usage error", out),
          f"{what}: the exit statuses are not listed:\n{out}")


def test_mega_help_on_every_command():
    check_all([[]] + [[c] for c in MEGA_COMMANDS], lambda p: check_help(harness.mega_binary(), p))


def test_mega_cli_help_on_every_command_and_subcommand():
    paths = [[]] + [[c] for c in CLI_COMMANDS]
    paths += [[c, a] for c, actions in CLI_ACTIONS.items() for a in actions]
    check_all(paths, lambda p: check_help(harness.mega_cli_binary(), p))


def test_mega_bench_help():
    check_help(bench_binary(), [])


def test_help_lists_the_exit_statuses_in_use():
    rc, out, _ = run(harness.mega_binary(), "--help")
    for code in ["0", "3", "64", "69", "75", "78"]:
        check(re.search(rf"(?m)^\s+{code}\s+\S", out), f"mega --help does not explain {code}:\n{out}")
    rc, out, _ = run(harness.mega_cli_binary(), "--help")
    for code in ["0", "64", "65", "69", "75", "130"]:
        check(re.search(rf"(?m)^\s+{code}\s+\S", out), f"mega-cli --help does not explain {code}:\n{out}")
    for command in CLI_COMMANDS:
        check(re.search(rf"(?m)^\s+{command}\s", out), f"mega-cli --help does not list {command}")


def check_version(binary):
    with open(os.path.join(harness.SOURCE_DIR, "CMakeLists.txt")) as f:
        version = re.search(r"project\(mega VERSION ([0-9.]+)", f.read()).group(1)
    name = os.path.basename(binary)
    rc, out, err = run(binary, "--version")
    check(rc == 0, f"{name} --version exited {rc}: {err!r}")
    check(re.fullmatch(rf"{re.escape(name)} {re.escape(version)}( \(commit [0-9a-f]{{7,}}\))?\n",
                       out), f"{name} --version printed {out!r} (project version {version})")


def test_version():
    check_all([harness.mega_binary(), harness.mega_cli_binary(), bench_binary()], check_version)


def check_usage_error(what, rc, out, err, *words):
    check(rc == EX_USAGE, f"{what} exited {rc}, not {EX_USAGE}: {err!r}")
    check(out == "", f"{what} wrote on stdout: {out!r}")
    for word in words:
        check(re.search(rf"\b{re.escape(word)}\b", err), f"{what}: {word!r} not in {err!r}")


def test_unknown_command_lists_every_command():
    ini = S["mega"].ini
    cases = [(harness.mega_binary(), args, MEGA_COMMANDS)
             for args in (["frobnicate"], ["-c", ini, "frobnicate"])]
    cases += [(harness.mega_cli_binary(), args, CLI_COMMANDS)
              for args in (["frobnicate"], ["-c", ini, "frobnicate"])]
    cases += [(harness.mega_cli_binary(), ["-c", ini, command, "frobnicate"], actions)
              for command, actions in CLI_ACTIONS.items()]

    def one(case):
        binary, args, commands = case
        rc, out, err = run(binary, *args)
        check_usage_error(f"{os.path.basename(binary)} {' '.join(args)}", rc, out, err,
                          "frobnicate", *commands)
    check_all(cases, one)


def test_usage_errors_exit_64():
    ini = S["mega"].ini
    cases = [
        (harness.mega_binary(), []),
        (harness.mega_binary(), ["-c", ini, "start", "extra"]),
        (harness.mega_binary(), ["-c", ini]),
        (harness.mega_cli_binary(), []),
        (harness.mega_cli_binary(), ["-c", ini, "push", "oOnlyOpenid"]),
        (harness.mega_cli_binary(), ["-c", ini, "push", "oX", "order_paid", "{not json"]),
        (harness.mega_cli_binary(), ["-c", ini, "bulk", "--key", "order_paid"]),
        (harness.mega_cli_binary(), ["-c", ini, "push", "oX", "order_paid", "--no-such-flag"]),
        (harness.mega_cli_binary(), ["-c", ini, "failed", "retry"]),
        # --opt before and after the command: both are kept (and checked)
        (harness.mega_cli_binary(), ["-c", ini, "--opt", "bad", "push", "oX", "order_paid",
                                     "--opt", "priority=high"]),
        (bench_binary(), []),
        (bench_binary(), ["--port", str(S["mega"].port), "--window", "0"]),
    ]

    def one(case):
        binary, args = case
        rc, out, err = run(binary, *args)
        what = f"{os.path.basename(binary)} {' '.join(args)}"
        check_usage_error(what, rc, out, err)
        check(err.strip(), f"{what}: no message")
    check_all(cases, one)


def test_account_pause_prints_text_and_json_on_request():
    rc, out, err = cli("account", "pause", "--reason", "cli usage test")
    check(rc == 0, f"account pause exited {rc}: {err!r}")
    check(out == "account paused: cli usage test\n", f"account pause printed {out!r}")
    rc, out, err = cli("account", "status")
    check(rc == 0 and out == "account wxtest paused: cli usage test\n",
          f"account status: {rc} {out!r} {err!r}")
    rc, out, err = cli("account", "status", "--json")
    check(rc == 0, f"account status --json exited {rc}: {err!r}")
    status = json.loads(out)
    check(status["paused"] is True and status["reason"] == "cli usage test", f"status: {status}")
    rc, out, err = cli("--json", "account", "resume")  # --json before the command too
    check(rc == 0 and json.loads(out) == {"ok": True}, f"account resume --json: {rc} {out!r}")
    rc, out, err = cli("account", "status", "--json")
    check(json.loads(out)["paused"] is False, f"still paused: {out!r}")


def test_lists_print_text_and_json_on_request():
    rc, out, err = cli("task", "list")
    check(rc == 0 and out == "no tasks\n", f"task list: {rc} {out!r} {err!r}")
    rc, out, err = cli("task", "list", "--json")
    check(rc == 0 and json.loads(out) == [], f"task list --json: {rc} {out!r} {err!r}")
    rc, out, err = cli("failed", "list")
    check(rc == 0 and out == "0 dead letters\n", f"failed list: {rc} {out!r} {err!r}")
    rc, out, err = cli("failed", "list", "--json")
    check(rc == 0 and json.loads(out)["items"] == [], f"failed list --json: {rc} {out!r}")
    rc, out, err = cli("failed", "flush")
    check(rc == 0 and out == "0 dead letters forgotten\n", f"failed flush: {rc} {out!r} {err!r}")


def test_push_prints_the_reply_and_json_on_request():
    rc, out, err = cli("push", "oUsage0001", "order_paid", '{"product":"a","price":"1"}')
    check(rc == 0 and out == "200\n", f"push: {rc} {out!r} {err!r}")
    rc, out, err = cli("push", "oUsage0002", "order_paid", "--json")
    check(rc == 0 and json.loads(out) == {"code": 200, "message": ""}, f"push --json: {rc} {out!r}")
    # the parser before CLI11 took options anywhere: before the command too
    rc, out, err = cli("--opt", "priority=high", "push", "oUsage0003", "order_paid")
    check(rc == 0 and out == "200\n", f"--opt before push: {rc} {out!r} {err!r}")


def test_failures_exit_with_sysexits():
    rc, out, err = cli("push", "oUsage0004", "no_such_key")
    check(rc == EX_DATAERR and "template key not exists" in out,
          f"push of a missing key: {rc} {out!r} {err!r}")
    rc, out, err = cli("task", "pause", "999999")
    check(rc == EX_DATAERR and "404" in err, f"task pause of an unknown task: {rc} {err!r}")
    with socket.socket() as s:  # bound, not listening: a connection to it is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        rc, out, err = run(harness.mega_cli_binary(), "--addr", f"127.0.0.1:{port}",
                           "push", "oUsage0005", "order_paid")
    check(rc == EX_UNAVAILABLE and out == "", f"push to a closed port: {rc} {out!r} {err!r}")


def test_mega_status_json():
    m = S["mega"]
    rc, out, err = run(harness.mega_binary(), "-c", m.ini, "status", "--json", cwd=m.cwd)
    check(rc == 0, f"mega status --json exited {rc}: {out!r} {err!r}")
    status = json.loads(out)
    check(status["running"] is True and status["pid"] == m.proc.pid and "depth" in status,
          f"mega status --json: {status}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
