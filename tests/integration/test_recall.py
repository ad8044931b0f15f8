"""Recall (POST /api/messages/ID/recall, `mega-cli recall ID`): a message still waiting is
cancelled instead, whether delayed or held by its paused account ([account.acme], paused
while `default` sends, so that the server reads acme's message and holds it); a sent message of a
WeChat account answers 409 saying that recall is not possible (only WeCom app messages can
be recalled); an unknown id is 404.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("recall")
S = {}


def setup():
    db = env.mariadb({"order_paid": harness.ORDER_PAID, "acme_paid": harness.ORDER_PAID})
    db.sql("UPDATE mega_wechat_template SET account = 'acme' WHERE tmpl_key = 'acme_paid';")
    S["fake"] = env.fake_wechat()
    S["mega"] = env.mega(overrides={"account.acme": {
        "app_id": "wxtest", "app_secret": "secret", "api_base": S["fake"].base}})


def push(openid, options="", key="order_paid"):
    with S["mega"].client() as c:
        r = c.call_push(openid, key, {"product": "recall"}, options=options)
    check(r.code == 200, f"push {openid}: {r}")


def waiting_id(openid):
    items = ds.admin_get(S["mega"], "/api/waiting")["items"]
    ids = [it["id"] for it in items if it["openid"] == openid]
    return ids[0] if ids else None


def test_a_delayed_message_is_cancelled():
    push("oRecallDelayed", "delay=600")
    wait_until(lambda: waiting_id("oRecallDelayed"), 10, "the delayed message waits")
    mid = waiting_id("oRecallDelayed")
    rc, out, err = ds.mega_cli(S["mega"], "recall", str(mid))
    check(rc == 0 and out.strip() == f"message {mid} cancelled (it was not sent yet)",
          f"mega-cli recall: {rc} {out!r} {err!r}")
    check(waiting_id("oRecallDelayed") is None, "still waiting after the recall")


def test_a_message_held_by_a_paused_account_is_cancelled():
    mega = S["mega"]
    ds.admin_post(mega, "/api/accounts/acme/pause", {"reason": "recall test"})
    push("oRecallHeld", key="acme_paid")
    wait_until(lambda: waiting_id("oRecallHeld"), 10, "the message is held while paused")
    status, body = ds.admin_call(mega, "POST", f"/api/messages/{waiting_id('oRecallHeld')}/recall")
    check(status == 200 and body.get("cancelled") is True, f"recall: {status} {body}")
    ds.admin_post(mega, "/api/accounts/acme/resume")
    push("oRecallAfter", key="acme_paid")  # once it arrives, acme's queue is past oRecallHeld
    wait_until(lambda: S["fake"].messages_to("oRecallAfter"), 10, "acme sends after resume")
    check(not S["fake"].messages_to("oRecallHeld"), "the cancelled message was sent")


def test_a_sent_wechat_message_cannot_be_recalled():
    mega = S["mega"]
    push("oRecallSent")
    wait_until(lambda: S["fake"].messages_to("oRecallSent"), 10, "delivered")
    rows = ds.admin_get(mega, "/api/messages?openid=oRecallSent")["items"]
    wait_until(lambda: ds.admin_get(mega, "/api/messages?openid=oRecallSent&status=sent")["items"],
               20, "the sent row in the message log")
    mid = ds.admin_get(mega, "/api/messages?openid=oRecallSent")["items"][0]["id"]
    status, body = ds.admin_call(mega, "POST", f"/api/messages/{mid}/recall")
    check(status == 409 and "recall is not possible" in body.get("error", "")
          and "account default" in body["error"], f"recall of a sent message: {status} {body}")
    rc, out, err = ds.mega_cli(mega, "recall", str(mid))
    check(rc != 0 and "recall is not possible" in err, f"mega-cli recall: {rc} {out!r} {err!r}")
    check(rows is not None, "rows")
    status, body = ds.admin_call(mega, "POST", "/api/messages/123/recall")
    check(status == 404, f"unknown id: {status} {body}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
