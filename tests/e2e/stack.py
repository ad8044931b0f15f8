#!/usr/bin/env python3
"""Starts the real stack for the dashboard's browser test, through tests/integration/harness.py
(and so tools/megastack.py): a sandbox MariaDB (migrated, with templates), fake-wechat, and
mega in the foreground with both its ports on port 0 (read back from its status file) and an
admin token.

    python3 tests/e2e/stack.py start

prints one JSON line once everything is up:

    {"admin": "http://127.0.0.1:P", "token": "...", "mega_port": N, "fake": "http://127.0.0.1:F",
     "ini": "/path/mega.ini", "mega_cli": "/path/mega-cli", "dir": "/tmp/..."}

then keeps everything running until its standard input closes (or it gets SIGTERM/SIGINT),
and stops it all (harness cleanups; the children also die with this process). So the caller
"stops" the stack by closing the pipe or killing this process: nothing can be left behind.
On a failure to start it prints {"error": "...", "diagnostics": "..."} and exits 1.

Environment: as harness.py (MEGA_BUILD_DIR, MEGA_SOURCE_DIR, MEGA_FAKE_WECHAT, MEGA_KEEP_TMP).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

TOKEN = "e2e-dashboard-token"


def start():
    env = harness.Env("e2e")
    try:
        db = env.mariadb({"order_paid": harness.ORDER_PAID, "welcome": harness.WELCOME})
        fake = env.fake_wechat(latency_ms=0)
        mega = env.mega(overrides={
            "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
            "setting": {"daemonize": 0},
        })
        info = {"admin": mega.admin_base, "token": TOKEN, "mega_port": mega.port, "fake": fake.base,
                "ini": mega.ini, "mega_cli": harness.mega_cli_binary(), "dir": env.dir,
                "db_port": db.port}
    except BaseException as e:  # noqa: BLE001 - report anything, then clean up at exit
        diag = ""
        try:
            diag = env.diagnostics()
        except Exception:  # noqa: BLE001
            pass
        print(json.dumps({"error": f"{type(e).__name__}: {e}", "diagnostics": diag}), flush=True)
        sys.exit(1)
    print(json.dumps(info), flush=True)
    try:
        # Block until the caller closes our stdin (or kills us: the harness cleans up then).
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        sys.stdout.flush()
    # On a normal exit, atexit runs the harness's cleanups: mega, fake-wechat, MariaDB, tmp dir.
    return env


def main():
    if len(sys.argv) != 2 or sys.argv[1] != "start":
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    t0 = time.monotonic()
    start()
    print(f"[stack] stopped after {time.monotonic() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
