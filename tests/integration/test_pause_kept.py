"""An operator's pause outlives a restart: paused, 20 pushes queued, SIGTERM, start again.
The account is still paused with its reason, nothing is handed to the senders (checked once a
push has been acknowledged, which is after the dispatcher's turn in the same loop iteration),
and only a resume sends the messages, each once. A quota pause whose day is over is not kept.
An [account.NAME]'s pause is kept too, apart from the default account's.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import delivery_support as ds  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("pause_kept")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega()


def nothing_sent_after_an_ack(mega, openid):
    with mega.client() as c:
        r = c.call_push(openid, "order_paid", {"product": "tea"})
        check(r.code == 200, f"push: {r}")
    st = ds.stats(mega)
    check(st["inflight"] == 0 and st["sent"] == 0 and st["attempts"] == 0,
          f"something was handed to the senders while paused: {st}")


def test_operator_pause_survives_a_restart():
    mega, fake = S["mega"], S["fake"]
    ds.admin_post(mega, "/api/account/pause", {"reason": "incident 42"})
    openids = [f"oKept{i:03d}" for i in range(20)]
    ds.push_many(mega, openids, "order_paid", {"product": "tea"})
    check(mega.stop() == 0, "stopped")
    mega.start()
    account = ds.admin_get(mega, "/api/account")
    check(account["paused"] is True, f"the pause was forgotten: {account}")
    check("incident 42" in json.dumps(account), f"its reason: {account}")
    nothing_sent_after_an_ack(mega, "oKeptLate")
    wait_until(lambda: "kept from before the restart" in mega.output(), 30, "the log line")
    check(fake.delivered() == 0, "nothing reached WeChat")
    ds.admin_post(mega, "/api/account/resume")
    wait_until(lambda: fake.delivered() == 21, 60, "all 21 sent after the resume")
    check(mega.stop() == 0, "stopped again")
    mega.start()  # resumed is kept too
    check(ds.admin_get(mega, "/api/account")["paused"] is False, "resume kept")


def test_quota_pause_whose_day_is_over_is_not_kept():
    mega = S["mega"]
    check(mega.stop() == 0, "stopped")
    with open(os.path.join(mega.queue_path, "pause"), "w") as f:
        f.write("paused 1\nby_operator 0\nsince_ms 1000\nuntil_ms 2000\n"
                "reason daily API quota reached (45009)\n")
    mega.start()
    check(ds.admin_get(mega, "/api/account")["paused"] is False, "an expired quota pause")
    wait_until(lambda: "pause from before the restart is over" in mega.output(), 30, "logged")


def test_a_named_accounts_pause_survives_a_restart():
    shop = env.mega("named", overrides={
        "account.shop": {"type": "wechat_oa", "app_id": "wxshop", "app_secret": "shopsecret",
                         "api_base": S["fake"].base}})
    ds.admin_post(shop, "/api/accounts/shop/pause", {"reason": "shop audit"})
    check(shop.stop() == 0, "stopped")
    shop.start()
    named = ds.admin_get(shop, "/api/accounts/shop")
    check(named["paused"] is True and "shop audit" in json.dumps(named),
          f"the named account's pause was forgotten: {named}")
    check(ds.admin_get(shop, "/api/account")["paused"] is False, "the default account is not")
    ds.admin_post(shop, "/api/accounts/shop/resume")
    check(shop.stop() == 0, "stopped again")
    shop.start()
    check(ds.admin_get(shop, "/api/accounts/shop")["paused"] is False, "its resume kept too")
    check(shop.stop() == 0, "stopped at the end")


harness.run_tests(globals(), env, setup)
