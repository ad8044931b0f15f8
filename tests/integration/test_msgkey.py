"""Idempotency keys: a push with msgkey=K is queued and delivered once, with client_msg_id K in
the body WeChat receives; a second push (or send) with K is answered `result 200 duplicate` and
not queued, whatever its openid. The key is remembered across a clean restart and across a
kill -9. With [retry] dedup_window = 2, the key is forgotten after the window and a push with
it is queued again (to another openid: WeChat itself drops a repeated touser + client_msg_id).
With fsync = always (and no periodic sync within the test), mega runs under strace: the
`result 200` of a push with a msgkey is written only after an fdatasync of the message's
segment and one of the key journal's segment have returned.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("msgkey")
S = {}
KEY = "order-1881"


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega()


def call(mega, cmd, openid, options):
    with mega.client() as c:
        fn = c.call_push if cmd == "push" else c.call_send
        return fn(openid, "order_paid", {"product": "tea", "price": "3"}, options=options)


def expect_duplicate(mega, cmd, openid, what):
    r = call(mega, cmd, openid, f"msgkey={KEY}")
    check((r.code, r.message) == (200, b"duplicate"), f"{what}: {cmd} with a known msgkey: {r}")


def settled(mega, sent):
    return wait_until(lambda: (lambda s: s if s["sent"] == sent and s["queue"]["total"] == 0
                               and s["inflight"] == 0 else None)(ds.stats(mega)),
                      15, lambda: f"server settled with sent={sent}: {ds.stats(mega)}")


def test_first_push_delivered_with_client_msg_id():
    fake, mega = S["fake"], S["mega"]
    r = call(mega, "push", "oKey1", f"msgkey={KEY}")
    check((r.code, r.message) == (200, b""), f"first push with msgkey: {r}")
    d = ds.Deliveries(fake)
    wait_until(lambda: "oKey1" in d.tousers(), 10, "oKey1 delivered")
    body = harness.FakeWechat.body_of(d.all()[0])
    check(body.get("client_msg_id") == KEY, f"delivered body lacks client_msg_id {KEY}: {body}")
    check(d.all()[0]["client_msg_id"] == KEY, f"fake saw client_msg_id {d.all()[0]}")
    check(body.get("touser") == "oKey1" and body["data"]["keyword1"]["value"] == "tea",
          f"body: {body}")
    settled(mega, 1)


def test_second_push_and_send_are_duplicates():
    fake, mega = S["fake"], S["mega"]
    expect_duplicate(mega, "push", "oKey1", "same openid")
    expect_duplicate(mega, "push", "oKey2", "other openid")
    expect_duplicate(mega, "send", "oKey1", "send")
    st = settled(mega, 1)
    check(st["msgkeys"] == 1, f"/api/stats msgkeys {st['msgkeys']}")
    fs = fake.stats()
    check(fs["delivered"] == 1 and fs["requests"] == 1, f"fake-wechat: {fs}")


def test_key_survives_sigterm_restart():
    mega = S["mega"]
    check(mega.stop() == 0, "mega did not exit 0 on SIGTERM")
    mega.start()
    expect_duplicate(mega, "push", "oKey1", "after SIGTERM + start")
    expect_duplicate(mega, "send", "oKey3", "after SIGTERM + start")


def test_key_survives_kill9():
    mega = S["mega"]
    # a key added just before the crash, too
    r = call(mega, "push", "oKey4", "msgkey=crash-key")
    check((r.code, r.message) == (200, b""), f"push crash-key: {r}")
    wait_until(lambda: "oKey4" in ds.Deliveries(S["fake"]).tousers(), 10, "oKey4 delivered")
    # fake-wechat records the send before mega has read the answer and marked the record
    # done: a kill in between redelivers it (at-least-once). Wait for mega's side, too.
    settled(mega, 1)
    mega.proc.kill()
    mega.proc.wait()
    mega.start()
    expect_duplicate(mega, "push", "oKey1", "after kill -9 + start")
    r = call(mega, "push", "oKey4", "msgkey=crash-key")
    check((r.code, r.message) == (200, b"duplicate"), f"crash-key after kill -9: {r}")
    time.sleep(1)  # nothing may have been queued: give a wrongly queued one time to show
    fs = S["fake"].stats()
    check(fs["delivered"] == 2 and fs["requests"] == 2, f"fake-wechat after restarts: {fs}")
    check(ds.stats(mega)["queue"]["total"] == 0, "something queued")


def test_key_forgotten_after_dedup_window():
    m2 = env.mega("short", overrides={"retry": {"dedup_window": 2}})
    r = call(m2, "push", "oWin1", "msgkey=win-key")
    check((r.code, r.message) == (200, b""), f"push win-key: {r}")
    r = call(m2, "push", "oWin1", "msgkey=win-key")
    check((r.code, r.message) == (200, b"duplicate"), f"push win-key again at once: {r}")
    time.sleep(2.5)  # the spec is about the window: wait it out
    # (another openid: WeChat itself would drop the same touser + client_msg_id)
    r = call(m2, "push", "oWin2", "msgkey=win-key")
    check((r.code, r.message) == (200, b""), f"push win-key after the 2 s window: {r}")
    d = ds.Deliveries(S["fake"])
    wait_until(lambda: {"oWin1", "oWin2"} <= set(d.tousers()), 10, "oWin1 and oWin2 delivered")
    settled(m2, 2)


def completed_syncs_before(lines, end, path_part):
    """Indexes (< end) where an fdatasync of a file whose path holds `path_part` returned 0."""
    open_calls = {}  # pid -> the path of its fdatasync under way
    done = []
    for i, line in enumerate(lines[:end]):
        pid = line.split(" ", 1)[0]
        m = re.search(r"fdatasync\(\d+<([^>]*)>", line)
        if m:
            if line.rstrip().endswith("= 0") and path_part in m.group(1):
                done.append(i)
            elif "<unfinished" in line:
                open_calls[pid] = m.group(1)
        elif "<... fdatasync resumed>" in line and line.rstrip().endswith("= 0"):
            if path_part in open_calls.pop(pid, ""):
                done.append(i)
    return done


def test_always_key_durable_before_ack():
    check(shutil.which("strace"), "strace is missing (tools/test installs it)")
    probe = subprocess.run(["strace", "-f", "-o", os.devnull, "true"], capture_output=True)
    if probe.returncode != 0:  # no ptrace in this sandbox: say so rather than fail
        print(f"  SKIPPED: strace cannot trace here: {probe.stderr.decode(errors='replace')[:200]}")
        return
    m = env.mega("always", overrides={"server": {"fsync": "always", "fsync_interval_ms": 60000}},
                 start=False)
    trace = os.path.join(m.dir, "strace.out")
    m.wrapper = ["strace", "-f", "-qq", "-yy", "-s", "64", "-e", "trace=fdatasync,write,writev",
                 "-o", trace]
    m.start()
    r = call(m, "push", "oDurable1", "msgkey=durable-key-1")
    check((r.code, r.message) == (200, b""), f"push with a msgkey under fsync = always: {r}")
    # SIGTERM to mega itself (strace does not pass it on); strace ends when mega does
    with open(m.pid_file) as f:
        os.kill(int(f.read().split()[0]), signal.SIGTERM)
    check(m.proc.wait(60) == 0, "mega under strace did not stop cleanly")
    with open(trace, errors="replace") as f:
        lines = f.read().splitlines()
    check(not any("ptrace" in l and "Operation not permitted" in l for l in lines),
          "strace cannot trace here:\n" + "\n".join(lines[:5]))
    reply = next((i for i, l in enumerate(lines)
                  if re.search(r"\bwritev?\(\d+<TCP:", l) and "result 200" in l), None)
    check(reply is not None, f"no `result 200` written to a TCP socket in the trace "
                             f"({len(lines)} lines): {lines[:20]}")
    queue_syncs = completed_syncs_before(lines, reply, "/normal/")
    key_syncs = completed_syncs_before(lines, reply, "/keys/")
    check(queue_syncs, "the reply was written before the message's segment was synced:\n"
          + "\n".join(lines[max(0, reply - 15):reply + 1]))
    check(key_syncs, "the reply was written before the msgkey journal was synced:\n"
          + "\n".join(lines[max(0, reply - 15):reply + 1]))



if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
