"""WeCom group robot ([account.bot] type wecom_robot): 100 messages pushed at once reach
fake-wechat's webhook/send?key= at no more than 20 in any window, with nothing failed and no
45009 (fake-wechat answers 45009 beyond 20 a window, as WeCom does beyond 20 a minute). The
window is shortened to 2 s on both sides for the test: [account.bot] robot_window_s = 2 and
fake-wechat --robot-window-s 2 (WeCom's is 60 s, the default of both).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

WINDOW_MS = 2000
BOT_TEXT = json.dumps({"msgtype": "text", "text": {"content": "${OPENID}: ${text}"}})
env = harness.Env("robot")
S = {}


def setup():
    db = env.mariadb({"order_paid": harness.ORDER_PAID, "bot_text": BOT_TEXT})
    db.sql("UPDATE mega_wechat_template SET account = 'bot', kind = 'message' "
           "WHERE tmpl_key = 'bot_text';")
    S["fake"] = env.fake_wechat(extra_args=("--robot-window-s", str(WINDOW_MS // 1000)))
    S["mega"] = env.mega(overrides={
        "retry": {"tries": 1},
        "account.bot": {"type": "wecom_robot", "robot_key": "KEY1", "api_base": S["fake"].base,
                        "robot_window_s": WINDOW_MS // 1000},
    })


def test_100_robot_messages_stay_inside_20_a_window():
    fake, mega = S["fake"], S["mega"]
    chats = ds.openids("chat", 100)
    ds.push_many(mega, chats, "bot_text", {"text": "build passed"})
    d = ds.Deliveries(fake)
    wait_until(lambda: len(d.all()) >= 100, 60, lambda: f"robot messages: {len(d.all())}")
    msgs = d.all()
    contents = sorted(json.loads(m["body"])["text"]["content"] for m in msgs)
    check(contents == sorted(f"{c}: build passed" for c in chats), "contents differ")
    times = sorted(m["t_ms"] for m in msgs)
    busiest = max(sum(1 for t in times[i:] if t < start + WINDOW_MS)
                  for i, start in enumerate(times))
    print(f"  100 messages over {(times[-1] - times[0]) / 1000:.1f} s, "
          f"busiest {WINDOW_MS} ms window: {busiest}")
    check(busiest <= 20, f"{busiest} messages within {WINDOW_MS} ms")
    st = fake.stats()
    check(not st["errors"], f"fake-wechat answered errors: {st['errors']}")
    check(st["endpoints"].get("/cgi-bin/webhook/send") == 100, f"endpoints: {st['endpoints']}")
    check(ds.stats(mega)["failed"] == 0 and ds.failed_items(mega) == [], "failed messages")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
