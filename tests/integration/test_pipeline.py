"""Pipelining: 1,000 pushes written to one connection in a single write, then one push split
one byte per write; every reply is 200, in order, with its opaque; then all 1,001 messages
reach fake-wechat, each recipient exactly as sent.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402

N = 1000
env = harness.Env("pipeline")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega()


def openid(i):
    return f"oPipe{i:07d}"


def test_pipelined_pushes_in_one_write():
    # opaques deliberately not sequential from 1: they must be echoed, not counted
    opaques = [(0x9E3779B1 * (i + 1)) & 0xFFFFFFFF for i in range(N)]
    frames = b"".join(harness.encode_push(openid(i), "order_paid",
                                          {"product": f"p{i}", "price": str(i)}, opaques[i])
                      for i in range(N))
    with S["mega"].client(timeout=60) as c:
        c.send_raw(frames)  # one sendall of ~100 KB
        for i in range(N):
            r = c.read_result()
            check(r.code == 200 and r.message == b"",
                  f"reply {i}: expected 200 with no message, got {r}")
            check(r.opaque == opaques[i],
                  f"reply {i} out of order: opaque {r.opaque:#x}, expected {opaques[i]:#x}")
    S["sent"] = {openid(i) for i in range(N)}


def test_push_split_one_byte_at_a_time():
    frame = harness.encode_push(openid(N), "order_paid", {"product": "split", "price": "1"},
                                0xABCDEF01)
    with S["mega"].client() as c:
        for b in frame:
            c.send_raw(bytes([b]))
            time.sleep(0.001)  # so the bytes travel as separate segments
        r = c.read_result()
        check((r.code, r.opaque, r.message) == (200, 0xABCDEF01, b""), f"split push: {r}")
        # and the connection is still in sync: a split frame followed by a whole one
        f1 = harness.encode_push("oPipeTail1", "order_paid", None, 11)
        f2 = harness.encode_push("oPipeTail2", "order_paid", None, 12)
        c.send_raw(f1[:3])
        time.sleep(0.01)
        c.send_raw(f1[3:] + f2[:20])
        time.sleep(0.01)
        c.send_raw(f2[20:])
        got = [c.read_result(), c.read_result()]
        check([(r.code, r.opaque) for r in got] == [(200, 11), (200, 12)],
              f"replies to frames split across writes: {got}")
    S.setdefault("sent", set()).update({openid(N), "oPipeTail1", "oPipeTail2"})


def test_all_delivered():
    fake = S["fake"]
    want = S["sent"]
    check(len(want) == N + 3, f"expected {N + 3} acknowledged pushes, have {len(want)}")
    wait_until(lambda: fake.delivered() >= len(want), 120,
               lambda: f"fake-wechat delivered >= {len(want)} (now {fake.delivered()})")
    msgs = fake.messages()
    tousers = [m.get("touser") for m in msgs]
    got = set(tousers)
    check(got == want, f"touser set differs: missing {sorted(want - got)[:5]}, "
                       f"unexpected {sorted(got - want)[:5]}")
    dups = len(tousers) - len(got)
    print(f"  delivered {len(tousers)} messages to {len(got)} openids ({dups} duplicates)")
    # each body was rendered for its own recipient
    for m in msgs[:50]:
        body = harness.FakeWechat.body_of(m)
        check(body["touser"] == m["touser"], f"body touser mismatch: {m}")
        if m["touser"].startswith("oPipe0"):
            i = int(m["touser"][5:])
            if i < N:
                check(body["data"]["keyword1"]["value"] == f"p{i}", f"body of {m['touser']}: {body}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
