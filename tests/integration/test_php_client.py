"""The PHP client package (clients/php) against a real stack: MariaDB, fake-wechat, a mega
with its HTTP API asked for ([http] listen, keys) and a second mega with idle_timeout_s = 1.
Runs Debian's phpunit on clients/php (unit, Laravel and integration suites) with the ports
and keys in its environment, serves its "restart" requests (mega stopped and started again on
the same ports, for the reconnect test), then checks fake-wechat received every message the
PHP tests queued, and that the package installs with Composer from a path repository, offline.

The HTTP tests are skipped only when mega reports no `http` port in its status file (a mega
built without the HTTP API); any other skipped test fails this script.
"""

import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402

PKG = os.path.join(harness.SOURCE_DIR, "clients", "php")
env = harness.Env("phpclient")
S = {}
HTTP_KEY = "php-" + secrets.token_hex(8)


def status_port(mega, name):
    """The `name PORT` line of mega's status file (read_status stops at the port lines)."""
    try:
        with open(os.path.join(mega.queue_path, "status")) as f:
            for line in f.read().splitlines():
                key, _, value = line.partition(" ")
                if key == name and value.strip().isdigit():
                    return int(value)
    except OSError:
        pass
    return None


def http_port(mega):
    """The http port mega reports; None if it reports none even after its next rewrite."""
    port = status_port(mega, "http")
    if port is None:
        path = os.path.join(mega.queue_path, "status")
        before = os.stat(path).st_mtime_ns
        wait_until(lambda: os.stat(path).st_mtime_ns != before, 10, "mega to rewrite its status file")
        port = status_port(mega, "http")
    return port


def main_overrides(port=0, http=0):
    return {"server": {"listen[]": f"127.0.0.1:{port}"},
            "http": {"listen": f"127.0.0.1:{http}", "keys": f"php:{HTTP_KEY}"}}


def setup():
    env.mariadb({"order_paid": harness.ORDER_PAID, "welcome": harness.WELCOME})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega(overrides=main_overrides())
    S["http"] = http_port(S["mega"])
    S["idle"] = env.mega(name="idle", overrides={"server": {"idle_timeout_s": 1}})
    print(f"  mega port {S['mega'].port}, http port {S['http']}, idle mega port {S['idle'].port}")


def restart_mega():
    """Stops mega and starts it on the ports it had (its queue directory kept)."""
    old = S["mega"]
    port = old.port
    check(old.stop() == 0, "mega did not stop cleanly:\n" + old.diagnostics())
    S["mega"] = env.mega(overrides=main_overrides(port, S["http"] or 0))
    check(S["mega"].port == port, f"mega came back on port {S['mega'].port}, not {port}")
    return port


def serve_control(control, phpunit):
    """Answers the PHP tests' control lines until phpunit exits."""
    while phpunit.poll() is None:
        ready, _, _ = select.select([control], [], [], 0.2)
        if not ready:
            continue
        conn, _ = control.accept()
        with conn:
            conn.settimeout(10)
            line = conn.makefile("r").readline().strip()
            try:
                answer = f"ok {restart_mega()}" if line == "restart" else f"error unknown command {line!r}"
            except Exception as e:  # the PHP test reports it
                answer = f"error {e}"
            print(f"  control {line!r}: {answer}")
            conn.sendall((answer + "\n").encode())


def junit_summary(path):
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    failed = [c.get("class", "") + "::" + c.get("name") for c in cases
              if c.find("failure") is not None or c.find("error") is not None]
    skipped = [c.get("class", "") + "::" + c.get("name") for c in cases if c.find("skipped") is not None]
    return len(cases), failed, skipped


def test_phpunit_suite():
    phpunit = shutil.which("phpunit")
    check(phpunit, "phpunit not found: install Debian's phpunit, php-cli and php-curl (tools/test does)")
    control = socket.socket()
    control.bind(("127.0.0.1", 0))
    control.listen(4)
    harness.on_exit(control.close)
    expect = S["expect"] = os.path.join(env.dir, "php-expect.txt")
    open(expect, "w").close()
    junit = os.path.join(env.dir, "phpunit.xml")
    http = S["http"]
    run_env = dict(os.environ, MEGA_HOST="127.0.0.1", MEGA_PORT=str(S["mega"].port),
                   MEGA_IDLE_PORT=str(S["idle"].port),
                   MEGA_HTTP_URL=f"http://127.0.0.1:{http}" if http else "",
                   MEGA_HTTP_KEY=HTTP_KEY if http else "", MEGA_FAKE_URL=S["fake"].base,
                   MEGA_CONTROL_PORT=str(control.getsockname()[1]), MEGA_EXPECT_FILE=expect)
    out_path = os.path.join(env.dir, "phpunit.out")
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([phpunit, "--log-junit", junit], cwd=PKG, env=run_env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=harness._die_with_parent)
        serve_control(control, proc)
    with open(out_path, encoding="utf-8", errors="replace") as f:
        output = f.read()
    print("\n".join("  | " + line for line in output.splitlines()[-40:]))
    check(proc.returncode == 0, f"phpunit exited {proc.returncode}")
    total, failed, skipped = junit_summary(junit)
    check(total > 0 and not failed, f"phpunit: {total} tests, failed: {failed}")
    allowed = [] if http else [s for s in skipped if "HttpClientTest" in s or "ViaHttp" in s]
    check(sorted(skipped) == sorted(allowed), f"unexpected skipped tests: {sorted(set(skipped) - set(allowed))}")
    if skipped:
        print(f"  NOTE: {len(skipped)} HTTP tests skipped: mega reports no http port")
    print(f"  phpunit: {total} tests, {len(skipped)} skipped")


def test_messages_reached_fake_wechat():
    check("expect" in S, "phpunit did not run")
    with open(S["expect"]) as f:
        want = {line.strip() for line in f if line.strip()}
    check(want, "the PHP tests queued no message")
    print(f"  {len(want)} messages the PHP tests queued")
    fake = S["fake"]

    def missing():
        return want - {m.get("touser") for m in fake.messages()}

    wait_until(lambda: not missing(), 120, lambda: f"fake-wechat to receive {sorted(missing())[:5]} "
               f"({len(missing())} of {len(want)} missing)")
    for m in fake.messages():
        if m.get("touser") in want:
            body = harness.FakeWechat.body_of(m)
            check(body["touser"] == m["touser"], f"body rendered for another openid: {m}")


def test_composer_installs_from_a_path_repository_offline():
    composer = shutil.which("composer")
    check(composer, "composer not found: install Debian's composer (tools/test does)")
    app = os.path.join(env.dir, "composer-app")
    os.makedirs(app)
    cenv = dict(os.environ, COMPOSER_HOME=os.path.join(env.dir, "composer-home"),
                COMPOSER_NO_INTERACTION="1", COMPOSER_DISABLE_NETWORK="1",
                COMPOSER_ALLOW_SUPERUSER="1")
    p = harness.run_captured([composer, "validate", "--strict", "--no-check-lock",
                              os.path.join(PKG, "composer.json")], env=cenv)
    check(p.returncode == 0, f"composer validate: {p.stdout.decode()} {p.stderr.decode()}")
    with open(os.path.join(app, "composer.json"), "w") as f:
        json.dump({"name": "test/app", "require": {"mega/client": "*@dev"},
                   "repositories": [{"type": "path", "url": PKG, "options": {"symlink": False}},
                                    {"packagist.org": False}]}, f)
    p = harness.run_captured([composer, "install", "--no-progress"], cwd=app, env=cenv, timeout=120)
    check(p.returncode == 0, f"composer install: {p.stdout.decode()} {p.stderr.decode()}")
    script = ('require "vendor/autoload.php"; $m = Mega\\Message::make("order_paid", "oX", ["a" => "b/ü"]);'
              'echo Mega\\Protocol\\Frame::request("push", "oX", "order_paid", 7, $m->body());')
    p = harness.run_captured(["php", "-r", script], cwd=app)
    check(p.returncode == 0, f"php with Composer's autoloader: {p.stderr.decode()}")
    want = harness.encode_push("oX", "order_paid", {"a": "b/ü"}, 7)
    check(p.stdout == want, f"frame through Composer's autoloader: {p.stdout.hex()} != {want.hex()}")
    with open(os.path.join(app, "vendor", "composer", "installed.json")) as f:
        installed = json.load(f)
    pkgs = installed.get("packages", installed)
    mega = [x for x in pkgs if x.get("name") == "mega/client"]
    check(mega and mega[0]["extra"]["laravel"]["providers"] == ["Mega\\Laravel\\MegaServiceProvider"],
          f"Laravel package discovery entry missing: {mega}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
