"""A drain run: N messages queued with delivery paused, delivery resumed, timed until
fake-wechat has counted N more deliveries; with the CPU seconds (utime + stime from
/proc/PID/stat) mega's processes used from the resume to the last delivery. The first drain
of a server also opens its sender connections (8 x 256 by default: over HTTPS, that many TLS
handshakes); `warm_drain` runs a second one on the connections the first left open."""

import os
import time

from . import BenchError
from .runs import run_bench

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process so far, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        after_name = f.read().rsplit(")", 1)[1].split()  # field 3 on
    return (int(after_name[11]) + int(after_name[12])) / TICKS_PER_SECOND


def server_pids(server):
    return getattr(server, "pids", None) or [server.pid]


def drain_run(args, bins, server, fake, n, timeout):
    """`server`: a MegaServer or a RedisQueueMega (pause, resume, port, more_ports, pids)."""
    server.pause()
    more = getattr(server, "more_ports", [])
    extra = ("--more-ports", ",".join(map(str, more))) if more else ()
    push = run_bench(bins["mega-bench"], "mega", server.port, 16, 64, n, 120,
                     args.bench_threads, extra)
    if push["ok"] != n:
        raise BenchError(f"drain push: only {push['ok']} of {n} queued: {push['errors']}")
    base = fake.stats()["delivered"]
    pids = server_pids(server)
    cpu0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.monotonic()
    server.resume()
    delivered = 0
    while time.monotonic() < t0 + timeout:
        delivered = fake.stats()["delivered"] - base
        if delivered >= n:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    cpu = sum(cpu_seconds(p) for p in pids) - cpu0
    return {"messages": n, "delivered": delivered, "seconds": elapsed,
            "msgs_per_s": delivered / elapsed, "complete": delivered >= n,
            "push_msgs_per_s": push["msgs_per_s"], "cpu_seconds": cpu,
            "cpu_per_1000": 1000 * cpu / delivered if delivered else None}


def warm_drain(args, bins, server, fake, n, timeout):
    """A drain run, then another on the same server (`row["warm"]`)."""
    row = drain_run(args, bins, server, fake, n, timeout)
    row["warm"] = drain_run(args, bins, server, fake, n, timeout)
    return row
