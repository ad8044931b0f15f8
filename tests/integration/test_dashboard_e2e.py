"""The dashboard's end-to-end browser test (tests/e2e/, node's test runner + playwright-core
driving Debian's Chromium) as a ctest test.

Installs what it needs when missing: Chromium (`apt-get install -y chromium`, never a browser
download) and the node modules (`npm ci` in tests/e2e). Then runs `node --test tests/e2e/`
with MEGA_BUILD_DIR/MEGA_SOURCE_DIR passed on, and fails with its output if it fails.
The screenshot lands in $MEGA_BUILD_DIR/e2e/dashboard.png.
"""

import os
import shutil
import subprocess
import sys
import time

T0 = time.monotonic()

SOURCE_DIR = os.path.abspath(os.environ.get("MEGA_SOURCE_DIR") or
                             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("MEGA_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
E2E_DIR = os.path.join(SOURCE_DIR, "tests", "e2e")
CHROMIUM = os.environ.get("MEGA_CHROMIUM", "/usr/bin/chromium")
SCRIPT = os.path.basename(__file__)


def fail(msg, output=""):
    if output:
        print(output)
    print(f"FAIL dashboard e2e: {msg}")
    print(f"{SCRIPT}: 0 passed, 1 failed")
    sys.stdout.flush()
    sys.exit(1)


def sh(cmd, cwd=None, timeout=600, env=None):
    p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def ensure_chromium():
    if os.path.exists(CHROMIUM):
        return
    if os.geteuid() != 0:
        fail(f"{CHROMIUM} is missing and we are not root to apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    rc, out = sh(["apt-get", "install", "-y", "-q", "chromium"], env=env, timeout=900)
    if rc != 0:  # maybe the package lists are stale or missing
        sh(["apt-get", "update", "-q"], env=env, timeout=600)
        rc, out = sh(["apt-get", "install", "-y", "-q", "chromium"], env=env, timeout=900)
    if rc != 0 or not os.path.exists(CHROMIUM):
        fail("apt-get install chromium failed", out[-3000:])


def ensure_node_modules():
    if not shutil.which("node") or not shutil.which("npm"):
        fail("node and npm are needed (apt-get install nodejs npm)")
    if os.path.isdir(os.path.join(E2E_DIR, "node_modules", "playwright-core")):
        return
    rc, out = sh(["npm", "ci", "--no-audit", "--no-fund"], cwd=E2E_DIR, timeout=600)
    if rc != 0:
        fail("npm ci in tests/e2e failed", out[-3000:])


def main():
    ensure_chromium()
    ensure_node_modules()
    env = {**os.environ, "MEGA_BUILD_DIR": BUILD_DIR, "MEGA_SOURCE_DIR": SOURCE_DIR,
           "MEGA_CHROMIUM": CHROMIUM}
    # ctest kills this script at 300 s: leave the test what the installs did not use
    budget = max(60, int(285 - (time.monotonic() - T0)))
    try:
        rc, out = sh(["node", "--test", "--test-reporter=spec", E2E_DIR + "/"], cwd=SOURCE_DIR,
                     env=env, timeout=budget)
    except subprocess.TimeoutExpired:
        fail(f"node --test did not finish within {budget} s")
    print(out)
    if rc != 0:
        fail(f"node --test exited with {rc} (screenshot of the failure, if any: "
             f"{os.path.join(BUILD_DIR, 'e2e', 'dashboard-failure.png')})")
    print(f"screenshot: {os.path.join(BUILD_DIR, 'e2e', 'dashboard.png')}")
    print(f"{SCRIPT}: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
