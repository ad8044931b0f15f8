"""tset: templates are cached; `tset KEY` reloads one from MySQL. An updated template is used
only after tset; a key missing from MySQL is `400 template key not exists`; a new key beyond
table_size (2 here) is `400 over table size`; with MariaDB down tset is `500 template store
unavailable` (the database's address only in the log) and closes the connection while pushes
go on from the cache; after MariaDB is back, tset works again.

A flood of 2,000 pipelined tset frames (two keys) while the template table is locked (the
loads wait in MySQL): /api/stats still answers (its MySQL work shares the thread pool), every
frame then gets its 200, and MariaDB's Connections counter shows they shared a few loads.
Beyond 4,096 waiting reloads a tset is answered `500 template store busy` at once (and the
connection closed, as after any 500): memory stays bounded.
"""

import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ops_support as ops  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("tset")
S = {}


def template_v(tag):
    t = json.loads(harness.ORDER_PAID)
    t["data"]["first"]["value"] = f"{tag}: ${{product}}"
    return json.dumps(t, ensure_ascii=False, separators=(",", ":"))


def setup():
    S["db"] = env.mariadb({"order_paid": template_v("v1"), "welcome": harness.WELCOME})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega(overrides={"server": {"table_size": 2}})


def first_line(openid):
    msgs = wait_until(lambda: S["fake"].messages_to(openid), 30, f"delivery to {openid}")
    return harness.FakeWechat.body_of(msgs[0])["data"]["first"]["value"]


def push(c, openid, key="order_paid", product="tea"):
    r = c.call_push(openid, key, {"product": product})
    check((r.code, r.message) == (200, b""), f"push {openid} {key}: {r}")


def test_cached_until_tset():
    db, m = S["db"], S["mega"]
    with m.client() as c:
        push(c, "oTset0001")
        check(first_line("oTset0001") == "v1: tea", "initial template not used")
        db.put_template("order_paid", template_v("v2"))
        push(c, "oTset0002")
        check(first_line("oTset0002") == "v1: tea",
              "template changed in MySQL was used before tset (templates must be cached)")
        r = c.call_tset("order_paid", opaque=300)
        check((r.code, r.opaque, r.message) == (200, 300, b""), f"tset order_paid: {r}")
        push(c, "oTset0003")
        check(first_line("oTset0003") == "v2: tea", "tset did not reload the template")


def test_tset_missing_key():
    with S["mega"].client() as c:
        r = c.call_tset("no_such_key", opaque=301)
        check((r.code, r.opaque, r.text()) == (400, 301, "template key not exists"),
              f"tset of a key not in MySQL: {r}")
        push(c, "oTset0004")  # connection still usable


def test_over_table_size():
    S["db"].put_template("third", harness.ORDER_PAID)
    with S["mega"].client() as c:
        r = c.call_tset("welcome", opaque=302)  # reloading a cached key is not growth
        check((r.code, r.opaque) == (200, 302), f"tset of a cached key at capacity: {r}")
        r = c.call_tset("third", opaque=303)
        check((r.code, r.opaque, r.text()) == (400, 303, "over table size"),
              f"tset of a third key with table_size = 2: {r}")
        r = c.call_push("oTset0005", "third", None)
        check((r.code, r.text()) == (400, "template key not exists"),
              f"push to a key refused by tset: {r}")
        push(c, "oTset0006")


def mysql_connections():
    (name, value), = S["db"].sql("SHOW GLOBAL STATUS LIKE 'Connections';")
    return int(value)


class TableLock:
    """A MariaDB session holding LOCK TABLES mega_wechat_template WRITE until released."""

    def __init__(self, db):
        self.db = db
        self.proc = subprocess.Popen(
            [harness.SANDBOX, "sql", db.dir, str(db.port)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.proc.stdin.write(b"LOCK TABLES mega_wechat_template WRITE; SELECT SLEEP(300);\n")
        self.proc.stdin.close()
        self.session = wait_until(self._sleeping, 30, "the locking session to hold its lock")

    def _sleeping(self):
        rows = self.db.sql("SELECT ID FROM information_schema.PROCESSLIST "
                           "WHERE INFO = 'SELECT SLEEP(300)';")
        return rows[0][0] if rows else None

    def release(self):
        if self.proc.poll() is None:
            self.db.sql(f"KILL {self.session};")
            self.proc.wait(30)


class Replies(threading.Thread):
    """Reads `n` replies from a client on its own thread."""

    def __init__(self, client, n):
        super().__init__(daemon=True)
        self.client, self.n, self.got, self.error = client, n, [], None

    def run(self):
        try:
            while len(self.got) < self.n:
                self.got.append(self.client.read_result(timeout=120))
        except Exception as e:  # noqa: BLE001  (reported by the test)
            self.error = e


def test_tset_flood_shares_loads():
    n = 2000
    api = ops.Admin(S["mega"])
    before = mysql_connections()
    lock = TableLock(S["db"])
    try:
        with S["mega"].client() as c:
            keys = ["order_paid", "welcome"]
            c.send_raw(b"".join(harness.encode_tset(keys[i % 2], opaque=10000 + i)
                                for i in range(n)))
            replies = Replies(c, n)
            replies.start()
            st = api.get("/api/stats", timeout=60)
            check(st.status == 200, f"/api/stats during the tset flood: {st}")
            check(not replies.got, f"{len(replies.got)} tset replies while the template table "
                  "was locked: the test did not hold the loads back")
            lock.release()
            replies.join(120)
            check(replies.error is None and len(replies.got) == n,
                  f"{len(replies.got)} of {n} tset replies ({replies.error!r})")
            bad = [r for r in replies.got if r.code != 200]
            check(not bad, f"{len(bad)} tset replies not 200, e.g. {bad[:3]}")
            check(sorted(r.opaque for r in replies.got) == list(range(10000, 10000 + n)),
                  "tset replies do not answer each frame once")
    finally:
        lock.release()
    # Ours: the locking session, its 2 processlist/KILL queries at least, this call, stats.
    opened = mysql_connections() - before
    print(f"  {n} tset frames: MariaDB Connections grew by {opened}")
    check(opened <= 20, f"{n} tset frames opened {opened} MySQL connections")


def test_tset_waiting_is_bounded():
    # 4,096 reloads may wait (besides the one loading); one more is refused at once.
    n = 4096 + 2
    lock = TableLock(S["db"])
    try:
        with S["mega"].client() as c:
            c.send_raw(b"".join(harness.encode_tset("order_paid", opaque=20000 + i)
                                for i in range(n)))
            r = c.read_result(timeout=60)
            check((r.code, r.opaque, r.text()) == (500, 20000 + n - 1, "template store busy"),
                  f"reply to the tset beyond the waiting bound: {r}")
            check(c.expect_closed(10), "connection not closed after result 500")
    finally:
        lock.release()
    def tset_ok():  # once the waiting ones are loaded, tset works again (a 500 closes)
        with S["mega"].client() as c:
            return c.call_tset("order_paid", timeout=60).code == 200
    wait_until(tset_ok, 60, "a tset to succeed after the flood")


def test_mysql_down():
    db, m = S["db"], S["mega"]
    db.stop()
    try:
        with m.client() as c:
            r = c.call_tset("order_paid", opaque=304, timeout=60)
            check(r.code == 500 and r.opaque == 304, f"tset with MySQL down: expected 500, got {r}")
            check(r.text() == "template store unavailable",
                  f"tset with MySQL down answers {r.text()!r} (the database's address, port and "
                  "name belong in the log only)")
            check(c.expect_closed(10), "connection not closed after result 500")
        # Log lines reach the file asynchronously: wait for it.
        wait_until(lambda: f"127.0.0.1:{db.port}" in m.output(), 30,
                   "the log to say which database failed")
        with m.client() as c:  # the cache still serves pushes
            push(c, "oTset0007")
            push(c, "oTset0008", key="welcome")
        check(first_line("oTset0007") == "v2: tea", "push from the cache with MySQL down")
    finally:
        db.start()


def test_tset_after_mysql_back():
    db, m = S["db"], S["mega"]
    db.put_template("order_paid", template_v("v3"))

    def tset_ok():
        with m.client() as c:
            r = c.call_tset("order_paid", timeout=60)
        return r if r.code == 200 else None
    # the server may need a retry to reconnect; each attempt is a fresh connection
    wait_until(tset_ok, 60, "tset to succeed after MariaDB restarted")
    with m.client() as c:
        push(c, "oTset0009")
    check(first_line("oTset0009") == "v3: tea", "template reloaded after MariaDB restart")


def test_sigterm_exits_zero():
    rc = S["mega"].stop()
    check(rc == 0, f"mega exited {rc} on SIGTERM\n{S['mega'].diagnostics()}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
