"""Signed webhooks ([account.hook] type webhook, two URLs): each message is a JSON POST with
X-Mega-Timestamp and X-Mega-Signature, which the receivers (fake-wechat's /webhook/*, the
same secret) verify on every request, answering 401 to a bad one (shown by a forged request).
While the first URL answers, everything goes there; once its receiver is stopped, messages
flow to the second URL, none failed.
"""

import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

SECRET = "hook-secret-1"
HOOK = json.dumps({"chat": "${OPENID}", "text": "${text}"})
env = harness.Env("webhook")
S = {}


def setup():
    db = env.mariadb({"order_paid": harness.ORDER_PAID, "hook_msg": HOOK})
    db.sql("UPDATE mega_wechat_template SET account = 'hook', kind = 'message' "
           "WHERE tmpl_key = 'hook_msg';")
    S["first"] = env.fake_wechat(extra_args=("--webhook-secret", SECRET))
    S["second"] = env.fake_wechat(extra_args=("--webhook-secret", SECRET))
    urls = f"{S['first'].base}/webhook/a, {S['second'].base}/webhook/b"
    S["mega"] = env.mega(fake=S["first"], overrides=ds.fast_retry(
        tries=10, backoff="1,1,1", http_timeout_ms=2000,
        **{"account.hook": {"type": "webhook", "url": urls, "secret": SECRET}}))


def bodies(fake):
    return [json.loads(m["body"]) for m in ds.Deliveries(fake).all()]


def test_signed_posts_reach_the_first_url():
    first, second, mega = S["first"], S["second"], S["mega"]
    chats = ds.openids("chatA", 5)
    ds.push_many(mega, chats, "hook_msg", {"text": "hello"})
    wait_until(lambda: len(bodies(first)) >= 5, 20, lambda: f"first got {len(bodies(first))}")
    check(sorted(b["chat"] for b in bodies(first)) == chats, f"bodies: {bodies(first)}")
    check(not first.stats()["errors"], f"a signature failed: {first.stats()['errors']}")
    check(bodies(second) == [], "the second URL got messages while the first answered")


def test_a_forged_signature_is_refused():
    req = urllib.request.Request(S["second"].base + "/webhook/b", data=b'{"chat":"x"}',
                                 headers={"X-Mega-Timestamp": "1700000000",
                                          "X-Mega-Signature": "sha256=" + "0" * 64})
    try:
        urllib.request.urlopen(req, timeout=10)
        check(False, "a forged request was accepted")
    except urllib.error.HTTPError as e:
        check(e.code == 401, f"forged: HTTP {e.code}")
    S["second_errors"] = S["second"].stats()["errors"]


def test_first_url_down_messages_flow_to_the_second():
    first, second, mega = S["first"], S["second"], S["mega"]
    first.stop()
    chats = ds.openids("chatB", 5)
    ds.push_many(mega, chats, "hook_msg", {"text": "failover"})
    wait_until(lambda: len(bodies(second)) >= 5, 30, lambda: f"second got {len(bodies(second))}")
    check(sorted(b["chat"] for b in bodies(second)) == chats, f"bodies: {bodies(second)}")
    check(second.stats()["errors"] == S["second_errors"],
          f"a signature failed at the second: {second.stats()['errors']}")
    st = ds.stats(mega)
    check(st["failed"] == 0 and ds.failed_items(mega) == [], f"failed: {ds.failed_items(mega)}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
