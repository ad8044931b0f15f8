"""Schema migrations. A database holding only the original Mega-Wechat template table (made
by hand after dropping mega_schema and every other table): `mega start` exits non-zero,
saying to run migrate, without opening its port; `mega migrate` exits 0 and lists every
applied file; a second migrate says "nothing to do"; then start works, the old template
row is intact and messages are delivered and logged. Also: a database at an intermediate
version gets only the missing files; a [pdo] table_prefix is honoured; migrate against an
unreachable MySQL fails cleanly.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ops_support as ops  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("migrate")
S = {}
SCHEMA_FILES = sorted(f for f in os.listdir(os.path.join(harness.SOURCE_DIR, "config", "schema"))
                      if f.endswith(".sql"))
LATEST = max(int(f.split("_")[0]) for f in SCHEMA_FILES)

# The table as the original Mega-Wechat's install SQL creates it.
ORIGINAL_TABLE = """
CREATE TABLE `{p}mega_wechat_template` (
  `tmpl_key` char(32) NOT NULL,
  `title` varchar(100) NOT NULL DEFAULT '',
  `template` text NOT NULL,
  `created_at` int(11) NOT NULL DEFAULT '0',
  `updated_at` int(11) NOT NULL DEFAULT '0',
  PRIMARY KEY (`tmpl_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
"""


def setup():
    S["db"] = env.mariadb()
    S["fake"] = env.fake_wechat(latency_ms=0)


def tables():
    return sorted(r[0] for r in S["db"].sql("SHOW TABLES;"))


def reset_to_original(prefix=""):
    db = S["db"]
    drop = ", ".join(f"`{t}`" for t in tables())
    if drop:
        db.sql(f"DROP TABLE {drop};")
    db.sql(ORIGINAL_TABLE.replace("{p}", prefix))
    db.sql(f"INSERT INTO `{prefix}mega_wechat_template` VALUES "
           f"('order_paid', 'Order paid', {harness.sql_quote(harness.ORDER_PAID)}, 1500000000, 1500000000);")
    check(tables() == [f"{prefix}mega_wechat_template"], f"tables after the reset: {tables()}")


def test_start_refuses_an_old_schema():
    reset_to_original()
    m = env.mega("old", start=False)
    S["mega"] = m
    rc, out = ops.run_start_to_exit(m)
    check(rc != 0, f"mega started on an unmigrated database (rc {rc})\n{out}")
    check("migrate" in out, f"the refusal does not mention migrate:\n{out}")
    check("listening on" not in out, f"the protocol port was opened before the refusal:\n{out}")
    line = [l for l in out.splitlines() if "migrate" in l]
    print(f"  refusal: {line[-1] if line else out[-200:]}")
    check(tables() == ["mega_wechat_template"], f"start changed the schema: {tables()}")


def test_migrate_applies_every_file():
    m = S["mega"]
    rc, out = ops.mega_cmd(m, "migrate")
    print(f"  migrate: {out.strip()}")
    check(rc == 0, f"migrate exited {rc}: {out}")
    for f in SCHEMA_FILES:
        check(f in out, f"migrate output does not list {f}: {out}")
    check("nothing to do" not in out, f"first migrate says nothing to do: {out}")
    check(re.search(rf"\b{LATEST}\b", out), f"migrate does not name version {LATEST}: {out}")
    check(set(tables()) == {"mega_schema", "mega_wechat_template", "mega_message_log", "mega_task",
                            "mega_subscribe_choice", "mega_task_openids",
                            "mega_message_stats"},
          f"tables after migrate: {tables()}")
    versions = sorted(int(r[0]) for r in S["db"].sql("SELECT version FROM mega_schema;"))
    check(versions == sorted(int(f.split("_")[0]) for f in SCHEMA_FILES),
          f"mega_schema versions {versions}")
    rows = S["db"].sql("SELECT tmpl_key, title, created_at FROM mega_wechat_template;")
    check(rows == [["order_paid", "Order paid", "1500000000"]], f"the template row changed: {rows}")


def test_second_migrate_has_nothing_to_do():
    rc, out = ops.mega_cmd(S["mega"], "migrate")
    print(f"  migrate again: {out.strip()}")
    check(rc == 0 and "nothing to do" in out, f"second migrate: rc {rc}: {out}")
    check(not any(f in out for f in SCHEMA_FILES), f"second migrate lists files: {out}")


def test_start_works_after_migrate():
    m = S["mega"]
    m.start()
    with m.client() as c:
        r = c.call_push("oMigr1", "order_paid", {"product": "tea"})
        check(r.code == 200, f"push: {r}")
    wait_until(lambda: S["fake"].messages_to("oMigr1"), 30, "delivery after migrate")
    wait_until(lambda: S["db"].sql("SELECT status FROM mega_message_log WHERE openid='oMigr1';")
               == [["sent"]], 30, "the message-log row after migrate")
    api = ops.Admin(m)
    t = api.ok_post("/api/tasks", {"key": "order_paid", "openids": ["oMigrT1"]})
    wait_until(lambda: S["fake"].messages_to("oMigrT1"), 30, "a task after migrate")
    check(S["db"].sql(f"SELECT COUNT(*) FROM mega_task WHERE id={int(t['id'])};") == [["1"]],
          "task row")
    check(m.stop() == 0, "stop")


def test_partial_schema_gets_only_the_missing_files():
    db = S["db"]
    # a database at version 2: without what 003, 006, 007, 008, 009 and 010 add (004 and 005
    # only modify columns)
    db.sql("DROP TABLE mega_task, mega_message_stats, mega_subscribe_choice; "
           "ALTER TABLE mega_message_log DROP COLUMN attempt_log, DROP COLUMN msgkey, "
           "DROP COLUMN callback, DROP KEY msgid, DROP COLUMN remote_msgid, "
           "DROP KEY account_created, DROP COLUMN account, DROP COLUMN kind; "
           "ALTER TABLE mega_wechat_template DROP COLUMN account, DROP COLUMN kind; "
           "DELETE FROM mega_schema WHERE version >= 3;")
    m = S["mega"]
    rc, out = ops.run_start_to_exit(m)
    check(rc != 0 and "migrate" in out, f"start on version 2: rc {rc}: {out[-500:]}")
    rc, out = ops.mega_cmd(m, "migrate")
    print(f"  migrate from 2: {out.strip()}")
    later = [f for f in SCHEMA_FILES if int(f.split("_")[0]) >= 3]
    earlier = [f for f in SCHEMA_FILES if int(f.split("_")[0]) < 3]
    check(rc == 0 and all(f in out for f in later) and not any(f in out for f in earlier),
          f"migrate from version 2 applied the wrong files: {out}")
    check("mega_task" in tables() and "mega_message_stats" in tables(), f"tables {tables()}")
    # the log rows written before survive the ALTER of 004
    check(db.sql("SELECT status FROM mega_message_log WHERE openid='oMigr1';") == [["sent"]],
          "log row lost")
    m.start()
    check(m.stop() == 0, "stop after the partial migrate")


def test_a_missing_middle_version_is_applied():
    """A database with a later file applied but not an earlier one (branches merged in
    another order, or a file that failed half-way): start refuses, migrate applies just it."""
    db = S["db"]
    db.sql("ALTER TABLE mega_message_log DROP KEY msgkey, DROP COLUMN msgkey; "
           "DELETE FROM mega_schema WHERE version = 7;")
    m = S["mega"]
    rc, out = ops.run_start_to_exit(m)
    check(rc != 0 and "007_message_log_msgkey.sql" in out and "migrate" in out,
          f"start without 007: rc {rc}: {out[-500:]}")
    rc, out = ops.mega_cmd(m, "migrate")
    applied = [f for f in SCHEMA_FILES if f in out]
    check(rc == 0 and applied == ["007_message_log_msgkey.sql"], f"migrate applied {applied}: {out}")
    check(db.sql("SELECT COUNT(*) FROM mega_schema WHERE version = 7;") == [["1"]], "row of 007")
    m.start()
    check(m.stop() == 0, "stop after the gap was filled")


def test_table_prefix():
    db = S["db"]
    reset_to_original(prefix="pfx_")
    m = env.mega("prefixed", start=False, overrides={"pdo": {"table_prefix": "pfx_"}})
    rc, out = ops.run_start_to_exit(m)
    check(rc != 0 and "migrate" in out, f"start with prefix on an old schema: rc {rc}: {out[-400:]}")
    rc, out = ops.mega_cmd(m, "migrate")
    check(rc == 0 and all(f in out for f in SCHEMA_FILES), f"migrate with a prefix: {out}")
    check(set(tables()) == {"pfx_mega_schema", "pfx_mega_wechat_template", "pfx_mega_message_log",
                            "pfx_mega_task", "pfx_mega_message_stats", "pfx_mega_subscribe_choice",
                            "pfx_mega_task_openids"},
          f"prefixed tables: {tables()}")
    rc, out = ops.mega_cmd(m, "migrate")
    check(rc == 0 and "nothing to do" in out, f"second prefixed migrate: {out}")
    m.start()
    with m.client() as c:
        check(c.call_push("oMigrP", "order_paid", {"product": "x"}).code == 200, "push")
    wait_until(lambda: db.sql("SELECT status FROM pfx_mega_message_log WHERE openid='oMigrP';")
               == [["sent"]], 30, "a prefixed log row")
    check(m.stop() == 0, "stop")


def test_migrate_without_mysql():
    m = env.mega("nodb", start=False,
                 overrides={"pdo": {"dsn": f'"mysql:host=127.0.0.1;port={harness.closed_port()};dbname=mega"'}})
    rc, out = ops.mega_cmd(m, "migrate", timeout=60)
    check(rc not in (0, None) and "migrate" in out, f"migrate without MySQL: rc {rc}: {out}")
    print(f"  {out.strip()[:200]}")


harness.run_tests(globals(), env=env, setup=setup)
