"""The README's walkthrough ("Your first message") run as written: each ```sh block that
follows a `<!-- walkthrough -->` line, in order, in one bash (set -Eeuo pipefail), in a
scratch directory whose build/ is the build under test. A sandbox MariaDB stands in for the
user's MySQL (its `mega` database dropped first, so that the README creates it and
`migrate` makes the tables) and tools/fake-wechat for WeChat. The only substitutions are the
variables that the README says the test sets (the README reads each as ${NAME:-default}).

Checked: every block exits 0; fake-wechat gets the pushed message, rendered (touser is the
openid, every pushed value in place, no ${...} left); the blocks after the push show it
(status running with sent 1, the message-log row, the admin API's record) and print a
dashboard URL and admin token that open the dashboard and its API; the last block stops the
server. Between blocks the test waits on events (the delivery, the log row), as a person
would read the phone before typing on.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402

README = os.path.join(harness.SOURCE_DIR, "README.md")
MARKER = "<!-- walkthrough -->"
BLOCK_TIMEOUT = 120  # seconds for one block (ASan builds are slower)
OPENID = "oReadmeWalkthrough000000001"

env = harness.Env("readme")
S = {}


class Block:
    def __init__(self, line, text):
        self.line, self.text = line, text  # line: README.md line of the block's first command

    def where(self):
        return f"README.md:{self.line}"


def walkthrough_blocks():
    """The ```sh blocks that follow a MARKER line, in order."""
    with open(README, encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == MARKER:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            check(j < len(lines) and lines[j].strip() in ("```sh", "```bash"),
                  f"README.md:{i + 1}: {MARKER} is not followed by a ```sh block")
            k = j + 1
            while k < len(lines) and lines[k].strip() != "```":
                k += 1
            check(k < len(lines), f"README.md:{j + 1}: the block is not closed")
            blocks.append(Block(j + 2, "\n".join(lines[j + 1:k]) + "\n"))
            i = k
        i += 1
    return blocks


BLOCKS = []  # the walkthrough, read by setup()
# The README reads these as ${NAME:-default}; the test sets them to the sandbox and the fake.
PUSH = re.compile(r"""mega-cli\s+\S+\s+push\s+"\$OPENID"\s+(\S+)\s+'([^']*)'""")


def readme_variables():
    return set(re.findall(r"\b([A-Z][A-Z0-9_]*)=\$\{\1:-", "".join(b.text for b in BLOCKS)))


def push_block_index():
    found = [i for i, b in enumerate(BLOCKS) if PUSH.search(b.text)]
    check(found, "no walkthrough block pushes with `mega-cli NAME push \"$OPENID\" KEY 'JSON'`")
    return found[0]


# --------------------------------------------------------------------------------------------
# one bash, fed block by block

class Shell:
    """bash reading commands from a pipe: each block is written to a file and sourced (stdin
    /dev/null), then a marker is echoed; run() waits for the marker or bash's exit."""

    def __init__(self, cwd, variables):
        self.dir = os.path.join(env.dir, "blocks")
        os.makedirs(self.dir)
        self.transcript = os.path.join(env.dir, "walkthrough.out")
        self.out = open(self.transcript, "wb")
        shell_env = {k: v for k, v in os.environ.items() if k not in readme_variables()}
        shell_env.update(variables)
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                                     stdout=self.out, stderr=subprocess.STDOUT, cwd=cwd,
                                     env=shell_env, preexec_fn=harness.megastack.die_with_parent)
        harness.on_exit(self.kill)
        self.count = 0
        self.failed = None  # the block that failed: the later ones are not run
        self._send("set -Eeuo pipefail\n"
                   "trap 'echo \"@@ walkthrough: exit $? from: $BASH_COMMAND\" >&2' ERR\n")

    def _send(self, text):
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # bash exited: run() reports it

    def read(self, start=0):
        with open(self.transcript, "rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")

    def run(self, block):
        """Runs one block; returns what it printed. Fails naming the block if bash exits."""
        check(self.failed is None, f"not run: the walkthrough block at {self.failed} failed")
        self.count += 1
        path = os.path.join(self.dir, f"{self.count}.sh")
        with open(path, "w", encoding="utf-8") as f:
            f.write(block.text)
        start = os.path.getsize(self.transcript)
        done = f"@@ walkthrough block {self.count} done"
        print(f"  -- {block.where()}")
        self._send(f"source {shlex.quote(path)} </dev/null\necho '{done}'\n")
        wait_until(lambda: done in self.read(start) or self.proc.poll() is not None,
                   BLOCK_TIMEOUT, f"the block at {block.where()} to finish")
        out = self.read(start)
        if done not in out:
            self.failed = block.where()
            raise harness.TestFailure(
                f"the walkthrough block at {block.where()} failed (bash exited "
                f"{self.proc.poll()}):\n{block.text}--- it printed:\n{out}{server_log()}")
        out = out.replace(done + "\n", "")
        print("     " + out.rstrip().replace("\n", "\n     "))
        return out

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(30)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def server_log():
    path = os.path.join(S["clone"], "logs", "shop.log")
    return f"\n--- {path}:\n{harness.tail(path, 20)}" if os.path.exists(path) else ""


def walkthrough_server_pid():
    """The pid of the server the walkthrough started (its pid file), if it runs."""
    try:
        with open(os.path.join(S["clone"], "logs", "shop", "mega.pid")) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if harness.pid_alive(pid) and harness.is_mega(pid) else None


def stop_walkthrough_server():
    pid = walkthrough_server_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while harness.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if harness.pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def setup():
    BLOCKS[:] = walkthrough_blocks()
    db = S["db"] = env.mariadb()
    db.sql("DROP DATABASE mega;")  # the README creates it, `migrate` makes the tables
    S["vars"] = {"DB_PORT": str(db.port), "DB_PASS": "root", "APP_ID": "wxreadme",
                 "APP_SECRET": "readme-secret", "OPENID": OPENID, "MEGA_PORT": "0",
                 "ADMIN_PORT": "0"}
    fake = S["fake"] = env.fake_wechat(appid=S["vars"]["APP_ID"],
                                       secret=S["vars"]["APP_SECRET"])
    S["vars"]["WECHAT_API"] = fake.base
    clone = S["clone"] = os.path.join(env.dir, "clone")
    os.makedirs(clone)
    os.symlink(harness.BUILD_DIR, os.path.join(clone, "build"))
    harness.on_exit(stop_walkthrough_server)  # runs before the fake and the database stop
    S["shell"] = Shell(clone, S["vars"])


# --------------------------------------------------------------------------------------------
# the tests, in the walkthrough's order

def test_the_walkthrough_is_marked_and_says_what_the_test_sets():
    check(len(BLOCKS) >= 3, f"{len(BLOCKS)} blocks marked {MARKER} in README.md")
    push = push_block_index()
    check(push < len(BLOCKS) - 1, "no block after the push shows the message")
    check(re.search(r"\bmega\s+\S+\s+stop\b", BLOCKS[-1].text),
          f"the last walkthrough block does not stop the server:\n{BLOCKS[-1].text}")
    with open(README, encoding="utf-8") as f:
        text = f.read()
    at = text.find("`tests/integration/test_readme.py` runs")
    check(at >= 0, "README.md has no note on what tests/integration/test_readme.py substitutes")
    note = text[at:at + 800]
    for name in S["vars"]:
        check(name in readme_variables(),
              f"the test sets {name}, which no walkthrough block reads as ${{{name}:-…}}")
        if name not in ("MEGA_PORT", "ADMIN_PORT"):
            check(f"`{name}`" in note, f"the README's note does not say the test sets {name}")


def test_the_blocks_up_to_the_push_run():
    outputs = [S["shell"].run(b) for b in BLOCKS[:push_block_index() + 1]]
    everything = "".join(outputs)
    check(re.search(r"schema at version \d+; applied", everything),
          f"`migrate` did not create the tables on the new database:\n{everything}")
    check(walkthrough_server_pid(), f"no server runs after the blocks{server_log()}")


def readme_template():
    """The template text of the row the walkthrough inserts (the third string of VALUES)."""
    for b in BLOCKS:
        m = re.search(r"INSERT|REPLACE", b.text) and re.search(
            r"VALUES\s*\(\s*'[^']*',\s*'[^']*',\s*'([^']*)'", b.text)
        if m:
            return m.group(1)
    raise harness.TestFailure("no walkthrough block inserts a template row")


def test_the_message_reaches_fake_wechat_rendered():
    check(S["shell"].failed is None, f"the walkthrough block at {S['shell'].failed} failed")
    key, data = PUSH.search(BLOCKS[push_block_index()].text).groups()
    data = json.loads(data)
    template = readme_template()
    holes = set(re.findall(r"\$\{(\w+)\}", template))
    check("OPENID" in holes, f"the README's template has no ${{OPENID}}: {template}")
    check(holes - {"OPENID"} and holes - {"OPENID"} <= set(data),
          f"the README's template has placeholders {sorted(holes)}, the push gives {sorted(data)}")
    fake = S["fake"]
    got = wait_until(lambda: fake.messages_to(OPENID), 60,
                     lambda: f"fake-wechat to receive the message for {OPENID} "
                             f"(stats {fake.stats()}){server_log()}")
    check(len(got) == 1, f"{len(got)} messages for {OPENID}: {got}")
    raw = got[0]["body"]
    print(f"  fake-wechat got: {raw}")
    expected = template.replace("${OPENID}", OPENID)
    for name, value in data.items():
        expected = expected.replace("${%s}" % name, json.dumps(str(value))[1:-1])
    body = fake.body_of(got[0])
    # mega adds WeChat's duplicate guard to every message: mega-<message id> without a msgkey
    check(re.fullmatch(r"mega-\d+", str(body.pop("client_msg_id", ""))),
          f"no client_msg_id mega-<id> in {raw}")
    check(body == json.loads(expected),
          f"template {key} was not rendered as the README's row and push say:\n"
          f"got      {raw}\nexpected {expected}")


def sent_in_message_log():
    rows = S["db"].sql(f"SELECT status FROM mega_message_log WHERE openid = "
                       f"{harness.sql_quote(OPENID)};")
    return rows == [["sent"]]


def test_the_next_blocks_show_it_and_the_dashboard_opens():
    check(S["shell"].failed is None, f"the walkthrough block at {S['shell'].failed} failed")
    queue = os.path.join(S["clone"], "logs", "shop")
    wait_until(sent_in_message_log, 60, "the message log's row to say sent")
    wait_until(lambda: (harness.read_status(queue) or {}).get("sent", 0) >= 1, 30,
               "the status file to count the message sent")
    out = "".join(S["shell"].run(b) for b in BLOCKS[push_block_index() + 1:-1])
    check(re.search(r"mega is running, pid \d+:.*\bsent 1\b", out),
          f"the status line does not say running with sent 1:\n{out}")
    check(re.search(rf"^\d+\t{OPENID}\t\S+\tsent\t", out, re.M),
          f"no message-log row with the openid and `sent`:\n{out}")
    check(re.search(r'"openid":"%s".*"status":"sent"' % OPENID, out),
          f"the admin API's record of the message is not printed:\n{out}")
    m = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)\s+admin token: (\S+)", out)
    check(m, f"no dashboard URL and admin token printed:\n{out}")
    url, token = m.groups()

    def get(path, token=None):
        req = urllib.request.Request(url + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    status, page = get("")
    check(status == 200 and 'id="token-dialog"' in page,
          f"{url} is not the dashboard with its token prompt: {status} {page[:200]!r}")
    status, _ = get("api/messages")
    check(status == 401, f"the dashboard's API answered {status} without the token (want 401)")
    status, doc = get(f"api/messages?openid={OPENID}", token)
    check(status == 200 and OPENID in doc,
          f"the printed token does not log in: {status} {doc[:300]!r}")


def test_the_last_block_stops_the_server():
    pid = walkthrough_server_pid()
    check(pid, "no server runs before the last block")
    out = S["shell"].run(BLOCKS[-1])
    check("mega stopped" in out, f"the last block did not stop the server:\n{out}")
    check(not harness.pid_alive(pid), f"mega (pid {pid}) still runs after the last block")
    rc = S["shell"].close()
    check(rc == 0, f"bash exited {rc} at the end of the walkthrough:\n{S['shell'].read()}")


harness.run_tests(globals(), env, setup)
