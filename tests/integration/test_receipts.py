"""Delivery receipts (issue 14): WeChat's server URL on [events] listen.
- fake-wechat verifies the URL as WeChat does (echostr), and a wrong token gets 403;
- 1,000 messages, fake-wechat pushing TEMPLATESENDJOBFINISH in safe mode with shares
  90% success / 5% user block / 5% system failed, each push repeated twice more (3 copies):
  the message log has exactly 900 delivered, 50 blocked, 50 undelivered, and the 2,000
  repeats are counted;
- a forged msg_signature, a stale timestamp and a wrong appid after decryption are each
  refused (403) with the message still `sent` and no receipt counted; the same push signed
  properly is then applied (encrypted here with python3-cryptography, independent of mega);
- a receipt for a msgid mega never sent is accepted, logged and counted as unknown;
- a receipt journaled while MySQL is down survives a SIGKILL of mega and is applied after;
- a subscribe_msg_change_event (plain mode) records the openid's rejection of the template,
  and a subscribe message of that template to that openid then fails locally (no call to
  WeChat), before and after a restart, while another openid still gets it.
"""

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors"))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402
from make_safe_mode_vector import encrypt  # noqa: E402  (python3-cryptography)

N = 1000
TOKEN = "receiptToken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SHARES = {"success": 0.90, "failed:user block": 0.05, "failed: system failed": 0.05}
env = harness.Env("receipts")
S = {}


SUB_TPL1 = json.dumps({"touser": "${OPENID}", "template_id": "TPL1", "page": "index",
                       "data": {"thing1": {"value": "${thing}"}}})


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID, "sub_tpl1": SUB_TPL1})
    S["db"].sql("UPDATE mega_wechat_template SET kind = 'subscribe' WHERE tmpl_key = 'sub_tpl1';")
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega(overrides={"events": {"listen": "127.0.0.1:0", "receipt_wait_s": 5},
                                    "wechat": {"token": TOKEN, "encoding_aes_key": AES_KEY}})
    S["url"] = f"http://127.0.0.1:{S['mega'].status()['events']}/wechat/default"


def fake_call(method, path, body=None):
    return harness.megastack.http_json(method, S["fake"].base + path, body)


def receipts():
    return S["mega"].admin("GET", "/api/stats")["receipts"]


def log_counts():
    rows = S["db"].sql("SELECT status, COUNT(*) FROM mega_message_log GROUP BY status;")
    return {r[0]: int(r[1]) for r in rows if len(r) == 2}


def test_url_verification():
    ok = fake_call("POST", "/fake/verify-url", {"url": S["url"], "token": TOKEN})
    check(ok["verified"] is True, f"URL verification with the right token: {ok}")
    bad = fake_call("POST", "/fake/verify-url", {"url": S["url"], "token": "wrong"})
    check(bad["verified"] is False and bad["status"] == 403, f"wrong token: {bad}")


def test_safe_mode_receipts_exact_counts():
    fake_call("POST", "/fake/receipts", {"url": S["url"], "token": TOKEN,
                                         "encoding_aes_key": AES_KEY, "appid": "wxtest",
                                         "shares": SHARES, "repeats": 2, "delay_ms": 100})
    frames = b"".join(harness.encode_push(f"oRcpt{i:05d}", "order_paid",
                                          {"product": "p", "price": str(i)}, i + 1)
                      for i in range(N))
    with S["mega"].client(timeout=60) as c:
        c.send_raw(frames)
        for i in range(N):
            r = c.read_result()
            check(r.code == 200, f"push {i}: {r}")

    def all_pushed():
        st = fake_call("GET", "/fake/receipts")
        return st["pushed"] == 3 * N and st["waiting"] == 0 and st
    st = wait_until(all_pushed, 180, lambda: f"fake-wechat pushed {3 * N} receipts: "
                                             f"{fake_call('GET', '/fake/receipts')}")
    check(st["answers"] == {"200": 3 * N}, f"every push answered 200 success: {st['answers']}")
    check(st["drawn"] == {"success": 900, "failed:user block": 50,
                          "failed: system failed": 50}, f"fake's draw: {st['drawn']}")
    wait_until(lambda: receipts()["pending"] == 0, 120, lambda: f"applied: {receipts()}")
    r = receipts()
    check((r["delivered"], r["blocked"], r["undelivered"], r["repeats"], r["unknown"])
          == (900, 50, 50, 2 * N, 0), f"receipt counters: {r}")
    counts = log_counts()
    check(counts == {"delivered": 900, "blocked": 50, "undelivered": 50},
          f"message log by status: {counts}")
    metrics = urllib.request.urlopen(S["mega"].admin_base + "/metrics").read().decode()
    check('mega_receipts_total{result="repeat"} 2000' in metrics, "repeats in /metrics")
    check('mega_messages_total{status="delivered"} 900' in metrics, "delivered in /metrics")
    fake_call("POST", "/fake/receipts", {"url": ""})  # no more automatic pushes


def push(query, body):
    req = urllib.request.Request(S["url"] + "?" + query, data=body.encode(), method="POST",
                                 headers={"Content-Type": "text/xml"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def safe_push(msgid, appid="wxtest", timestamp=None, forge=False):
    xml = ("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oRcptX]]>"
           "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
           f"<MsgID>{msgid}</MsgID><Status><![CDATA[success]]></Status></xml>")
    text = encrypt(xml, appid, AES_KEY, os.urandom(16))
    ts, nonce = str(timestamp or int(time.time())), "n" + str(msgid)
    sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce, text])).encode()).hexdigest()
    if forge:
        sig = hashlib.sha1(("x" + sig).encode()).hexdigest()
    body = f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{text}]]></Encrypt></xml>"
    return push(f"timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={sig}", body)


def test_forged_stale_foreign_refused_nothing_changed():
    with S["mega"].client() as c:
        check(c.call_push("oRcptX", "order_paid", {"product": "x", "price": "1"}).code == 200,
              "push accepted")
    rows = wait_until(lambda: S["db"].sql(
        "SELECT msgid FROM mega_message_log WHERE openid='oRcptX' AND status='sent';"), 60,
        "the message is sent and logged")
    msgid = int(rows[0][0])
    before = receipts()
    for what, kw in (("forged signature", {"forge": True}),
                     ("stale timestamp", {"timestamp": int(time.time()) - 301}),
                     ("wrong appid", {"appid": "wxother"})):
        status, _ = safe_push(msgid, **kw)
        check(status == 403, f"{what}: answered {status}, expected 403")
    after = receipts()
    check((after["refused_signature"] - before["refused_signature"],
           after["refused_stale"] - before["refused_stale"],
           after["refused_appid"] - before["refused_appid"]) == (1, 1, 1), f"refusals: {after}")
    for k in ("delivered", "blocked", "undelivered", "repeats", "unknown"):
        check(after[k] == before[k], f"{k} changed by a refused push: {before} -> {after}")
    check(S["db"].sql(f"SELECT status FROM mega_message_log WHERE msgid={msgid};") == [["sent"]],
          "the message is still sent")
    check(safe_push(msgid) == (200, "success"), "the proper push is answered success")
    wait_until(lambda: S["db"].sql(f"SELECT status FROM mega_message_log WHERE msgid={msgid};")
               == [["delivered"]], 30, "the proper push delivers the message")


def test_unknown_msgid_counted():
    before = receipts()
    check(safe_push(999999999999) == (200, "success"), "a receipt for no message is accepted")
    wait_until(lambda: receipts()["unknown"] == before["unknown"] + 1, 30,
               lambda: f"the unknown msgid counted: {receipts()}")
    check(log_counts()["delivered"] == 901, f"nothing else changed: {log_counts()}")


def test_subscribe_rejection_recorded():
    xml = ("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oSub1]]>"
           "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           "<Event><![CDATA[subscribe_msg_change_event]]></Event><SubscribeMsgChangeEvent>"
           "<List><TemplateId><![CDATA[TPL1]]></TemplateId><SubscribeStatusString><![CDATA["
           "reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent></xml>")
    ts, nonce = str(int(time.time())), "sub1"
    sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()
    check(push(f"signature={sig}&timestamp={ts}&nonce={nonce}", xml) == (200, "success"),
          "plain-mode push answered success")
    wait_until(lambda: S["db"].sql("SELECT choice FROM mega_subscribe_choice WHERE "
                                   "openid='oSub1' AND template_id='TPL1';") == [["reject"]],
               30, "the rejection is recorded")


def bizsend_calls():
    return S["fake"].stats().get("endpoints", {}).get("/cgi-bin/message/subscribe/bizsend", 0)


def expect_rejected_fails_locally(openid, what):
    before = bizsend_calls()
    with S["mega"].client() as c:
        check(c.call_push(openid, "sub_tpl1", {"thing": "shipped"}).code == 200, "push accepted")
    item = wait_until(lambda: next((i for i in ds.failed_items(S["mega"])
                                    if i["openid"] == openid), None), 30,
                      f"{what}: the subscribe message to {openid} fails")
    check("rejected subscribe template TPL1" in item["error"], f"{what}: error {item}")
    check(bizsend_calls() == before, f"{what}: a call reached WeChat ({bizsend_calls()})")
    ds.admin_post(S["mega"], "/api/failed/forget", {"id": item["id"]})


def test_subscribe_to_a_rejecting_openid_fails_locally():
    expect_rejected_fails_locally("oSub1", "after the change event")
    with S["mega"].client() as c:
        check(c.call_push("oSub2", "sub_tpl1", {"thing": "shipped"}).code == 200, "push oSub2")
    wait_until(lambda: "oSub2" in ds.Deliveries(S["fake"]).tousers(), 30,
               "another openid still gets the subscribe message")


def test_journaled_receipt_survives_a_crash():
    """MySQL down: the receipt is journaled and answered `success`; mega is killed (SIGKILL)
    before it could apply it; after the restart the journal is applied."""
    with S["mega"].client() as c:
        check(c.call_push("oRcptCrash", "order_paid", None).code == 200, "push")
    rows = wait_until(lambda: S["db"].sql(
        "SELECT msgid FROM mega_message_log WHERE openid='oRcptCrash' AND status='sent';"), 60,
        "the message is sent and logged")
    msgid = int(rows[0][0])
    S["db"].stop()
    check(safe_push(msgid) == (200, "success"), "answered success with MySQL down")
    check(receipts()["pending"] == 1, f"one receipt pending: {receipts()}")
    S["mega"].kill()
    S["db"].start()
    S["mega"].start()
    S["url"] = f"http://127.0.0.1:{S['mega'].status()['events']}/wechat/default"
    wait_until(lambda: S["db"].sql(f"SELECT status FROM mega_message_log WHERE msgid={msgid};")
               == [["delivered"]], 60, "the journaled receipt is applied after the restart")


def test_rejection_known_after_a_restart():
    expect_rejected_fails_locally("oSub1", "after a restart (loaded from MySQL)")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
