"""tset: templates are cached; `tset KEY` reloads one from MySQL. An updated template is used
only after tset; a key missing from MySQL is `400 template key not exists`; a new key beyond
table_size (2 here) is `400 over table size`; with MariaDB down tset is `500 …` and closes
the connection while pushes go on from the cache; after MariaDB is back, tset works again.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
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


def test_mysql_down():
    db, m = S["db"], S["mega"]
    db.stop()
    try:
        with m.client() as c:
            r = c.call_tset("order_paid", opaque=304, timeout=60)
            check(r.code == 500 and r.opaque == 304, f"tset with MySQL down: expected 500, got {r}")
            check(len(r.message) > 0, "500 without a message")
            print(f"  tset with MySQL down: result 500 {r.text()!r}")
            check(c.expect_closed(10), "connection not closed after result 500")
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
