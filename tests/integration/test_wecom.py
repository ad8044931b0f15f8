"""WeCom app messages ([account.corp] type wecom_app, template kind `message`): one push to
three users, one of whom fake-wechat treats as invalid, is answered errcode 0 with
invaliduser, and mega records it `sent` with WeCom's string msgid and the invalid user noted
in errmsg; `mega-cli recall ID` then makes fake-wechat see message/recall for that msgid and
the message ends `recalled`. A push whose users are all invalid gets 81013 and fails for good
after one call, though [retry] allows three. A recall WeCom refuses (fake-wechat's clock
moved past its 24 hours) answers 409 with WeCom's errcode and leaves the message `sent`. A
send with an expired token (42001) fetches one new token from gettoken and is sent.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

CORP, SECRET, AGENT = "wwcorp1", "corp-secret-1", 1000002
TEXT = json.dumps({"touser": "${OPENID}", "msgtype": "text", "text": {"content": "${text}"}})
env = harness.Env("wecom")
S = {}


def setup():
    db = env.mariadb({"order_paid": harness.ORDER_PAID, "corp_text": TEXT})
    db.sql("UPDATE mega_wechat_template SET account = 'corp', kind = 'message' "
           "WHERE tmpl_key = 'corp_text';")
    fake = S["fake"] = env.fake_wechat()
    fake._http("POST", "/fake/wecom", {"corps": {CORP: {"secret": SECRET, "agentid": AGENT}},
                                       "invalid_users": ["ghost", "nobody"]})
    S["mega"] = env.mega(overrides={
        "retry": {"tries": 3},
        "account.corp": {"type": "wecom_app", "corp_id": CORP, "corp_secret": SECRET,
                         "agent_id": AGENT, "api_base": fake.base},
    })


def push(touser, text):
    with S["mega"].client() as c:
        r = c.call_push(touser, "corp_text", {"text": text})
    check(r.code == 200, f"push {touser}: {r}")


def logged(touser, status):
    items = ds.admin_get(S["mega"], f"/api/messages?openid={touser}&status={status}")["items"]
    return items[0] if items else None


def wecom():
    return S["fake"]._http("GET", "/fake/wecom")


def test_partly_invalid_receivers_are_sent_noted_then_recalled():
    mega, touser = S["mega"], "alice|ghost|bob"
    push(touser, "deploy done")
    wait_until(lambda: logged(touser, "sent"), 20, "the message logged as sent")
    sent = wecom()["sent"]
    check(len(sent) == 1 and sent[0]["touser"] == "alice|bob"
          and sent[0]["invaliduser"] == "ghost", f"fake-wechat: {sent}")
    body = json.loads(sent[0]["body"])
    check(body["agentid"] == AGENT and body["msgtype"] == "text"
          and body["text"]["content"] == "deploy done" and body["enable_duplicate_check"] == 1,
          f"body: {body}")
    row = ds.admin_get(mega, f"/api/messages/{logged(touser, 'sent')['id']}")
    check(row["remote_msgid"] == sent[0]["msgid"], f"msgid kept: {row}")
    check("invaliduser: ghost" in row["errmsg"], f"invalid user noted: {row['errmsg']!r}")

    rc, out, err = ds.mega_cli(mega, "recall", str(row["id"]))
    check(rc == 0 and out.strip() == f"message {row['id']} recalled",
          f"mega-cli recall: {rc} {out!r} {err!r}")
    check(wecom()["sent"][0]["recalled"] is True, "fake-wechat saw no recall")
    check(S["fake"].stats()["endpoints"].get("/cgi-bin/message/recall") == 1, "recall calls")
    after = ds.admin_get(mega, f"/api/messages/{row['id']}")
    check(after["status"] == "recalled" and "invaliduser: ghost" in after["errmsg"],
          f"after the recall: {after}")
    status, again = ds.admin_call(mega, "POST", f"/api/messages/{row['id']}/recall")
    check(status == 409, f"a second recall: {status} {again}")


def test_no_valid_receiver_fails_permanently_after_one_call():
    touser = "ghost|nobody"
    before = S["fake"].stats()["endpoints"].get("/cgi-bin/message/send", 0)
    push(touser, "nobody home")
    wait_until(lambda: logged(touser, "failed"), 20, "the message logged as failed")
    row = logged(touser, "failed")
    check(row["errcode"] == 81013 and row["attempts"] == 1, f"failed row: {row}")
    sends = S["fake"].stats()["endpoints"].get("/cgi-bin/message/send", 0) - before
    check(sends == 1 and wecom()["errors"].get("81013") == 1, f"send calls: {sends}")


def test_a_recall_wecom_refuses_leaves_the_message_sent():
    mega, touser = S["mega"], "carol"
    push(touser, "too late")
    wait_until(lambda: logged(touser, "sent"), 20, "the message logged as sent")
    mid = logged(touser, "sent")["id"]
    S["fake"]._http("POST", "/fake/wecom", {"age_s": 25 * 3600})  # WeCom's 24 h have passed
    status, body = ds.admin_call(mega, "POST", f"/api/messages/{mid}/recall")
    check(status == 409 and "301025" in body.get("error", ""), f"late recall: {status} {body}")
    check(ds.admin_get(mega, f"/api/messages/{mid}")["status"] == "sent", "status changed")


def test_an_expired_token_is_fetched_again_and_the_message_sent():
    touser = "dave"
    before = wecom()
    S["fake"]._http("POST", "/fake/wecom", {"expire_tokens": True})
    push(touser, "after expiry")
    wait_until(lambda: logged(touser, "sent"), 20, "the message logged as sent")
    after = wecom()
    check(after["token_requests"] == before["token_requests"] + 1
          and after["errors"].get("42001", 0) == before["errors"].get("42001", 0) + 1,
          f"token refresh: {before['token_requests']} -> {after['token_requests']}, "
          f"errors {after['errors']}")
    check(logged(touser, "sent")["attempts"] == 1, "the refresh cost an attempt")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
