"""Queue recovery keeps what is readable, and queue_max_bytes caps the whole queue directory.

1. A flipped bit in one record of a 1,000-record segment (fsync = always: all acknowledged)
   loses only that record: after a restart the other 999 are delivered once each, in order,
   and the skip is logged (file and offset) and counted in /api/stats and /metrics.
2. A segment whose header does not check is moved aside as *.damaged (not deleted), the server
   starts, says so in its log and counts it; the messages of the other segments are delivered.
3. queue_max_bytes is one cap for all priorities together: pushes spread over high, normal and
   low get "503 queue full" once the segment files of the whole directory reach it.
"""

import glob
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("queue_corruption")
S = {}
RECORD_HEADER = 16
MESSAGE_HEADER = 40


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)


def records(path):
    """[(offset, payload)] of the records of a segment file (FORMAT.md), up to the first
    zero length word."""
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 64
    while off + RECORD_HEADER <= len(data):
        (length,) = struct.unpack_from("<I", data, off)
        if length == 0:
            break
        out.append((off, data[off + RECORD_HEADER:off + RECORD_HEADER + length]))
        off += (RECORD_HEADER + length + 7) // 8 * 8
    return out


def openid_of(payload):
    (n,) = struct.unpack_from("<H", payload, 28)
    return payload[MESSAGE_HEADER:MESSAGE_HEADER + n].decode()


def flip_bit(path, offset, mask):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ mask]))


def segments(mega, level="normal"):
    d = os.path.join(mega.sections["server"]["queue_file_path"], level)
    return sorted(glob.glob(os.path.join(d, "*.seg")))


def stopped_with_backlog(name, openids, server_overrides):
    """A server that took `openids` (delivery paused) and was stopped."""
    mega = env.mega(name=name, overrides={
        "server": {"fsync": "always", **server_overrides},
        # one WeChat call at a time: delivered in queue order
        "setting": {"package_max_length": 65536, "task_worker_num": 1, "max_inflight": 1}})
    ds.admin_post(mega, "/api/account/pause", {"reason": "test"})
    ds.push_many(mega, openids, "order_paid", {"product": "tea " + "x" * 300})
    check(ds.stats(mega)["queue"]["total"] == len(openids), f"queued: {ds.stats(mega)['queue']}")
    rc = mega.stop()
    check(rc == 0, f"mega exited {rc} on SIGTERM\n{mega.diagnostics()}")
    return mega


def restart_and_deliver(mega, want):
    """Starts `mega` again and waits until `want` (openids, in order) are delivered; returns
    what was delivered to any of the test's openids."""
    d = ds.Deliveries(S["fake"])
    d.all()
    before = len(d.items)
    mega.start()
    ds.admin_post(mega, "/api/account/resume")
    wait_until(lambda: ds.stats(mega)["queue"]["total"] == 0 and
               ds.stats(mega)["queue"]["scanning_segments"] == 0 and
               len(d.all()) - before >= len(want), 60,
               lambda: f"{len(want)} deliveries (got {len(d.items) - before}; "
               f"queue {ds.stats(mega)['queue']})")
    return [m["touser"] for m in d.items[before:]]


def test_a_flipped_bit_loses_one_record_of_a_thousand():
    pushed = ds.openids("oFlip", 1000)
    mega = stopped_with_backlog("flip", pushed, {"queue_segment_bytes": 4 << 20})
    segs = [p for p in segments(mega) if records(p)]
    check(len(segs) == 1, f"expected the 1,000 records in one segment: {segments(mega)}")
    recs = records(segs[0])
    check([openid_of(p) for _, p in recs] == pushed, "the segment does not hold the pushes")
    off, payload = recs[10]
    victim = openid_of(payload)
    flip_bit(segs[0], off + RECORD_HEADER + len(payload) - 3, 0x04)  # in the JSON body

    got = restart_and_deliver(mega, [o for o in pushed if o != victim])
    want = [o for o in pushed if o != victim]
    check(got == want, f"delivered {len(got)}, want the 999 others in push order; missing "
          f"{sorted(set(want) - set(got))[:10]}, extra {sorted(set(got) - set(want))[:10]}")
    q = ds.stats(mega)["queue"]
    check(q.get("corrupt_records") == 1, f"/api/stats queue: {q}")
    m = ds.metric(mega, "mega_queue_corrupt_records_total")
    check(m == 1, f"mega_queue_corrupt_records_total = {m}")
    lines = ds.grep(ds.log_text(mega), r"corrupt record at .*%s offset %d" %
                    (os.path.basename(segs[0]), off))
    check(len(lines) == 1 and "warn" in lines[0],
          "one warning naming the segment file and offset:\n" +
          "\n".join(ds.grep(ds.log_text(mega), r"queue")[-8:]))
    mega.stop()


def test_a_damaged_segment_header_is_moved_aside_and_the_server_starts():
    pushed = ds.openids("oHead", 400)
    mega = stopped_with_backlog("header", pushed, {"queue_segment_bytes": 65536})
    segs = [p for p in segments(mega) if records(p)]
    check(len(segs) >= 3, f"the backlog spans only {len(segs)} segments")
    victim = segs[1]
    lost = [openid_of(p) for _, p in records(victim)]
    with open(victim, "rb") as f:
        size = len(f.read())
    flip_bit(victim, 2, 0x01)  # "MEGASEG1" no more

    want = [o for o in pushed if o not in set(lost)]
    got = restart_and_deliver(mega, want)
    check(got == want, f"delivered {len(got)} of the {len(want)} outside the damaged segment")
    check(not os.path.exists(victim) and os.path.getsize(victim + ".damaged") == size,
          f"{victim} not moved aside whole: {os.listdir(os.path.dirname(victim))}")
    q = ds.stats(mega)["queue"]
    check(q.get("damaged_segments") == 1, f"/api/stats queue: {q}")
    m = ds.metric(mega, "mega_queue_damaged_segments_total")
    check(m == 1, f"mega_queue_damaged_segments_total = {m}")
    lines = ds.grep(ds.log_text(mega), r"error.*%s.*moved aside" % os.path.basename(victim))
    check(len(lines) == 1, "one error line saying the segment was moved aside:\n" +
          "\n".join(ds.grep(ds.log_text(mega), r"queue")[-8:]))
    mega.stop()


def seg_bytes(mega):
    root = mega.sections["server"]["queue_file_path"]
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(root, "*", "*.seg")))


def test_queue_max_bytes_caps_all_priorities_together():
    cap = 1 << 20
    mega = env.mega(name="cap", overrides={
        "server": {"queue_segment_bytes": 65536, "queue_max_bytes": cap},
        "setting": {"package_max_length": 8192}})
    ds.admin_post(mega, "/api/account/pause", {"reason": "test"})
    levels = ["high", "normal", "low"]
    accepted = {lv: 0 for lv in levels}
    full = set()
    with mega.client() as c:
        for i in range(3000):
            lv = levels[i % 3]
            r = c.call_push(f"oCap{i:05d}", "order_paid", {"product": "y" * 3000},
                            options=f"priority={lv}")
            if r.code == 503:
                check(b"queue full" in r.message, f"503 for another reason: {r}")
                full.add(lv)
                if full == set(levels):
                    break
                continue
            check(r.code == 200, f"push at {lv}: {r}")
            accepted[lv] += 1
    check(full == set(levels), f"not every priority was refused: accepted {accepted}")
    total = seg_bytes(mega)
    check(total <= cap, f"segment files take {total} bytes, over queue_max_bytes = {cap} "
          f"(accepted by priority: {accepted})")
    check(all(accepted[lv] > 0 for lv in levels), f"accepted {accepted}")
    check(sum(accepted.values()) * 3000 <= cap, f"accepted {accepted}: more than the cap holds")
    st = ds.stats(mega)["queue"]
    check(st["total"] == sum(accepted.values()), f"stats {st}, accepted {accepted}")
    mega.stop()


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
