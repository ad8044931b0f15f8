"""Two wechat_oa accounts in one server ([wechat] is `default`, [account.acme] the second),
each against its own fake-wechat that accepts only that account's app_id and secret. Each
account fetches its own token and keeps its own rate (fake's busiest second stays within
rate + burst). A 45009 on acme pauses acme only: default keeps delivering, /api/accounts/acme
and `mega-cli account status acme` show the pause while /api/account does not; after
/fake/clear_quota, `mega-cli account resume acme` sends the rest. Nothing fails.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

ACME_QUOTA = 6
env = harness.Env("accounts")
S = {}


def setup():
    db = S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID,
                                "acme_paid": harness.ORDER_PAID})
    db.sql("UPDATE mega_wechat_template SET account = 'acme' WHERE tmpl_key = 'acme_paid';")
    S["fa"] = env.fake_wechat(latency_ms=2)
    S["fb"] = env.fake_wechat(latency_ms=2, appid="wxacme", secret="acmesecret")
    S["fb"].configure(quota=ACME_QUOTA)
    S["mega"] = env.mega(fake=S["fa"], overrides={
        "retry": {"tries": 1},
        "setting": {"task_worker_num": 2, "max_inflight": 4},
        "wechat": {"rate_limit_per_second": 4, "rate_burst": 1, "quota_probe_s": 0},
        "account.acme": {"type": "wechat_oa", "app_id": "wxacme", "app_secret": "acmesecret",
                         "api_base": S["fb"].base, "rate_limit_per_second": 10,
                         "rate_burst": 1, "quota_probe_s": 0},
    })


def account(name=None):
    return ds.admin_get(S["mega"], "/api/accounts/" + name if name else "/api/account")


def test_each_account_its_own_token_and_rate():
    fa, fb, mega = S["fa"], S["fb"], S["mega"]
    a_ids, b_ids = ds.openids("oDefault", 10), ds.openids("oAcme", ACME_QUOTA)
    ds.push_many(mega, a_ids, "order_paid", {"product": "a"})
    ds.push_many(mega, b_ids, "acme_paid", {"product": "b"})
    da, db = ds.Deliveries(fa), ds.Deliveries(fb)
    wait_until(lambda: set(a_ids) <= set(da.tousers()) and set(b_ids) <= set(db.tousers()), 30,
               lambda: f"delivered: default {len(da.tousers())}, acme {len(db.tousers())}")
    sa, sb = fa.stats(), fb.stats()
    check(set(da.tousers()) == set(a_ids), "an acme message reached default's fake")
    check(set(db.tousers()) == set(b_ids), "a default message reached acme's fake")
    for name, s in (("default", sa), ("acme", sb)):
        check(s["stable_token_requests"] + s["token_requests"] >= 1, f"{name}: no token: {s}")
        check(not s["errors"], f"{name}: errors {s['errors']} (wrong credentials?)")
    print(f"  busiest second: default {sa['max_per_second']} (rate 4), "
          f"acme {sb['max_per_second']} (rate 10)")
    check(sa["max_per_second"] <= 5, f"default over its rate 4 + burst 1: {sa}")
    check(sb["max_per_second"] <= 11, f"acme over its rate 10 + burst 1: {sb}")
    accounts = {a["account"]: a for a in ds.admin_get(mega, "/api/accounts")}
    check(accounts["default"]["sent"] == 10 and accounts["acme"]["sent"] == ACME_QUOTA,
          f"/api/accounts: {accounts}")
    per_stats = {a["account"]: a for a in ds.stats(mega)["accounts"]}
    check(per_stats["acme"]["sent"] == ACME_QUOTA and per_stats["acme"]["type"] == "wechat_oa",
          f"/api/stats accounts: {per_stats}")
    check(ds.metric(mega, "mega_account_sent_total", 'account="acme"') == ACME_QUOTA and
          ds.metric(mega, "mega_account_sent_total", 'account="default"') == 10,
          "mega_account_sent_total{account=...}")
    wait_until(lambda: S["db"].sql("SELECT account, kind, COUNT(*) FROM mega_message_log "
                                    "WHERE status = 'sent' GROUP BY account, kind "
                                    "ORDER BY account;")
               == [["acme", "template", str(ACME_QUOTA)], ["default", "template", "10"]], 20,
               "message-log rows with their account and kind")
    listed = ds.admin_get(mega, "/api/messages?account=acme&limit=100")
    rows = listed["items"] if isinstance(listed, dict) else listed
    check(len(rows) == ACME_QUOTA and all(r["account"] == "acme" for r in rows),
          f"/api/messages?account=acme: {rows}")
    tmpls = {t["key"]: t for t in ds.admin_get(mega, "/api/templates")}
    check(tmpls["acme_paid"]["account"] == "acme" and tmpls["order_paid"]["account"] == "default"
          and tmpls["order_paid"]["kind"] == "template", f"/api/templates: {tmpls}")


def test_quota_on_one_account_pauses_only_it():
    fa, fb, mega = S["fa"], S["fb"], S["mega"]
    b_ids = ds.openids("oAcmeMore", ACME_QUOTA - 1)
    ds.push_many(mega, b_ids, "acme_paid", {"product": "b2"})
    wait_until(lambda: account("acme")["paused"], 20, lambda: f"acme paused: {account('acme')}")
    check("45009" in account("acme")["reason"], f"reason: {account('acme')}")
    check(ds.metric(mega, "mega_account_is_paused", 'account="acme"') == 1 and
          ds.metric(mega, "mega_account_is_paused", 'account="default"') == 0, "paused metric")
    a_ids = ds.openids("oDefaultMore", 12)
    ds.push_many(mega, a_ids, "order_paid", {"product": "a2"})
    da = ds.Deliveries(fa)
    wait_until(lambda: set(a_ids) <= set(da.tousers()), 30,
               lambda: f"default delivered while acme paused: {len(da.tousers())}")
    check(not account()["paused"], f"/api/account (default) paused: {account()}")
    check(account("acme")["paused"], "acme resumed by itself")
    rc, out, err = ds.mega_cli(mega, "account", "status", "acme")
    check(rc == 0 and out.startswith("account acme paused: ") and "45009" in out,
          f"mega-cli account status acme: {rc} {out!r} {err!r}")
    rc, out, err = ds.mega_cli(mega, "account", "status")
    check(rc == 0 and out.strip() == "account wxtest sending", f"account status: {out!r} {err!r}")
    ds.fake_post(fb, "/fake/clear_quota")
    rc, out, err = ds.mega_cli(mega, "account", "resume", "acme")
    check(rc == 0, f"mega-cli account resume acme: {rc} {out} {err}")
    db = ds.Deliveries(fb)
    wait_until(lambda: set(b_ids) <= set(db.tousers()), 20,
               lambda: f"acme delivered after resume: {len(db.tousers())}")
    check(not ds.duplicates(db.tousers()) and not ds.duplicates(da.tousers()), "duplicates")
    st = ds.stats(mega)
    check(st["failed"] == 0 and ds.failed_items(mega) == [], f"failed: {st['failed']}")
    rc, out, err = ds.mega_cli(mega, "account", "status", "nosuch")
    check(rc != 0 and "no account nosuch" in err, f"unknown account: {rc} {out!r} {err!r}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
