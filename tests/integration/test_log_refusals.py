"""A message whose log row MySQL refuses costs only its own row (`mega_message_log`).

- With the body column back at `text` (64 KiB, as before migration 005) and a CHECK
  constraint refusing one openid: 2,000 messages with, in their midst, one whose rendered
  body is ~100 KiB and one to the refused openid. Every good row lands 'sent'; the wide one
  lands without its body; the refused one is dropped; /api/stats message_log.rejected == 2,
  /metrics says 2, health names no message-log problem, and the log has one short line for
  each (ids, not values).
- With the schema as migrated: a body over MEDIUMTEXT's 16 MiB, and one under it whose
  escaped statement passes MySQL's max_allowed_packet (16 MiB here): both rows land
  without their body, the messages around them land whole, the log stays healthy.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ops_support as ops  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("logrefuse")
S = {}
# A template that repeats one value: the rendered body is about 10 times the data.
WIDE = json.dumps({"touser": "${OPENID}", "template_id": "wide",
                   "data": {f"k{i}": {"value": "${big}"} for i in range(10)}})


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID, "wide": WIDE})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega(overrides={"retry": {"tries": 1}})
    S["api"] = ops.Admin(S["mega"])


def push_mixed(messages):
    """Pushes (openid, key, data) messages over one pipelined connection; all must be 200."""
    with S["mega"].client(timeout=60) as c:
        c.send_raw(b"".join(harness.encode_push(o, k, d, opaque=i)
                            for i, (o, k, d) in enumerate(messages)))
        for _ in messages:
            r = c.read_result()
            check(r.code == 200, f"push {messages[r.opaque][0]}: {r}")


def rows(where):
    return S["db"].sql("SELECT openid, status, body IS NULL, LENGTH(body) FROM mega_message_log "
                       f"WHERE {where};")


def count_sent(like):
    (n,), = S["db"].sql(f"SELECT COUNT(*) FROM mega_message_log WHERE openid LIKE '{like}' "
                        "AND status = 'sent';")
    return int(n)


def wait_sent(like, n):
    last = [0]

    def done():
        last[0] = count_sent(like)
        return last[0] == n
    wait_until(done, 60, lambda: f"{n} 'sent' rows {like} (have {last[0]}; "
               f"message_log {S['api'].stats()['message_log']})", interval=0.1)


def log_lines(pattern):
    with open(S["mega"].log_file, encoding="utf-8", errors="replace") as f:
        return [ln for ln in f if re.search(pattern, ln)]


def check_healthy(rejected):
    ml = S["api"].stats()["message_log"]
    check(ml["rejected"] == rejected and ml["healthy"] is True and ml["pending"] == 0,
          f"message_log {ml}, want rejected {rejected}")
    health = S["api"].get("/api/health").doc
    check(not any("message log" in p for p in health["problems"]), f"health {health}")
    metrics = S["api"].get("/metrics").raw.decode()
    check(f"mega_message_log_rejected_total {rejected}" in metrics,
          "mega_message_log_rejected_total: " + str(re.findall(r"mega_message_log_rej.*", metrics)))


def test_refused_rows_cost_only_themselves():
    db = S["db"]
    db.sql("ALTER TABLE mega_message_log MODIFY body text, "
           "ADD CONSTRAINT refuse_one CHECK (openid <> 'oRefusedRow');")
    good = [(f"oGood{i:05d}", "order_paid", {"product": f"p{i}", "price": "1"})
            for i in range(2000)]
    wide = ("oWideBody", "wide", {"big": "w" * 10000})  # ~100 KB rendered
    refused = ("oRefusedRow", "order_paid", {"product": "x", "price": "1"})
    push_mixed(good[:1000] + [wide, refused] + good[1000:])
    wait_sent("oGood%", 2000)
    wide_row = wait_until(lambda: rows("openid = 'oWideBody' AND status = 'sent'"), 30,
                          "the wide message's 'sent' row")
    check(wide_row == [["oWideBody", "sent", "1", "NULL"]], f"wide row {wide_row}")
    check(not rows("openid = 'oRefusedRow'"), "the refused row is in the table")
    check(not rows("openid LIKE 'oGood%' AND body IS NULL"), "good rows without their body")
    check_healthy(2)
    dropped = log_lines(r"message log: the row of message \d+ .*dropped")
    trimmed = log_lines(r"message log: the row of message \d+ .*written without its body")
    check(len(dropped) == 1 and len(trimmed) == 1, f"log lines: {dropped} {trimmed}")
    check(all(len(ln) < 600 and "oRefusedRow" not in ln and "www" not in ln
              for ln in dropped + trimmed), f"values in the log: {dropped} {trimmed}")
    db.sql("ALTER TABLE mega_message_log DROP CONSTRAINT refuse_one, MODIFY body mediumtext;")


def test_bodies_beyond_mediumtext_and_packet():
    (packet,), = S["db"].sql("SELECT @@max_allowed_packet;")
    check(int(packet) == 16 << 20, f"max_allowed_packet {packet}: the sizes below assume 16 MiB")
    # 10 x 1.7 MB: over MEDIUMTEXT's 16 MiB. 5 x 1.4 MB of quotes: 14 MB of JSON (\"), which
    # escaped for SQL (\\\") is 28 MB, over the packet.
    huge = ("oHugeBody", "wide", {"big": "h" * 1700000})
    quotes = ("oQuoteBody", "wide", {"big": '"' * 700000})
    after = [(f"oAfter{i:03d}", "order_paid", {"product": "p", "price": "1"}) for i in range(100)]
    push_mixed([huge, quotes] + after)
    wait_sent("oAfter%", 100)
    for openid in ("oHugeBody", "oQuoteBody"):
        got = wait_until(lambda: rows(f"openid = '{openid}' AND status IN ('sent', 'failed')"), 60,
                         f"the final row of {openid}")
        check(got[0][2] == "1", f"{openid} row kept a body: {got}")
    check(not rows("openid LIKE 'oAfter%' AND body IS NULL"), "rows after it without body")
    check_healthy(4)


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
