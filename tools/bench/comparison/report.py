"""The report: docs/benchmarks/README.md from the results of the sections (and the machine
they ran on), and the `quick:` lines of --quick that tests/integration/test_bench_smoke.py
reads."""

import datetime
import os
import platform
import subprocess

from . import SOURCE_DIR
from .delivery_report import delivery_lines
from .ingest_report import ingest_lines
from .systems import DURABILITY, HALF_RATE_SYSTEMS, LABELS, SCALE_SYSTEMS, SYSTEMS


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass

    def git(*a):
        p = subprocess.run(["git", "-C", SOURCE_DIR, *a], capture_output=True, text=True)
        return p.stdout.strip()

    def version(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "memory": mem,
            "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git("rev-parse", "--short=12", "HEAD") or "?",
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "beanstalkd": version(["beanstalkd", "-v"]),
            "redis": version(["redis-server", "--version"])}


def fmt_rate(v):
    return f"{v:,.0f}"


def fmt_mb(kb):
    return "?" if kb is None else f"{kb / 1024:,.0f} MB"


def rate_cell(c, runs):
    """msgs/s median, with (min–max) when there was more than one run."""
    text = fmt_rate(c["median"])
    if runs > 1:
        text += f" ({fmt_rate(c['min'])}–{fmt_rate(c['max'])})"
    return text + (" (failed)" if c["median"] <= 0 else "")


def scale_report(scale, charts):
    """The README sections of the scale benchmarks (idle connections, connections, half-rate
    latency, queue size and restart)."""
    lines = []
    failed = {k: v["error"] for k, v in scale.items() if "error" in v}
    idle = scale.get("idle")
    if idle and "levels" in idle:
        conns, window = idle["load"].split("x")
        lines += ["## Idle connections", "",
                  f"mega `fsync = interval`, delivery paused (admin API). Before the load starts, "
                  f"mega-bench opens N more connections that send nothing and holds them through "
                  f"the run (`--idle N`); at the end a non-blocking peek on each (EAGAIN: still "
                  f"open) counts those mega kept. Load {conns} × {window}, requests issued for "
                  f"{idle['seconds']:g} s and then the replies awaited; {idle['runs']} run"
                  f"{'s' if idle['runs'] > 1 else ''} per row on fresh servers, the rows "
                  "interleaved. RSS is mega's VmRSS (/proc/PID/status): *fresh* just after "
                  "start; *idle held* once mega counts the N connections (admin API) and before "
                  "the load starts; *peak* sampled every 50 ms during the load: it grows with "
                  "the messages pushed, not with connections (the message log's in-memory "
                  "backlog of events, `message_log` being on, and the mapped pages of the queue "
                  "segment being written).", "",
                  "| idle connections | msgs/s: median (min–max) | ack p50 / p99 / p99.9 ms | "
                  "idle still open at the end | mega RSS: fresh → idle held → peak under load |",
                  "|---:|---:|---:|---:|---:|"]
        for n, c in idle["levels"].items():
            lines.append(f"| {int(n):,} | {rate_cell(c, idle['runs'])} | {c['p50']:.3f} / "
                         f"{c['p99']:.2f} / {c['p999']:.2f} | {c['idle_open']:,} of "
                         f"{c['idle']:,} | {fmt_mb(c['rss_before_kb'])} → "
                         f"{fmt_mb(c.get('rss_idle_kb'))} → {fmt_mb(c['rss_peak_kb'])} |")
        levels = idle["levels"]
        top = max(levels, key=int)
        if "0" in levels and int(top) > 0 and levels["0"].get("rss_idle_kb") and \
                levels[top].get("rss_idle_kb"):
            per = (levels[top]["rss_idle_kb"] - levels["0"]["rss_idle_kb"]) / int(top)
            lines += ["", f"About {per:.1f} KB of mega's RSS per idle connection (RSS with "
                          f"{int(top):,} idle held minus RSS with none, before the load, divided "
                          f"by {int(top):,})."]
        lines.append("")
    conn = scale.get("connections")
    if conn and "systems" in conn:
        systems = [s for s in SCALE_SYSTEMS if s in conn["systems"]]
        counts = sorted({int(n) for s in systems for n in conn["systems"][s]})
        runs = conn["runs"]
        lines += ["## Throughput as connections grow", "",
                  "fsync at intervals: mega `fsync = interval` with delivery paused (admin API) · "
                  "beanstalkd `-b DIR -f 100` · Redis `appendfsync everysec`. Window "
                  f"{conn['window']}, 200-byte bodies; requests issued for {conn['seconds']:g} s "
                  "and then the replies awaited; "
                  + (f"{runs} runs per cell (median, min–max)" if runs > 1
                     else "one run per cell (a single run: noisy on a shared machine)")
                  + ", every run on a fresh server. Every server runs with the open-file limit at "
                  f"{conn['nofile']:,} (compare raises its own soft limit to the hard one).", ""]
        if "connections" in charts:
            lines += [f"![throughput by connections]({charts['connections']})", ""]
        header = "| connections | " + " | ".join(LABELS[s] for s in systems) + " |"
        lines += ["Throughput, msgs/s", "", header, "|---:|" + "---:|" * len(systems)]
        for n in counts:
            cells = [rate_cell(conn["systems"][s][str(n)], runs) if str(n) in conn["systems"][s]
                     else "—" for s in systems]
            lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
        lines += ["", "Acknowledgement latency, ms: p50 / p99", "", header,
                  "|---:|" + "---:|" * len(systems)]
        for n in counts:
            cells = []
            for s in systems:
                c = conn["systems"][s].get(str(n))
                cells.append("—" if c is None else f"{c['p50']:.3f} / {c['p99']:.2f}")
            lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
        lines.append("")
    half = scale.get("half_rate")
    if half and "systems" in half:
        conns, window = half["load"].split("x")
        rows = half["systems"]
        intervals = sorted({r["batch_interval_ms"] for r in rows.values()
                            if r.get("batch_interval_ms")})
        batch = next((r["batch"] for r in rows.values() if r.get("batch")), 16)
        lines += ["## Acknowledgement latency at half the maximum throughput", "",
                  "Target: p99 under 1 ms at half of mega's maximum throughput, "
                  "`fsync = interval` (Redis: `appendfsync everysec`). "
                  f"Maximum: the system's median {conns} × {window} throughput in the "
                  "fsync-at-intervals table above (or, where that load was not run, one probe "
                  f"run of {half['seconds']:g} s). Then mega-bench `--rate` at half of it, "
                  f"{conns} × {window}: each connection runs its own schedule at rate / "
                  f"{conns}, writing a batch of {batch} requests every {batch} × {conns} / rate "
                  "s (" + (f"{intervals[0]:.2f} ms" if len(intervals) == 1 else
                           f"{intervals[0]:.2f} to {intervals[-1]:.2f} ms by row") + " here), the "
                  "connections staggered evenly over that interval, so the server gets "
                  f"{conns} evenly spaced small batches per interval rather than a window at a "
                  "time; the window only caps what is in flight. "
                  "Latency from the write of a request to its reply; *late*: requests written "
                  "more than 1 ms after their slot (window full, or the generator short of "
                  "CPU): a high share means the run measured a backlog, not the offered rate. "
                  + (f"{half['runs']} runs" if half["runs"] > 1 else "One run")
                  + f" of {half['seconds']:g} s per row, on fresh servers"
                  + ("; medians. " if half["runs"] > 1 else ". ")
                  + "Row *mega* delivers to fake-wechat meanwhile (at half of its own "
                  "maximum, which delivery holds down); the `message_log = 0` row runs at the "
                  "rate of the row above it, without the message log (mega's log writer and "
                  "MariaDB share the machine's CPUs).", "",
                  "| system | maximum (from) | offered | achieved | p50 | p99 | p99.9 | late |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for s in HALF_RATE_SYSTEMS[:1] + ["mega-paused-nolog"] + HALF_RATE_SYSTEMS[1:]:
            r = rows.get(s)
            if not r:
                continue
            src = {"table": "table", "probe": "probe"}.get(r["max_from"], "as above")
            late = "?" if r.get("late_fraction") is None else f"{100 * r['late_fraction']:.2f} %"
            lines.append(f"| {LABELS[s]} | {fmt_rate(r['max_rate'])} ({src}) | "
                         f"{fmt_rate(r['rate'])} | {fmt_rate(r['median'])} | {r['p50']:.3f} ms | "
                         f"{r['p99']:.3f} ms | {r['p999']:.3f} ms | {late} |")
        target = rows.get("mega-paused")
        if target and target["median"] > 0:
            met = target["p99"] < 1.0
            lines += ["", f"mega, delivery paused: p99 {target['p99']:.3f} ms at "
                          f"{fmt_rate(target['median'])} msgs/s — the 1 ms target is "
                          + ("met." if met else "**not met**.")]
        lines.append("")
    rs = scale.get("restart")
    if rs and rs.get("steps"):
        last = rs["steps"][-1]
        conns, window = rs["load"].split("x")
        lines += ["## Queue size and restart", "",
                  "mega `fsync = interval`, `message_log = 0`, delivery paused (admin API; the "
                  "pause does not survive a restart, so `rate_limit_per_second = 0.001` in the "
                  "ini holds delivery back afterwards too: at most one message goes out). "
                  f"Pushed with mega-bench {conns} × {window} up to each size in turn "
                  "(cumulative); RSS is mega's VmRSS right after the push; *on disk*: the "
                  "queue's files as the admin API counts them. Then SIGTERM, the page cache "
                  "dropped (see below), mega started again: *port* is the time from spawning "
                  "the process "
                  "until the protocol port accepts a connection (mega listens on port 0 and "
                  "writes the port it got into its status file: read from there, polled every "
                  "2 ms), *push acknowledged* until a "
                  "one-message push (a new mega-bench process, retried until it gets 200) is "
                  "acknowledged, *checked* until the older segments, which mega checks in the "
                  "background once the port is open, are all counted again. One push run; "
                  "the restart is repeated.", "",
                  "| queued | mega RSS (anon + file) | on disk | pushed at |",
                  "|---:|---:|---:|---:|",
                  f"| 0 | {fmt_mb(rs.get('rss_empty_kb'))} | — | — |"]
        for st in rs["steps"]:
            lines.append(f"| {st['queued']:,} | {fmt_mb(st['rss_kb'])} "
                         f"({fmt_mb(st.get('rss_anon_kb'))} + {fmt_mb(st.get('rss_file_kb'))}) | "
                         f"{st['disk_bytes'] / 2**20:,.0f} MB | "
                         f"{fmt_rate(st['push_msgs_per_s'])} msgs/s |")
        if "port_seconds" in rs:
            spread = lambda k: (f" ({min(rs[k]):.3f}–{max(rs[k]):.3f})"
                                if len(rs.get(k, [])) > 1 else "")
            lines += ["", f"Restart with {last['queued']:,} queued, "
                          f"{len(rs.get('port_all', [1]))} times in a row (medians, min–max): "
                          f"SIGTERM took {rs['stop_seconds']:.2f} s; {rs['cache_note']} each "
                          f"time; port accepts after **{rs['port_seconds']:.3f} s**"
                          f"{spread('port_all')}, push acknowledged after "
                          f"**{rs['ack_seconds']:.3f} s**{spread('ack_all')} (of which starting "
                          "mega-bench and "
                          "its round trip take about "
                          f"{1000 * rs['bench_overhead_seconds']:.0f} ms against a running "
                          "server)"
                          + (f", whole queue checked after **{rs['scan_seconds']:.3f} s**"
                             f"{spread('scan_all')} (RSS at most "
                             f"{fmt_mb(rs['scan_rss_peak_kb'])} meanwhile)"
                             if "scan_seconds" in rs else "")
                          + f"; RSS right after: {fmt_mb(rs['rss_after_kb'])} "
                          f"({fmt_mb(rs.get('rss_after_anon_kb'))} anon + "
                          f"{fmt_mb(rs.get('rss_after_file_kb'))} file); "
                          f"{rs['queued_after']:,} messages in the queue after the restart."]
        lines.append("")
    for section, err in failed.items():
        lines += [f"Section {section} failed: `{err[:300]}`", ""]
    return lines


def write_report(args, out_dir, info, results, delivery, charts, scale=None):
    lines = ["# mega benchmarks", "",
             "Generated by `tools/bench/compare`; do not edit by hand. Load: `mega-bench` "
             "(tools/bench/mega-bench.cpp), 200-byte bodies, over loopback on the same machine as "
             "the servers. Every figure is the median of "
             f"{args.runs} runs, with (min–max) for throughput. Latency is per request, from the "
             "write of its batch to its reply; the latency columns are medians of the runs' "
             "percentiles.", "",
             "## Machine", "",
             f"- {info['nproc']} CPUs: {info['cpu']}; {info['memory']} RAM; kernel {info['kernel']}",
             f"- load average (1, 5, 15 min) at start: {info['loadavg']}, at the end: "
             f"{info.get('loadavg_end', '?')} — a shared machine; other work on it shows as "
             "noise (see min–max)",
             f"- date: {info['date']}; commit {info['commit']}"
             + (" with uncommitted changes in the working tree" if info["dirty"] else ""),
             f"- {info['beanstalkd']}; {info['redis']}", "",
             "Reproduce (from the repository root; it installs beanstalkd, redis-server and "
             "gnuplot-nox if missing, builds into build/ and rewrites this directory):", "",
             "```", "tools/bench/compare", "```", "",
             f"This run: `tools/bench/compare {' '.join(args.argv)}`".rstrip() + ", "
             f"{info.get('measure_seconds', '?')} s of measuring.", "",
             "## Setup", "",
             "- mega: `mega -c INI start` (foreground), default settings but `fsync` as below; "
             "a throwaway MariaDB (tools/mariadb-sandbox) holds the template and the message log "
             "(`message_log` on, as by default). Column *mega*: it delivers to tools/fake-wechat "
             "(0 ms latency) *while* being measured — the push acknowledgement is what is timed; "
             "where pushes outpace delivery, a backlog builds and is being delivered at full "
             "speed through the rest of the run. Column "
             "*mega, delivery paused*: delivery paused through the admin API "
             "(`POST /api/account/pause`), so mega only stores and acknowledges, like the other "
             "two.",
             "- beanstalkd: `beanstalkd -b DIR -f MS` (the default tube), `put 1024 0 60 200`; "
             "started with `-p 0 -V` so that it binds a free port and prints it (-V also logs "
             "a line per connection opened or closed, none during the load).",
             "- Every server listens on a port it got from the OS (port 0) and reported, except "
             "Redis (`--port 0` turns TCP off): a port picked below the ephemeral range, retried "
             "if taken.",
             "- Redis: `redis-server --appendonly yes --appendfsync X --save ''`, `LPUSH key body`.",
             "- Redis (redis-benchmark): the same fresh Redis driven by Redis's own "
             "`redis-benchmark -t lpush -c C -P W -d 200 -n N --csv` (C connections, pipeline W "
             "= mega-bench's window, N as mega-bench's, `--threads` as mega-bench's): a check "
             "on mega-bench as a Redis client. It reports no p99.9 (—).",
             "- mega on Redis: `[queue] backend = redis`, a redis-server of its own "
             "(`appendfsync` as for Redis), 1 to 3 mega nodes on one queue, mega-bench's "
             "connections spread over the nodes (`--more-ports`).",
             "- mega, delivering at 2,000/s: delivery on with `[wechat] rate_limit_per_second "
             "= 2000` (fake-wechat at 0 ms) while the pushes run at full speed; reported next "
             "to delivery paused at the same loads, with the ratio.",
             "- mega, `message_log = 0`: delivery paused, the message log off, at every load "
             "next to the default (log on): the log's share of the ingest cost.",
             "- Delivery (its own section): drain rate at fake latencies of 0, 50 and 200 ms, "
             "CPU seconds of mega per 1,000 delivered (/proc/PID/stat utime + stime) over "
             "HTTP and HTTPS, and mega on its Redis queue with 1, 2 and 3 nodes at 50 ms.",
             "- A section with no figures below was not part of the run that wrote this file; "
             "`tools/bench/compare` with no options runs every one.",
             "- Claims: the report says *faster* only where mega's slowest round beats the "
             "peer's fastest, *slower* where mega's fastest is below the peer's slowest, else "
             "*within noise* (tools/bench/comparison/verdict.py); the rounds interleave the "
             "systems.",
             "- Every run on a fresh server (empty data directory). Per load, N is sized from "
             f"a 0.5 s probe of each system to last about {args.seconds:g} s; then the "
             f"{args.runs} rounds run every system once each, in turn, so that drift in the "
             "machine's load (and in fsync times, which vary a lot on this shared disk) "
             "hits all systems alike. mega-bench runs "
             f"{args.bench_threads} epoll threads (1 for a single connection).", ""]
    for pair_id, title, fsync, bean_flags, appendfsync in DURABILITY:
        if not results.get(pair_id):
            continue
        res = results[pair_id]
        lines += [f"## {title}: mega `fsync = {fsync}` · beanstalkd `-b DIR {' '.join(bean_flags)}` "
                  f"· Redis `appendfsync {appendfsync}`", ""]
        if pair_id in charts:
            lines += [f"![throughput, {title}]({charts[pair_id]})", ""]
        cells = [(s, load, c) for s in SYSTEMS + ["mega-paused-nolog"] if s in res
                 for load, c in res[s].items()]
        lines += ingest_lines(res)
        problems = [f"{s} {load}: {c['errors']}"
                    + (f", failed runs: {c['failed_runs']}" if c.get("failed_runs") else "")
                    for s, load, c in cells
                    if c["errors"] or c["connections_lost"] or c.get("failed_runs")]
        lines += ["Errors: " + ("; ".join(problems) if problems else "none") + ".", ""]
        if any(c["stopped_by_time"] for _s, _load, c in cells):
            lines += ["† The run ended at its time bound with requests still in flight (the "
                      "system is far slower than the window can fill): throughput counts the "
                      "acknowledged ones; the latency percentiles cover only those, so they "
                      "understate.", ""]
    lines += delivery_lines(delivery, charts, fmt_rate)
    if scale:
        lines += scale_report(scale, charts)
    lines += ["Raw results (every run, with its mega-bench command line): "
              "[results.json](results.json).", ""]
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))



def print_quick(results, scale, delivery=()):
    """--quick: a line per run (the smoke test reads the `quick: SYSTEM LOAD: N msgs/s`
    ones)."""
    for pair in results.values():
        for system, cells in pair.items():
            for load, c in cells.items():
                print(f"quick: {system} {load}: {c['median']:.0f} msgs/s, "
                      f"p50 {c['p50']:.3f} ms, errors {c['errors'] or 'none'}")
    for d in delivery:
        for which, r in (("cold", d), ("warm", d.get("warm"))):
            if r:
                print(f"quick: delivery-{d['variant']}-{which} {d['latency_ms']}ms: "
                      f"{r['msgs_per_s']:.0f} msgs/s, {r['delivered']}/{r['messages']} "
                      f"delivered, CPU per 1,000 {r['cpu_per_1000'] or 0:.3f} s")
    for n, c in scale.get("idle", {}).get("levels", {}).items():
        print(f"quick: mega-paused idle-{n}: {c['median']:.0f} msgs/s, p50 {c['p50']:.3f} ms, "
              f"idle open {c['idle_open']}/{c['idle']}, RSS {fmt_mb(c['rss_peak_kb'])}")
    for s, cells in scale.get("connections", {}).get("systems", {}).items():
        for n, c in cells.items():
            print(f"quick: {s} {n}x16: {c['median']:.0f} msgs/s, p50 {c['p50']:.3f} ms, "
                  f"errors {c['errors'] or 'none'}")
    for s, c in scale.get("half_rate", {}).get("systems", {}).items():
        print(f"quick: {s} half-rate: {c['median']:.0f} msgs/s (offered {c['rate']:.0f}), "
              f"p99 {c['p99']:.3f} ms")
    rs = scale.get("restart", {})
    for st in rs.get("steps", []):
        print(f"quick: mega-paused queued-{st['queued']}: {st['push_msgs_per_s']:.0f} msgs/s, "
              f"RSS {fmt_mb(st['rss_kb'])}")
    if "ack_seconds" in rs:
        print(f"quick-restart: port {rs['port_seconds']:.3f} s, push acknowledged "
              f"{rs['ack_seconds']:.3f} s, {rs['queued_after']} queued after")

