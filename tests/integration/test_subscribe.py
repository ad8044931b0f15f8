"""Subscribe messages and the checks made before a call. Templates of kind `subscribe` go
to subscribe/bizsend on a wechat_oa account and to subscribe/send on a wechat_mini account
([account.mini], its own fake-wechat and credentials). A value that breaks its key type's
rule (a `thing` over 20 characters, a `phrase` over 5 Chinese characters) fails at once with
an error naming the field, and no call reaches fake-wechat. With [setting] missing_var =
reject a push lacking a ${var} fails locally too, and template_value_max_chars = 20 caps
template values.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

SUB = json.dumps({"touser": "${OPENID}", "template_id": "SUBTPL", "page": "index",
                  "data": {"thing1": {"value": "${thing}"}, "time2": {"value": "${time}"},
                           "phrase3": {"value": "${phrase}"}}})
TPL = json.dumps({"touser": "${OPENID}", "template_id": "TPL",
                  "data": {"keyword1": {"value": "${product}"}}})
env = harness.Env("subscribe")
S = {}


def setup():
    db = env.mariadb({"oa_sub": SUB, "mini_sub": SUB, "plain": TPL})
    db.sql("UPDATE mega_wechat_template SET kind = 'subscribe' WHERE tmpl_key = 'oa_sub';"
           "UPDATE mega_wechat_template SET kind = 'subscribe', account = 'mini' "
           "WHERE tmpl_key = 'mini_sub';")
    S["fa"] = env.fake_wechat()
    S["fm"] = env.fake_wechat(appid="wxmini", secret="minisecret")
    S["mega"] = env.mega(fake=S["fa"], overrides={
        "retry": {"tries": 1},
        "setting": {"missing_var": "reject", "template_value_max_chars": 20},
        "account.mini": {"type": "wechat_mini", "app_id": "wxmini", "app_secret": "minisecret",
                         "api_base": S["fm"].base},
    })


GOOD = {"thing": "订单已发货", "time": "2019年10月1日 15:01", "phrase": "已发货"}


def failed_error(openid):
    items = [i for i in ds.failed_items(S["mega"]) if i["openid"] == openid]
    return items[0]["error"] if items else None


def endpoint(fake, path):
    return fake.stats().get("endpoints", {}).get(path, 0)


def test_good_subscribe_messages_go_to_their_endpoints():
    fa, fm, mega = S["fa"], S["fm"], S["mega"]
    ds.push_many(mega, ["oSubOk"], "oa_sub", GOOD)
    ds.push_many(mega, ["oMiniOk"], "mini_sub", GOOD)
    wait_until(lambda: fa.messages_to("oSubOk") and fm.messages_to("oMiniOk"), 20,
               "both subscribe messages delivered")
    check(endpoint(fa, "/cgi-bin/message/subscribe/bizsend") == 1, f"bizsend: {fa.stats()}")
    check(endpoint(fm, "/cgi-bin/message/subscribe/send") == 1, f"mini send: {fm.stats()}")
    body = json.loads(fa.messages_to("oSubOk")[0]["body"])
    check("client_msg_id" not in body and body["data"]["thing1"]["value"] == GOOD["thing"],
          f"bizsend body: {body}")


def test_broken_values_fail_locally_without_a_call():
    fa, fm, mega = S["fa"], S["fm"], S["mega"]
    before_a, before_m = fa.stats()["endpoints"], fm.stats()["endpoints"]
    cases = {
        "oLongThing": ("oa_sub", dict(GOOD, thing="一" * 21), "data.thing1"),
        "oLongPhrase": ("mini_sub", dict(GOOD, phrase="已经发货了吧"), "data.phrase3"),
        "oBadTime": ("oa_sub", dict(GOOD, time="tomorrow"), "data.time2"),
        "oMissingVar": ("plain", {}, "${product}"),
        "oLongValue": ("plain", {"product": "x" * 21}, "data.keyword1"),
    }
    for openid, (key, data, _) in cases.items():
        ds.push_many(mega, [openid], key, data)
    wait_until(lambda: all(failed_error(o) for o in cases), 20,
               lambda: f"dead letters: {ds.failed_items(mega)}")
    for openid, (_, _, field) in cases.items():
        err = failed_error(openid)
        check(field in err and "local" in err, f"{openid}: error {err!r} does not name {field}")
    # nothing reached either fake: its counts per API path did not move
    check(fa.stats()["endpoints"] == before_a and fm.stats()["endpoints"] == before_m,
          f"calls reached fake-wechat: {fa.stats()['endpoints']} {fm.stats()['endpoints']}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
