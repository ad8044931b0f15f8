"""Crash safety with fsync = always: clients pipeline pushes as fast as they can over several
connections, recording each push answered `result 200`; after a few thousand acknowledgements
the server is killed with SIGKILL mid-load and restarted on the same queue directory. Every
acknowledged message must then reach fake-wechat (at-least-once: duplicates are reported,
not failed). Every message has its own openid (oCrash<conn><seq>).
"""

import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402

CONNECTIONS = 4
WINDOW = 64            # outstanding pushes per connection
KILL_AFTER_ACKS = 3000
env = harness.Env("crash")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    # slow WeChat while loading, so a backlog sits in the queue when the server dies
    S["fake"] = env.fake_wechat(latency_ms=200)
    S["mega"] = env.mega(overrides={
        "server": {"fsync": "always"},
        "setting": {"task_worker_num": 2, "max_inflight": 16},
    })


class Loader(threading.Thread):
    def __init__(self, idx, port, stop):
        super().__init__(daemon=True)
        self.idx, self.port, self.stop_flag = idx, port, stop
        self.acked = []        # openids answered 200
        self.bad = []          # replies other than 200 (before the kill)
        self.sent = 0
        self.ended_by = None

    def openid(self, seq):
        return f"oCrash{self.idx}{seq:06d}"

    def run(self):
        try:
            c = harness.Client(self.port, timeout=30)
        except OSError as e:
            self.ended_by = e
            return
        pending = {}
        seq = 0
        try:
            while not self.stop_flag.is_set():
                batch = []
                while len(pending) < WINDOW:
                    seq += 1
                    pending[seq] = self.openid(seq)
                    batch.append(harness.encode_push(pending[seq], "order_paid",
                                                     {"product": "crash", "price": str(seq)}, seq))
                c.send_raw(b"".join(batch))
                self.sent = seq
                for _ in range(WINDOW // 2):
                    r = c.read_result()
                    openid = pending.pop(r.opaque, None)
                    if r.code == 200 and openid is not None:
                        self.acked.append(openid)
                    else:
                        self.bad.append(r)
        except (harness.Closed, OSError, harness.ProtocolError) as e:
            self.ended_by = e
        finally:
            c.close()


def total_acked():
    return sum(len(l.acked) for l in S["loaders"])


def test_kill_mid_load():
    m = S["mega"]
    stop = threading.Event()
    S["loaders"] = [Loader(i, m.port, stop) for i in range(CONNECTIONS)]
    for l in S["loaders"]:
        l.start()
    try:
        wait_until(lambda: total_acked() >= KILL_AFTER_ACKS or not any(l.is_alive() for l in S["loaders"]),
                   120, lambda: f"{KILL_AFTER_ACKS} acknowledged pushes (have {total_acked()})")
        check(all(l.is_alive() for l in S["loaders"]),
              f"a loader stopped before the kill: {[repr(l.ended_by) for l in S['loaders']]}")
        os.kill(m.proc.pid, signal.SIGKILL)  # mid-load: loaders are still writing
        m.proc.wait()
    finally:
        stop.set()
    for l in S["loaders"]:
        l.join(60)
        check(not l.is_alive(), "a loader thread did not notice the dead server")
    bad = [r for l in S["loaders"] for r in l.bad]
    check(not bad, f"replies other than 200 before the kill: {bad[:5]}")
    acked = [o for l in S["loaders"] for o in l.acked]
    check(len(acked) == len(set(acked)), "an openid was acknowledged twice")
    S["acked"] = set(acked)
    sent = sum(l.sent for l in S["loaders"])
    before = {x.get("touser") for x in S["fake"].messages()}
    print(f"  killed after {len(acked)} acks ({sent} sent); "
          f"{len(S['acked'] & before)} of them already delivered")


def test_restart_delivers_every_ack():
    fake, m = S["fake"], S["mega"]
    fake.configure(latency_ms=0)
    m.start()  # same ini, same queue directory
    acked = S["acked"]

    def missing():
        got = {x.get("touser") for x in fake.messages()}
        return acked - got

    wait_until(lambda: not missing(), 150,
               lambda: f"every acknowledged push to be delivered ({len(missing())} of "
                       f"{len(acked)} missing, e.g. {sorted(missing())[:3]})")
    msgs = fake.messages()
    tousers = [x.get("touser") for x in msgs]
    dups = len(tousers) - len(set(tousers))
    unacked = len(set(tousers) - acked)
    print(f"  all {len(acked)} acknowledged delivered; {len(tousers)} deliveries, "
          f"{dups} duplicates (allowed), {unacked} delivered without an ack (allowed)")
    # every delivery is one this test pushed
    stray = [t for t in set(tousers) if not (t or "").startswith("oCrash")]
    check(not stray, f"deliveries to openids never pushed: {stray[:5]}")


def test_sigterm_exits_zero():
    rc = S["mega"].stop()
    check(rc == 0, f"mega exited {rc} on SIGTERM\n{S['mega'].diagnostics()}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
