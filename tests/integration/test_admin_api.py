"""The admin HTTP API with `[admin] token = s3cret`: every endpoint answers a good request
with the expected status and JSON shape; without the token, or with a wrong one, every
endpoint but /api/health (and the static dashboard files, which the header of AdminApi.cpp
documents as served without auth) answers 401 with a JSON error and changes nothing; bad
input (malformed JSON, missing fields, unknown ids, a bad status filter, an unknown
endpoint, a wrong method) answers a 4xx JSON error and never crashes the server, which keeps
serving the TCP protocol. The token appears in no reply and not in the log. Finally a
token-less config with a non-loopback `[admin] listen` refuses to start, naming the token.
With MySQL stopped (last), replies say "message store unavailable", never where MySQL is.
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ops_support as ops  # noqa: E402
from harness import check, wait_until  # noqa: E402

TOKEN = "s3cret"
env = harness.Env("adminapi")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID, "welcome": harness.WELCOME})
    S["fake"] = env.fake_wechat(latency_ms=0)
    # debug level: the widest log in which the token must not appear
    S["mega"] = env.mega(overrides={"admin": {"token": TOKEN}, "log": {"log_level": "debug"},
                                    "retry": {"tries": 2, "backoff": 1}})
    S["api"] = ops.Admin(S["mega"], token=TOKEN)
    S["anon"] = ops.Admin(S["mega"], token=None)
    S["deliveries"] = ops.Deliveries(S["fake"])


def api():
    return S["api"]


def delivered_to(openid):
    return [m for m in S["deliveries"].all() if m["touser"] == openid]


def wait_delivered(openid, n=1, timeout=30):
    """The deliveries to `openid` once there are `n` (exactly: more is an error)."""
    wait_until(lambda: len(delivered_to(openid)) >= n, timeout,
               lambda: f"{n} delivery(ies) to {openid} (have {len(delivered_to(openid))})")
    got = delivered_to(openid)
    check(len(got) == n, f"{len(got)} deliveries to {openid}, expected {n}")
    return got


def log_rows(query):
    r = api().get("/api/messages?" + query)
    check(r.status == 200 and r.is_json(), f"GET /api/messages?{query}: {r}")
    return r.doc


def wait_log(openid, status, timeout=30):
    """The message-log row of `openid` once it has `status` (returns the list item)."""
    def row():
        items = log_rows(f"openid={openid}")["items"]
        return items[0] if items and items[0]["status"] == status else None
    return wait_until(row, timeout, lambda: f"log row of {openid} with status {status}: "
                      f"{log_rows(f'openid={openid}')}")


def push(openid, key="order_paid", data=None, options=""):
    with S["mega"].client() as c:
        r = c.call_push(openid, key, data if data is not None else {"product": "tea", "price": "3"},
                        options=options)
    check(r.code == 200, f"push {openid} {options}: {r}")


# --------------------------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/metrics", None), ("GET", "/api/stats", None), ("GET", "/api/messages", None),
    ("GET", "/api/messages?status=sent", None), ("GET", "/api/messages/1", None),
    ("POST", "/api/messages/1/retry", {}), ("GET", "/api/waiting", None),
    ("POST", "/api/waiting/cancel", {"id": "1"}),
    ("POST", "/api/test-message", {"openid": "oAnon", "key": "order_paid"}),
    ("GET", "/api/tasks", None), ("POST", "/api/tasks", {"key": "order_paid", "openids": ["oAnonT"]}),
    ("POST", "/api/tasks/1/openids", None), ("POST", "/api/tasks/1/start", {}),
    ("POST", "/api/tasks/1/pause", {}), ("POST", "/api/tasks/1/resume", {}),
    ("POST", "/api/tasks/1/cancel", {}), ("GET", "/api/failed", None),
    ("POST", "/api/failed/retry", {"all": True}), ("POST", "/api/failed/forget", {"id": "1"}),
    ("POST", "/api/failed/flush", {}), ("GET", "/api/account", None),
    ("POST", "/api/account/pause", {"reason": "anon"}), ("POST", "/api/account/resume", {}),
    ("GET", "/api/templates", None), ("POST", "/api/templates/reload", {"key": "order_paid"}),
    ("GET", "/api/nope", None),
]

BAD_AUTH = [None, "Bearer wrong", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", TOKEN,
            f"Basic {TOKEN}", f"Bearer  {TOKEN}", "Bearer "]


def test_health_needs_no_token():
    for auth in (None, "Bearer wrong", f"Bearer {TOKEN}"):
        r = S["anon"].get("/api/health", auth=auth)
        check(r.status == 200 and r.is_json(), f"/api/health with auth {auth!r}: {r}")
        check(r.doc.get("status") == "ok" and r.doc.get("problems") == [],
              f"/api/health shape: {r.doc}")


def test_every_endpoint_refuses_without_the_token():
    before = api().ok_get("/api/account")
    for method, path, body in PROTECTED:
        for auth in BAD_AUTH:
            raw = b"oAnonL1\n" if path.endswith("/openids") else None
            r = S["anon"].call(method, path, body=body, raw=raw, auth=auth)
            ops.expect_error(r, 401, f"{method} {path} with Authorization {auth!r}")
    # nothing happened: no pause, no task, no message queued for oAnon
    after = api().ok_get("/api/account")
    check(after["paused"] == before["paused"] is False, f"an unauthorized pause took effect: {after}")
    check(api().ok_get("/api/tasks") == [], f"an unauthorized task was created: {api().ok_get('/api/tasks')}")
    st = api().stats()
    check(st["queue"]["total"] == 0 and st["waiting"] == 0 and st["sent"] == 0,
          f"an unauthorized test message was queued: {st}")


def test_dashboard_files():
    for path in ("/", "/index.html"):
        for client in (S["anon"], api()):  # static files: no auth (AdminApi.cpp header)
            r = client.get(path)
            check(r.status == 200 and r.headers.get("content-type", "").startswith("text/html"),
                  f"GET {path}: {r} {r.headers}")
            check(b"<html" in r.raw.lower(), f"GET {path} is not HTML: {r.raw[:200]!r}")
    r = api().get("/assets/app.js")
    check(r.status == 200 and "javascript" in r.headers.get("content-type", ""), f"/assets/app.js: {r}")
    r = api().get("/assets/style.css")
    check(r.status == 200 and r.headers.get("content-type", "").startswith("text/css"),
          f"/assets/style.css: {r}")
    for path in ("/assets/missing.js", "/assets/", "/assets/../index.html", "/assets/%2e%2e/x"):
        ops.expect_error(api().get(path), 404, f"GET {path}")


def test_stats_shape():
    st = api().stats()
    for k in ("high", "normal", "low", "total", "disk_bytes"):
        check(isinstance(st["queue"].get(k), int), f"stats.queue.{k}: {st['queue']}")
    for k in ("inflight", "waiting", "sent", "failed", "retried", "attempts", "quota_hits",
              "dead_letters", "connections", "templates", "msgkeys", "token_refreshes"):
        check(isinstance(st.get(k), int) and st[k] >= 0, f"stats.{k}: {st.get(k)!r}")
    check(st["templates"] == 2, f"stats.templates {st['templates']} (2 in the table)")
    check(isinstance(st["paused"], bool), f"stats.paused {st.get('paused')!r}")
    ml = st["message_log"]
    check(set(ml) >= {"written", "dropped", "pending", "healthy"} and ml["healthy"] is True,
          f"stats.message_log {ml}")
    check(set(st["throughput"]) == {"1m", "5m", "60m"}, f"stats.throughput {st['throughput']}")
    check(set(st["rates"]) == {"overall", "today", "last_hour"}, f"stats.rates {st['rates']}")
    check(isinstance(st["by_status"], dict) and isinstance(st["by_template"], list)
          and isinstance(st["by_source"], list), f"stats by_*: {st}")
    check("db_error" not in st, f"stats.db_error with MySQL up: {st.get('db_error')}")
    check(len(st["series"]["minutes"]) == 60 and len(st["series"]["seconds"]) == 300,
          f"series lengths {len(st['series']['minutes'])}, {len(st['series']['seconds'])}")
    p = st["series"]["seconds"][0]
    check(set(p) == {"t", "sent", "failed"}, f"series point {p}")


def test_messages_filters_and_paging():
    S["fake"].configure(fail_openids={"oAdmFail1": 43004})
    S["t0"] = int(time.time() * 1000)
    for i in range(6):
        push(f"oAdmShop{i}", "order_paid", options="source=shop")
    for i in range(3):
        push(f"oAdmWel{i}", "welcome", {"url": "http://x/", "name": f"n{i}"})
    push("oAdmFail1", "order_paid")
    for i in range(6):
        wait_delivered(f"oAdmShop{i}")
    wait_log("oAdmFail1", "failed")
    for i in range(3):
        wait_log(f"oAdmWel{i}", "sent")
    for i in range(6):
        wait_log(f"oAdmShop{i}", "sent")

    doc = log_rows("")
    check(doc["total"] == 10 and len(doc["items"]) == 10, f"all messages: total {doc['total']}")
    item = doc["items"][0]
    for k in ("id", "openid", "key", "source", "priority", "status", "attempts", "msgid",
              "errcode", "errmsg", "created_ms", "updated_ms", "sent_ms"):
        check(k in item, f"list item lacks {k}: {item}")
    check(isinstance(item["id"], str) and item["id"].isdigit(), f"id not a digit string: {item}")
    check("body" not in item, f"list items carry no body: {item}")

    sent = log_rows("status=sent")
    check(sent["total"] == 9 and all(i["status"] == "sent" and i["msgid"] != "0" for i in sent["items"]),
          f"status=sent: {sent}")
    failed = log_rows("status=failed")
    check(failed["total"] == 1 and failed["items"][0]["openid"] == "oAdmFail1"
          and failed["items"][0]["errcode"] == 43004, f"status=failed: {failed}")
    check(log_rows("status=queued")["total"] == 0, "status=queued not empty")
    one = log_rows("openid=oAdmShop3")
    check(one["total"] == 1 and one["items"][0]["openid"] == "oAdmShop3", f"openid filter: {one}")
    wel = log_rows("key=welcome")
    check(wel["total"] == 3 and {i["key"] for i in wel["items"]} == {"welcome"}, f"key filter: {wel}")
    shop = log_rows("source=shop")
    check(shop["total"] == 6 and {i["source"] for i in shop["items"]} == {"shop"},
          f"source filter: {shop}")
    both = log_rows("source=shop&status=sent&key=order_paid")
    check(both["total"] == 6, f"combined filters: {both['total']}")
    check(log_rows("openid=oNobody")["total"] == 0, "openid filter matches nobody")

    # time window: [from, to) on created_ms
    target = one["items"][0]
    c = target["created_ms"]
    check(c >= S["t0"], f"created_ms {c} before the test started {S['t0']}")
    incl = log_rows(f"openid=oAdmShop3&from={c}&to={c + 1}")
    check(incl["total"] == 1, f"from={c}&to={c + 1} misses the message: {incl}")
    check(log_rows(f"openid=oAdmShop3&from={c + 1}")["total"] == 0, "from is inclusive only")
    check(log_rows(f"openid=oAdmShop3&to={c}")["total"] == 0, "to is exclusive")
    check(log_rows(f"from={S['t0']}")["total"] == 10, "from=start of test")
    check(log_rows(f"to={S['t0']}")["total"] == 0, "to=start of test")

    # paging: newest first, pages disjoint, together the whole list
    pages = [log_rows(f"limit=4&offset={o}") for o in (0, 4, 8)]
    check([len(p["items"]) for p in pages] == [4, 4, 2] and all(p["total"] == 10 for p in pages),
          f"paging sizes {[len(p['items']) for p in pages]}")
    ids = [i["id"] for p in pages for i in p["items"]]
    check(ids == [i["id"] for i in doc["items"]], "pages do not add up to the full list")
    created = [i["created_ms"] for i in doc["items"]]
    check(created == sorted(created, reverse=True), f"not newest first: {created}")
    check(log_rows("limit=4&offset=100")["items"] == [], "offset past the end")

    for q in ("status=bogus", "status=SENT", "status=sent%27%20OR%201%3D1"):
        ops.expect_error(api().get("/api/messages?" + q), 400, f"/api/messages?{q}")
    S["ids"] = {i["openid"]: i["id"] for i in doc["items"]}


def test_message_detail():
    mid = S["ids"]["oAdmWel1"]
    d = api().ok_get(f"/api/messages/{mid}")
    check(d["id"] == mid and d["openid"] == "oAdmWel1" and d["key"] == "welcome"
          and d["status"] == "sent", f"detail: {d}")
    body = json.loads(d["body"])
    check(body["touser"] == "oAdmWel1" and body["data"]["name"]["value"] == "n1", f"body: {body}")
    for bad in ("1", "18446744073709551615", "99999999999"):
        ops.expect_error(api().get(f"/api/messages/{bad}"), 404, f"GET /api/messages/{bad}")
    for bad in ("abc", "-1", "1x", "18446744073709551616", ""):
        ops.expect_error(api().get(f"/api/messages/{bad}"), (400, 404), f"GET /api/messages/{bad}")


def test_message_retry():
    sent_id = S["ids"]["oAdmShop0"]
    ops.expect_error(api().post(f"/api/messages/{sent_id}/retry"), 409, "retry of a sent message")
    ops.expect_error(api().post("/api/messages/12345/retry"), (404, 409), "retry of an unknown id")
    ops.expect_error(api().get(f"/api/messages/{sent_id}/retry"), 405, "GET .../retry")
    fid = S["ids"]["oAdmFail1"]
    failed = api().ok_get("/api/failed")
    check(failed["total"] == 1 and failed["items"][0]["id"] == fid,
          f"the dead letter id is the message id {fid}: {failed}")
    S["fake"].configure(fail_openids={})
    check(api().ok_post(f"/api/messages/{fid}/retry") == {"ok": True}, "retry answer")
    wait_delivered("oAdmFail1")
    row = wait_log("oAdmFail1", "sent")
    check(row["id"] == fid, f"the retried message keeps its id: {row}")
    check(api().ok_get("/api/failed")["total"] == 0, "dead letter still listed after retry")
    ops.expect_error(api().post(f"/api/messages/{fid}/retry"), 409, "second retry")


def test_failed_store():
    S["fake"].configure(fail_openids={f"oAdmDL{i}": 43004 for i in range(6)})
    for i in range(6):
        push(f"oAdmDL{i}")
    wait_until(lambda: api().ok_get("/api/failed")["total"] == 6, 30, "6 dead letters")
    doc = api().ok_get("/api/failed")
    it = doc["items"][0]
    for k in ("id", "openid", "key", "options", "errcode", "class", "error", "attempts",
              "created_ms", "failed_ms"):
        check(k in it, f"dead letter lacks {k}: {it}")
    check(all(i["errcode"] == 43004 and i["class"] == "permanent" for i in doc["items"]),
          f"dead letters: {doc['items']}")
    by = {i["openid"]: i["id"] for i in doc["items"]}
    p1 = api().ok_get("/api/failed?limit=4")
    p2 = api().ok_get("/api/failed?offset=4&limit=4")
    check(len(p1["items"]) == 4 and len(p2["items"]) == 2 and p1["total"] == p2["total"] == 6,
          f"failed paging: {len(p1['items'])}, {len(p2['items'])}")
    check({i["id"] for i in p1["items"]} | {i["id"] for i in p2["items"]} == set(by.values()),
          "failed pages do not add up")

    S["fake"].configure(fail_openids={})
    check(api().ok_post("/api/failed/retry", {"id": by["oAdmDL0"]}) == {"retried": 1}, "retry one")
    check(api().ok_post("/api/failed/retry", {"id": int(by["oAdmDL1"])}) == {"retried": 1},
          "retry one (id as a JSON number)")
    wait_delivered("oAdmDL0")
    wait_delivered("oAdmDL1")
    check(api().ok_post("/api/failed/forget", {"id": by["oAdmDL2"]}) == {"forgotten": 1}, "forget")
    ops.expect_error(api().post("/api/failed/forget", {"id": by["oAdmDL2"]}), 404, "forget again")
    ops.expect_error(api().post("/api/failed/retry", {"id": by["oAdmDL2"]}), 404, "retry forgotten")
    for path in ("/api/failed/retry", "/api/failed/forget"):
        for body in ({}, {"id": "abc"}, {"id": None}, {"id": [1]}, {"all": "yes"}, {"id": "-1"}):
            ops.expect_error(api().post(path, body), 400, f"POST {path} {body}")
    ops.expect_error(api().post("/api/failed/forget", {"all": True}), 400, "forget all (not a thing)")
    check(api().ok_get("/api/failed")["total"] == 3, "3 left")
    check(api().ok_post("/api/failed/retry", {"all": True}) == {"retried": 3}, "retry all")
    for i in (3, 4, 5):
        wait_delivered(f"oAdmDL{i}")
    check(api().ok_get("/api/failed")["total"] == 0, "empty after retry all")
    # flush
    S["fake"].configure(fail_openids={"oAdmFl0": 43101, "oAdmFl1": 43101})
    push("oAdmFl0")
    push("oAdmFl1")
    wait_until(lambda: api().ok_get("/api/failed")["total"] == 2, 30, "2 dead letters to flush")
    check(api().ok_post("/api/failed/flush") == {"forgotten": 2}, "flush")
    check(api().ok_post("/api/failed/flush") == {"forgotten": 0}, "flush of nothing")
    check(api().ok_get("/api/failed")["total"] == 0, "empty after flush")
    S["fake"].configure(fail_openids={})
    for i in range(6):
        check(len(delivered_to(f"oAdmDL{i}")) == (0 if i == 2 else 1), f"oAdmDL{i} deliveries")


def test_waiting_and_cancel():
    push("oAdmDelay", options="delay=60")
    doc = wait_until(lambda: (lambda d: d if d["total"] >= 1 else None)(api().ok_get("/api/waiting")),
                     30, "the delayed message in /api/waiting")
    items = [i for i in doc["items"] if i["openid"] == "oAdmDelay"]
    check(len(items) == 1 and items[0]["kind"] == "delayed" and items[0]["attempts"] == 0
          and items[0]["due_ms"] > int(time.time() * 1000) + 30000, f"waiting item: {doc}")
    check(set(items[0]) == {"id", "openid", "key", "attempts", "due_ms", "kind"}, f"{items[0]}")
    check(len(api().ok_get("/api/waiting?limit=0")["items"]) == 0, "limit=0")
    wid = items[0]["id"]
    for body in ({}, {"id": "x"}, {"id": True}):
        ops.expect_error(api().post("/api/waiting/cancel", body), 400, f"cancel {body}")
    ops.expect_error(api().post("/api/waiting/cancel", {"id": "4242"}), 404, "cancel unknown")
    check(api().ok_post("/api/waiting/cancel", {"id": wid}) == {"ok": True}, "cancel")
    check(all(i["id"] != wid for i in api().ok_get("/api/waiting")["items"]), "still waiting")
    ops.expect_error(api().post("/api/waiting/cancel", {"id": wid}), 404, "cancel twice")
    row = wait_log("oAdmDelay", "cancelled")
    check(row["id"] == wid, f"cancelled row {row}")
    check(not delivered_to("oAdmDelay"), "a cancelled message was delivered")


def test_account_pause_resume():
    a = api().ok_get("/api/account")
    check(a["app_id"] == "wxtest" and a["paused"] is False and set(a) == {
        "account", "app_id", "paused", "reason", "by_operator", "since_ms", "until_ms", "sent",
        "failed", "attempts", "quota_hits", "held"} and a["account"] == "default",
          f"account: {a}")
    check(api().ok_post("/api/account/pause", {"reason": "maintenance window"}) == {"ok": True}, "pause")
    a = api().ok_get("/api/account")
    check(a["paused"] is True and a["reason"] == "maintenance window" and a["by_operator"] is True,
          f"paused account: {a}")
    h = S["anon"].get("/api/health")
    check(h.status == 200 and h.doc["status"] == "degraded"
          and any("paused" in p for p in h.doc["problems"]), f"health while paused: {h}")
    check(api().stats()["paused"] is True, "stats.paused")
    push("oAdmPaused")
    wait_until(lambda: api().stats()["queue"]["total"] >= 1, 30, "the message queued while paused")
    check(not delivered_to("oAdmPaused"), "delivered while paused")
    check(api().ok_post("/api/account/resume") == {"ok": True}, "resume")
    check(api().ok_get("/api/account")["paused"] is False, "still paused after resume")
    wait_delivered("oAdmPaused")
    check(api().ok_post("/api/account/pause") == {"ok": True}, "pause without a body")
    check(api().ok_get("/api/account")["reason"], "pause without a reason has a reason")
    check(api().ok_post("/api/account/resume") == {"ok": True}, "resume")
    check(api().ok_post("/api/account/resume") == {"ok": True}, "resume when not paused")


def test_templates_and_reload():
    ts = api().ok_get("/api/templates")
    check(isinstance(ts, list) and {t["key"] for t in ts} == {"order_paid", "welcome"}
          and all(set(t) == {"key", "template", "account", "kind"} for t in ts), f"templates: {ts}")
    check(next(t for t in ts if t["key"] == "order_paid")["template"] == harness.ORDER_PAID,
          "template text differs from the table")
    new = harness.ORDER_PAID.replace("Your order has been paid", "Paid, reloaded")
    S["db"].put_template("order_paid", new)
    check(api().ok_post("/api/templates/reload", {"key": "order_paid"}) == {"ok": True}, "reload")
    ts = api().ok_get("/api/templates")
    check(next(t for t in ts if t["key"] == "order_paid")["template"] == new, "reload not applied")
    push("oAdmReload")
    (m,) = wait_delivered("oAdmReload")
    check("Paid, reloaded" in m["body"], f"delivered with the old template: {m['body']}")
    ops.expect_error(api().post("/api/templates/reload", {"key": "no_such_key"}), 404,
                     "reload of a missing key")
    for body in ({}, {"key": 5}, {"key": None}):
        ops.expect_error(api().post("/api/templates/reload", body), 400, f"reload {body}")


def test_test_message():
    r = api().ok_post("/api/test-message", {"openid": "oAdmTest", "key": "welcome",
                                            "data": {"url": "http://t/", "name": "Zoë"}})
    check(set(r) == {"id"} and r["id"].isdigit(), f"test-message answer: {r}")
    (m,) = wait_delivered("oAdmTest")
    body = json.loads(m["body"])
    check(body["data"]["name"]["value"] == "Zoë", f"test message body: {body}")
    row = wait_log("oAdmTest", "sent")
    check(row["id"] == r["id"] and row["source"] == "dashboard", f"test message row {row}")
    ops.expect_error(api().post("/api/test-message", {"openid": "oAdmTest", "key": "nope"}), 400,
                     "test message with an unknown key")
    for body in ({}, {"openid": "oX"}, {"key": "welcome"}, {"openid": 5, "key": "welcome"}):
        ops.expect_error(api().post("/api/test-message", body), 400, f"test-message {body}")


def task_by_id(tid):
    for t in api().ok_get("/api/tasks"):
        if t["id"] == tid:
            return t
    return None


def test_tasks():
    r = api().ok_post("/api/tasks", {"key": "order_paid", "data": {"product": "kite"},
                                     "openids": ["oAdmTask1", "oAdmTask2", "oAdmTask3", 7]})
    tid = r["id"]
    check(tid.isdigit(), f"task id {r}")
    t = wait_until(lambda: (lambda t: t if t and t["status"] == "done" else None)(task_by_id(tid)),
                   30, lambda: f"task {tid} done: {task_by_id(tid)}")
    check(set(t) == {"id", "key", "status", "rate", "total", "queued", "sent", "failed",
                     "created_ms", "updated_ms"}, f"task shape {t}")
    check(t["total"] == 3 and t["sent"] == 3 and t["failed"] == 0 and t["key"] == "order_paid",
          f"task counts {t}")
    for o in ("oAdmTask1", "oAdmTask2", "oAdmTask3"):
        (m,) = wait_delivered(o)
        check("kite" in m["body"], f"task data not used: {m['body']}")
    ops.expect_error(api().post(f"/api/tasks/{tid}/pause"), 409, "pause a done task")

    # loading → openids appended → start
    r = api().ok_post("/api/tasks", {"key": "welcome", "data": {"name": "L", "url": "u"},
                                     "start": False})
    lid = r["id"]
    check(task_by_id(lid)["status"] == "loading", f"loading task {task_by_id(lid)}")
    a = api().post(f"/api/tasks/{lid}/openids", raw=b"oAdmLoad1\n# comment\n\noAdmLoad2\n",
                   headers={"Content-Type": "text/plain"})
    check(a.status == 200 and a.doc == {"ok": True}, f"append openids: {a}")
    check(task_by_id(lid)["total"] == 2, f"total after append: {task_by_id(lid)}")
    ops.expect_error(api().post(f"/api/tasks/{lid}/pause"), 409, "pause a loading task")
    check(api().ok_post(f"/api/tasks/{lid}/start") == {"ok": True}, "start")
    wait_until(lambda: task_by_id(lid)["status"] == "done", 30, lambda: f"{task_by_id(lid)}")
    wait_delivered("oAdmLoad1")
    wait_delivered("oAdmLoad2")
    ops.expect_error(api().post(f"/api/tasks/{lid}/openids", raw=b"oLate\n"), 409,
                     "append to a done task")
    ops.expect_error(api().post("/api/tasks/987654/openids", raw=b"oLate\n"), 404,
                     "append to an unknown task")

    # a slow task: pause, resume, cancel and the invalid transitions
    r = api().ok_post("/api/tasks", {"key": "order_paid", "rate": 1,
                                     "openids": [f"oAdmSlow{i}" for i in range(50)]})
    sid = r["id"]
    check(task_by_id(sid)["status"] == "running" and task_by_id(sid)["rate"] == 1,
          f"slow task {task_by_id(sid)}")
    ops.expect_error(api().post(f"/api/tasks/{sid}/resume"), 409, "resume a running task")
    ops.expect_error(api().post(f"/api/tasks/{sid}/start"), 409, "start a running task")
    check(api().ok_post(f"/api/tasks/{sid}/pause") == {"ok": True}, "pause")
    check(task_by_id(sid)["status"] == "paused", f"after pause {task_by_id(sid)}")
    ops.expect_error(api().post(f"/api/tasks/{sid}/pause"), 409, "pause twice")
    check(api().ok_post(f"/api/tasks/{sid}/resume") == {"ok": True}, "resume")
    check(task_by_id(sid)["status"] == "running", f"after resume {task_by_id(sid)}")
    check(api().ok_post(f"/api/tasks/{sid}/cancel") == {"ok": True}, "cancel")
    check(task_by_id(sid)["status"] == "cancelled", f"after cancel {task_by_id(sid)}")
    for action in ("resume", "pause", "cancel", "start"):
        ops.expect_error(api().post(f"/api/tasks/{sid}/{action}"), 409, f"{action} a cancelled task")
    for action in ("pause", "resume", "cancel", "start"):
        ops.expect_error(api().post(f"/api/tasks/987654/{action}"), 404, f"{action} an unknown task")
    ops.expect_error(api().post(f"/api/tasks/{sid}/frobnicate"), (400, 404, 409), "unknown action")
    ops.expect_error(api().post(f"/api/tasks/{sid}"), (400, 404, 405, 409), "no action")

    for body in ({}, {"key": 3}, {"openids": ["oX"]}):
        ops.expect_error(api().post("/api/tasks", body), 400, f"create {body}")
    ops.expect_error(api().post("/api/tasks", {"key": "no_such_key", "openids": ["oX"]}), 400,
                     "create with an unknown template")


def test_bad_requests():
    for path in ("/api/failed/retry", "/api/test-message", "/api/tasks", "/api/waiting/cancel",
                 "/api/templates/reload", "/api/account/pause"):
        for raw in (b"{not json", b"[1,2]", b"\"str\"", b"{\"id\":", b"\xff\xfe\x00", b"null", b"42"):
            ops.expect_error(api().post(path, raw=raw), 400, f"POST {path} body {raw!r}")
    for method, path in (("GET", "/api/nope"), ("POST", "/api/nope"), ("GET", "/api"),
                         ("GET", "/api/stats/extra"), ("GET", "/favicon.ico"),
                         ("GET", "/api/tasks/1")):
        ops.expect_error(api().call(method, path, body={} if method == "POST" else None), 404,
                         f"{method} {path}")
    # a known path with another method: 405 naming the methods it has in Allow
    for method, path, allow in (("DELETE", "/api/stats", "GET"), ("PUT", "/api/tasks", "GET, POST"),
                                ("POST", "/api/stats", "GET"), ("GET", "/api/failed/flush", "POST"),
                                ("GET", "/api/account/pause", "POST"), ("POST", "/metrics", "GET"),
                                ("PATCH", "/api/account", "GET"), ("GET", "/api/waiting/cancel", "POST"),
                                ("DELETE", "/api/messages/1", "GET"), ("POST", "/api/health", "GET"),
                                ("POST", "/assets/app.js", "GET")):
        r = api().call(method, path, body={} if method != "GET" else None)
        ops.expect_error(r, 405, f"{method} {path}")
        check(r.headers.get("allow") == allow, f"{method} {path}: Allow {r.headers.get('allow')!r}")
    # HTTP-level garbage: the connection gets a 4xx (or is closed), the server lives on
    host, port = ops.admin_addr(S["mega"])
    for garbage in (b"\x00\x01\x02 nonsense\r\n\r\n", b"GET /api/stats HTTP/1.1\r\nHost\r\n\r\n",
                    b"POST /api/tasks HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                    b"POST /api/test-message HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode()
                    + b"\r\nContent-Length: 10\r\n\r\n{\"op"):
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(garbage)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            reply = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        check(TOKEN.encode() not in reply, f"token echoed: {reply!r}")
        check(reply == b"" or reply.startswith(b"HTTP/1.1 4"), f"{garbage!r} answered {reply[:200]!r}")
    with socket.create_connection((host, port), timeout=10) as s:  # a 6 MB body announced
        s.sendall(b"POST /api/test-message HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + TOKEN.encode() + b"\r\nContent-Length: 6000000\r\n\r\n{\"openid\":\"")
        s.settimeout(10)
        head = s.recv(65536)
    check(head.startswith(b"HTTP/1.1 413"), f"a 6 MB body: {head[:200]!r}")
    # still alive and serving both interfaces
    check(S["mega"].proc.poll() is None, "mega exited")
    check(api().stats()["message_log"]["healthy"] is True, "stats after bad requests")


def test_protocol_still_served():
    push("oAdmAfter", options="source=final")
    wait_delivered("oAdmAfter")
    with S["mega"].client() as c:
        r = c.call_send("oAdmAfter2", "order_paid", {"product": "x"})
        check(r.code == 200, f"send after the admin tests: {r}")
    check(len(delivered_to("oAdmAfter2")) == 1, "send delivered")


def test_token_never_leaks():
    leaks = [(m, p) for client in (S["api"], S["anon"]) for (m, p, raw) in client.replies
             if TOKEN.encode() in raw]
    n = len(S["api"].replies) + len(S["anon"].replies)
    check(not leaks, f"the token is in the replies of {leaks}")
    out = S["mega"].output()
    check(TOKEN not in out, "the admin token is in mega's log or output: " +
          out[max(0, out.find(TOKEN) - 200):out.find(TOKEN) + 50])
    check(os.path.getsize(S["mega"].log_file) > 0, "empty log")
    print(f"  {n} replies and {len(out)} bytes of log checked")


def test_non_loopback_without_token_refuses_to_start():
    m = env.mega("open", start=False,
                 overrides={"admin": {"listen": "0.0.0.0:0", "token": None}})
    rc, out = ops.run_start_to_exit(m)
    check(rc != 0, f"mega started with a token-less non-loopback admin API (rc {rc})")
    check("token" in out and "[admin]" in out, f"the refusal does not name [admin] token: {out}")
    check("listening on" not in out and "admin API on" not in out,
          f"a port was opened before the refusal: {out}")
    print(f"  refusal: {[l for l in out.splitlines() if 'token' in l][:1]}")


def test_mysql_down_replies_name_no_database():
    """Last (it stops MySQL): the endpoints that query MySQL answer 503 "message store
    unavailable" and /api/stats says so in db_error, naming neither MySQL's address nor the
    database (before: "MySQL at 127.0.0.1:PORT (database mega): ..."); the log has them."""
    db = S["db"]
    db.stop()
    n = len(api().replies)
    for method, path, body in (("GET", "/api/messages", None), ("GET", "/api/messages/1", None),
                               ("POST", "/api/tasks", {"key": "order_paid", "openids": ["oDown"]})):
        err = ops.expect_error(api().call(method, path, body=body), 503, f"{method} {path}")
        check(err == "message store unavailable", f"{method} {path} with MySQL down: {err!r}")
    st = api().stats()
    check(st.get("db_error") == "message store unavailable", f"stats.db_error {st.get('db_error')!r}")
    for method, path, raw in api().replies[n:]:
        for detail in (f"127.0.0.1:{db.port}", f":{db.port} ", "database", "MySQL"):
            check(detail.encode() not in raw, f"{method} {path} names {detail!r}: {raw[-300:]!r}")
    check(f"127.0.0.1:{db.port}" in S["mega"].output(), "the log does not say which MySQL failed")


harness.run_tests(globals(), env=env, setup=setup)
