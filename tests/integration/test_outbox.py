"""The outbox relay ([outbox] dsn): apps INSERT message rows into a table of their own
database inside their own transactions; mega queues each committed row once.

A second database, `shop`, in the same MariaDB sandbox stands for the business database.
`mega migrate --outbox` creates the table. Four writer processes (the mariadb client, one
connection each) insert 10,000 rows in transactions, a random fifth rolled back and some
held open a while, so that ids commit out of order; mega is kill -9ed once mid-way and
restarted. Every committed row is delivered exactly once (by openid, at fake-wechat), no
rolled-back row is. Then: bad rows are marked with their error and do not block later rows;
a failed mark (the crash-between-enqueue-and-mark case, made certain by taking the UPDATE
privilege away) repeats no message across a kill -9; a full queue pauses the relay, logged;
published rows are deleted after keep_s.
"""

import json
import os
import random
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until, sql_quote, SANDBOX  # noqa: E402
import delivery_support as ds  # noqa: E402

N = 10000
WRITERS = 4
TABLE = "shop.mega_outbox"
env = harness.Env("outbox")
S = {}


def outbox_section(**extra):
    db = S["db"]
    section = {"dsn": f'"mysql:host=127.0.0.1;port={db.port};dbname=shop"',
               "username": "root", "password": "root", "poll_ms": 50}
    section.update(extra)
    return section


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["db"].sql("CREATE DATABASE shop;")
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega(start=False, overrides={
        "server": {"fsync": "always"},
        "setting": {"task_worker_num": 2},
        "outbox": outbox_section(batch=200)})
    S["deliveries"] = ds.Deliveries(S["fake"])


def sql(text):
    return S["db"].sql(text)


def scalar(text):
    return int(sql(text)[0][0])


def row_json(openid, key="order_paid"):
    return json.dumps({"key": key, "openid": openid, "data": {"product": openid}})


def insert(msg):
    sql(f"INSERT INTO {TABLE} (msg) VALUES ({sql_quote(msg)});")


def delivered_count(openid):
    return sum(1 for t in S["deliveries"].tousers() if t == openid)


def test_migrate_outbox_creates_the_table():
    mega = S["mega"]
    for _ in range(2):  # a second run finds the table there
        r = mega.cli("migrate", "--outbox")
        out = (r.stdout + r.stderr).decode()
        check(r.returncode == 0, f"migrate --outbox failed ({r.returncode}): {out}")
        check("mega_outbox" in out, f"migrate --outbox did not name the table: {out}")
    cols = [row[0] for row in sql("SELECT column_name FROM information_schema.columns WHERE "
                                  "table_schema = 'shop' AND table_name = 'mega_outbox' "
                                  "ORDER BY ordinal_position;")]
    check(cols[:4] == ["id", "msg", "created_at", "published_at"], f"columns: {cols}")
    mega.start()


def writer_script(rows, seed):
    """The SQL of one writer: a transaction per row, rolled back or held open as drawn."""
    rnd = random.Random(seed)
    lines = ["USE shop;"]
    for openid, commit in rows:
        lines.append("START TRANSACTION;")
        lines.append(f"INSERT INTO mega_outbox (msg) VALUES ({sql_quote(row_json(openid))});")
        if rnd.random() < 0.01:
            lines.append("DO SLEEP(0.3);")  # a long transaction: later ids commit first
        lines.append("COMMIT;" if commit else "ROLLBACK;")
    return "\n".join(lines) + "\n"


def run_writer(script, results, i):
    db = S["db"]
    p = subprocess.run([SANDBOX, "sql", db.dir, str(db.port)], input=script.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240)
    results[i] = (p.returncode, p.stderr.decode(errors="replace")[-500:])


def test_concurrent_writers_kill_9_every_committed_row_once():
    mega, fake = S["mega"], S["fake"]
    rnd = random.Random(13)
    plan = [(f"oOb{w}x{n:05d}", rnd.random() >= 0.2) for w in range(WRITERS)
            for n in range(N // WRITERS)]
    committed = {o for o, c in plan if c}
    rolled_back = {o for o, c in plan if not c}
    results = [None] * WRITERS
    threads = [threading.Thread(target=run_writer, args=(
        writer_script(plan[w * (N // WRITERS):(w + 1) * (N // WRITERS)], w), results, w))
        for w in range(WRITERS)]
    for t in threads:
        t.start()
    d = S["deliveries"]
    wait_until(lambda: len(d.tousers()) >= len(committed) // 5, 120,
               lambda: f"a fifth delivered before the kill ({len(d.tousers())})")
    mega.kill()
    at_kill = len(d.tousers())
    mega.start()
    for t in threads:
        t.join()
    check(all(r and r[0] == 0 for r in results), f"a writer failed: {results}")
    ids = scalar(f"SELECT COUNT(*) FROM {TABLE};")
    check(ids == len(committed), f"{ids} rows committed, planned {len(committed)}")
    wait_until(lambda: scalar(f"SELECT COUNT(*) FROM {TABLE} WHERE published_at IS NULL;") == 0,
               120, lambda: "every row published ("
               + sql(f"SELECT COUNT(*) FROM {TABLE} WHERE published_at IS NULL;")[0][0] + " left)")
    wait_until(lambda: committed <= set(d.tousers()), 120,
               lambda: f"every committed row delivered ({len(committed - set(d.tousers()))} missing)")
    got = d.tousers()
    dups = ds.duplicates(got)
    print(f"  {len(committed)} committed, {len(rolled_back)} rolled back; killed after "
          f"{at_kill} deliveries; {len(got)} deliveries; fake-wechat {fake.stats()}")
    check(not dups, f"{len(dups)} rows delivered more than once, e.g. {sorted(dups)[:5]}")
    check(not (set(got) & rolled_back), f"rolled-back rows delivered: {sorted(set(got) & rolled_back)[:5]}")
    check(set(got) == committed, f"deliveries of unknown openids: {sorted(set(got) - committed)[:5]}")
    errors = scalar(f"SELECT COUNT(*) FROM {TABLE} WHERE error IS NOT NULL;")
    check(errors == 0, f"{errors} rows marked with an error")
    late = late_commits()
    repeats = sum(int(line.split("outbox relay: ")[1].split()[0]) for line in open(
        mega.log_file, errors="replace") if "were queued before" in line)
    print(f"  {late} rows published before a lower id (which committed late); {repeats} rows "
          "read again after the kill, answered duplicate")
    # mega's side too (fake-wechat drops a repeated client_msg_id): one message per msgkey
    total, distinct = sql("SELECT COUNT(*), COUNT(DISTINCT msgkey) FROM mega_message_log "
                          "WHERE msgkey LIKE 'outbox:%';")[0]
    check(total == distinct, f"mega queued a row twice: {total} messages, {distinct} msgkeys")


def open_insert(openid):
    """A mariadb client that has INSERTed a row for `openid` in a transaction it keeps open
    (until communicate(b"COMMIT;")); returned once the INSERT is done."""
    db = S["db"]
    p = subprocess.Popen([SANDBOX, "sql", db.dir, str(db.port)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(("USE shop; START TRANSACTION; INSERT INTO mega_outbox (msg) VALUES ("
                   + sql_quote(row_json(openid)) + ");\n").encode())
    p.stdin.flush()
    wait_until(lambda: scalar(  # a dirty read sees the row once the INSERT is done
        "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED; SELECT COUNT(*) FROM "
        f"{TABLE} WHERE msg LIKE '%{openid}%';") == 1, 30,
        lambda: f"the INSERT in an open transaction; transactions: "
                f"{sql('SELECT trx_state, trx_query FROM information_schema.innodb_trx;')}")
    return p


def test_a_row_committed_after_a_higher_id_is_delivered():
    """The auto-increment gap: row A takes its id first but commits after row B (a higher
    id) was published. A reader with a "last id" cursor would never see A."""
    a = open_insert("oObLateA")
    insert(row_json("oObLateB"))
    wait_until(lambda: delivered_count("oObLateB") == 1, 30, "B delivered")
    a.communicate(b"COMMIT;\n", timeout=30)
    check(a.returncode == 0, f"transaction A failed: {a.returncode}")
    wait_until(lambda: delivered_count("oObLateA") == 1, 30, "A, committed late, delivered")
    ids = dict((r[1], int(r[0])) for r in sql(
        f"SELECT id, JSON_VALUE(msg, '$.openid') FROM {TABLE} WHERE msg LIKE '%oObLate%';"))
    check(ids["oObLateA"] < ids["oObLateB"], f"A did not take the lower id: {ids}")


def late_commits():
    """Rows published before a row with a lower id: that one committed late, found anyway."""
    rows = sql(f"SELECT id, published_at FROM {TABLE} ORDER BY id;")
    late, latest = 0, ""
    for _, published in rows:
        latest = max(latest, published)
        late += published < latest
    return late


def test_bad_rows_are_marked_and_do_not_block_later_rows():
    bad = {"[1]": "must be a JSON object",
           row_json("oObBadKey", key="no_such_template"): "template key not exists",
           json.dumps({"key": "order_paid", "openid": "oObBad", "colour": "red"}): "unknown member",
           json.dumps({"key": "order_paid"}): "openid is required"}
    for msg in bad:
        insert(msg)
    insert(row_json("oObAfterBad"))
    wait_until(lambda: delivered_count("oObAfterBad") == 1, 60, "the row after the bad ones")
    # the bad rows' marks are written apart from the good row's delivery: wait for them
    rows = wait_until(lambda: (lambda r: r if len(r) >= len(bad) else None)(sql(
        f"SELECT msg, error, published_at IS NOT NULL FROM {TABLE} WHERE error IS NOT NULL;")),
        30, "the bad rows marked with their errors")
    by_msg = {json.dumps(json.loads(r[0])): (r[1], r[2]) for r in rows}
    for msg, why in bad.items():
        got = by_msg.get(json.dumps(json.loads(msg)))
        check(got and why in got[0] and got[1] == "1", f"row {msg}: marked {got}, want '{why}'")
    check(delivered_count("oObBadKey") == 0, "a bad row was sent")
    log = open(S["mega"].log_file, errors="replace").read()
    check("is not sendable" in log, "no log line for the bad rows")


def test_failed_mark_then_kill_9_repeats_nothing():
    """The crash between enqueue and mark, made certain: the relay's user may not UPDATE,
    so every row is queued and stays unmarked; kill -9, restart (the rows are read again:
    their msgkey outbox:<id> answers duplicate); then the mark works and nothing went twice."""
    mega = S["mega"]
    sql("CREATE USER relay@'127.0.0.1' IDENTIFIED BY 'relaypw';"
        "GRANT SELECT, INSERT, DELETE ON shop.* TO relay@'127.0.0.1';")
    mega.stop()
    mega.sections["outbox"].update({"username": "relay", "password": "relaypw"})
    with open(mega.ini, "w") as f:
        f.write(harness.render_ini(mega.sections))
    mega.start()
    openids = [f"oObMark{i}" for i in range(20)]
    for o in openids:
        insert(row_json(o))
    wait_until(lambda: all(delivered_count(o) == 1 for o in openids), 60, "the rows delivered")
    wait_until(lambda: "cannot mark rows in" in open(mega.log_file, errors="replace").read(), 30,
               "the failed mark logged")
    mega.kill()
    check(scalar(f"SELECT COUNT(*) FROM {TABLE} WHERE published_at IS NULL;") == len(openids),
          "rows marked without the UPDATE privilege")
    mega.start()
    sql("GRANT UPDATE ON shop.* TO relay@'127.0.0.1';")
    wait_until(lambda: scalar(f"SELECT COUNT(*) FROM {TABLE} WHERE published_at IS NULL;") == 0,
               60, "the rows marked once the relay may UPDATE")
    wait_until(lambda: ds.stats(mega)["queue"]["total"] == 0, 60, "the queue drained")
    dups = {o: delivered_count(o) for o in openids if delivered_count(o) != 1}
    check(not dups, f"rows delivered other than once: {dups}")


def test_full_queue_pauses_the_relay_and_says_why():
    fake = S["fake"]
    S["mega"].stop()
    mega = env.mega("small", overrides={
        "server": {"queue_max_bytes": 1 << 20, "queue_segment_bytes": 128 << 10},
        "setting": {"package_max_length": 65536},
        "outbox": outbox_section(keep_s=0)})
    ds.admin_post(mega, "/api/account/pause", {"reason": "fill the queue"})
    big = "x" * 20000
    openids = [f"oObFull{i:03d}" for i in range(100)]  # 2 MB of data: twice the queue
    sql("USE shop;" + "".join(
        f"INSERT INTO mega_outbox (msg) VALUES ({sql_quote(json.dumps({'key': 'order_paid', 'openid': o, 'data': {'product': o, 'price': big}}))});"
        for o in openids))
    wait_until(lambda: "the queue is full" in open(mega.log_file, errors="replace").read(), 60,
               "the relay's pause logged")
    check(scalar(f"SELECT COUNT(*) FROM {TABLE} WHERE published_at IS NULL;") > 0,
          "every row published into a full queue")
    ds.admin_post(mega, "/api/account/resume")
    wait_until(lambda: all(delivered_count(o) == 1 for o in openids), 120,
               lambda: f"the paused rows delivered ({fake.stats()})")
    wait_until(lambda: "outbox relay: resumed" in open(mega.log_file, errors="replace").read(),
               30, "the resume logged")
    S["small"] = mega


def test_published_rows_are_deleted_after_keep_s():
    """"small" runs with keep_s = 0: every published row goes at its next clean-up, even
    while an app's transaction holds an uncommitted row (the clean-up must not wait for it,
    nor lock what the app's INSERTs need)."""
    a = open_insert("oObOpenTx")
    wait_until(lambda: scalar(f"SELECT COUNT(*) FROM {TABLE} WHERE published_at IS NOT NULL;")
               == 0, 60, lambda: "published rows deleted beside an open transaction ("
               + sql(f"SELECT COUNT(*) FROM {TABLE} WHERE published_at IS NOT NULL;")[0][0]
               + " left)")
    insert(row_json("oObBesideOpenTx"))  # the app's other INSERTs go on meanwhile
    a.communicate(b"COMMIT;\n", timeout=30)
    check(a.returncode == 0, f"the open transaction failed: {a.returncode}")
    wait_until(lambda: delivered_count("oObOpenTx") == 1 and delivered_count("oObBesideOpenTx")
               == 1, 60, "both rows delivered")
    wait_until(lambda: scalar(f"SELECT COUNT(*) FROM {TABLE};") == 0, 60,
               lambda: f"published rows deleted ({sql(f'SELECT COUNT(*) FROM {TABLE};')})")
    check(S["small"].stop() == 0, "mega did not exit 0 on SIGTERM")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
