"""The measured sections: throughput at matched durability (mega, beanstalkd, Redis), mega's
delivery to fake-wechat, and the scale sections (idle connections, throughput as connections
grow, latency at half the maximum throughput, queue size and restart). Every run on a fresh
server; each section returns a dict of results for the report."""

import json
import os
import resource
import statistics
import subprocess
import time

from . import BenchError, log, megastack
from .drain import warm_drain
from .redis_benchmark import run_redis_benchmark
from .runs import (RssSampler, percentile, rss_kb_fields, run_bench, run_logged, summarize,
                   summarize_nothing, timed_run, vm_rss_kb)
from .systems import (DURABILITY, HALF_RATE_SYSTEMS, INTERVAL, RESTART, SCALE_SYSTEMS,
                      MegaServer, discard, start_server)

HEADLINE_LOAD = (16, 64)  # the targets; also run with `message_log = 0`
ALL_SECTIONS = ["durability", "delivery", "idle", "connections", "half-rate", "restart"]
SCALE_SECTIONS = ["idle", "connections", "half-rate", "restart"]


def run_on_fresh_server(args, bins, db, fake, work, durability, system, load, messages, seconds):
    connections, window = load
    server, proto = start_server(system, bins, db, fake, work,
                                 f"{system}-{durability[0]}-{connections}x{window}", durability)
    try:
        port, extra = server.port, ()
        if proto == "redis-benchmark":
            return run_redis_benchmark(port, connections, window, messages,
                                       args.bench_threads, seconds + 60)
        if getattr(server, "more_ports", None):  # several mega nodes on one Redis queue
            extra = ("--more-ports", ",".join(map(str, server.more_ports)))
        if proto.startswith("http:"):  # HTTP submit API: N requests carry N x batch messages
            batch = int(proto.split(":")[1])
            proto, port, extra = "http", server.mega.http_port, ("--http-batch", str(batch))
            messages = max(1, messages // batch)
        return run_bench(bins["mega-bench"], proto, port, connections, window, messages,
                         seconds, args.bench_threads, extra)
    finally:
        server.stop()


def compare_durability(args, bins, db, fake, work):
    """Per durability pair and load: a probe per system sizes N for args.seconds per run, then
    args.runs rounds, each running every system once, in turn, on a fresh server. Rounds
    interleave the systems, so a machine that gets busier or quieter meanwhile (fsync times
    on a shared disk drift a lot) affects all of them alike."""
    results = {}
    loads = [(4, 16)] if args.quick else args.loads
    pairs = [d for d in DURABILITY if not args.quick or d[0] == "interval"]
    # A system much slower than the window (beanstalkd -f 0 fsyncs every job) stops at this
    # bound instead, with requests still in flight: those are reported, not counted as errors.
    bound = 60 if args.quick else max(3 * args.seconds, 6)
    for durability in pairs:
        pair_id = durability[0]
        results[pair_id] = {}
        for load in loads:
            connections, window = load
            key = f"{connections}x{window}"
            systems = list(args.systems)
            if "mega-paused" in systems and not args.no_log_share:
                systems.append("mega-paused-nolog")  # what the message log costs
            sizes, runs, failures = {}, {s: [] for s in systems}, {s: [] for s in systems}
            for system in systems:
                if args.quick:
                    sizes[system] = args.quick_messages
                    continue
                if system == "redis-benchmark":  # the same N as mega-bench against Redis
                    sizes[system] = sizes.get("redis") or 100000
                    continue
                try:
                    probe = run_on_fresh_server(args, bins, db, fake, work, durability, system,
                                                load, 10**9, 0.5)
                    n = int(probe["msgs_per_s"] * args.seconds)
                except (BenchError, OSError) as e:
                    log(f"  {system} {key} probe failed: {e}")
                    n = 0
                sizes[system] = max(n, 2 * connections * window, 200)
            for i in range(args.runs):
                for system in systems:
                    try:
                        r = run_on_fresh_server(args, bins, db, fake, work, durability, system,
                                                load, sizes[system], bound)
                    except (BenchError, OSError) as e:
                        log(f"  {system:11} {key:6} run {i + 1} failed: {e}")
                        failures[system].append(str(e)[:300])
                        continue
                    runs[system].append(r)
                    log(f"  {system:11} {key:6} run {i + 1}: {r['msgs_per_s']:10.0f} msgs/s  "
                        f"p50 {r['latency_ms']['p50']:.3f} ms  p99 {r['latency_ms']['p99']:.3f} ms"
                        + (f"  errors {r['errors']}" if r["errors"] else "")
                        + (f"  stopped by {r['stopped_by']} ({r['unanswered']} in flight)"
                           if r["stopped_by"] != "count" else ""))
            for system in systems:
                cell = summarize(runs[system]) if runs[system] else summarize_nothing()
                cell["failed_runs"] = failures[system]
                results[pair_id].setdefault(system, {})[key] = cell
    return results



def delivery_benchmark(args, bins, db, fake, work):
    """Per fake latency: pause delivery, push N (fsync = interval), resume, time until
    fake-wechat counted N deliveries. Then, unpaused, push at half that rate and take
    push-to-arrival percentiles from the "t" each body carries and fake-wechat's t_ms."""
    out = []
    n = args.delivery_messages
    for latency in args.delivery_latencies:
        fake.reset()
        fake.configure(latency_ms=latency)
        db.sql("TRUNCATE TABLE mega_message_log;")
        mega = MegaServer(bins["mega"], work, f"delivery-{latency}", "interval", db, fake)
        try:
            row = {"latency_ms": latency, "variant": "file",
                   **warm_drain(args, bins, mega, fake, n, args.delivery_timeout)}
            delivered, elapsed = row["delivered"], row["seconds"]
            # push-to-arrival while the queue is not backlogged
            mega.wait_drained(args.delivery_timeout)
            stored_before = fake.stats()["messages_stored"]
            rate = max(50.0, 0.5 * row["msgs_per_s"])
            m = int(min(args.latency_messages, rate * args.latency_seconds))
            paced = run_bench(bins["mega-bench"], "mega", mega.port, 16, 64, m, 120,
                              args.bench_threads, extra=("--rate", f"{rate:.0f}"))
            megastack.wait_until(
                lambda: fake.stats()["messages_stored"] >= stored_before + paced["ok"],
                     args.delivery_timeout, "paced messages to arrive")
            lat = []
            for msg in fake.messages_since(stored_before, limit=50000, timeout=120):
                body = json.loads(msg["body"])
                lat.append(int(msg["t_ms"]) - int(body["data"]["t"]["value"]))
            lat.sort()
            row.update({"paced_rate": rate, "paced_messages": len(lat),
                        "arrival_p50_ms": percentile(lat, 0.50),
                        "arrival_p99_ms": percentile(lat, 0.99),
                        "arrival_max_ms": lat[-1] if lat else None})
            log(f"  delivery at latency {latency} ms: {row['msgs_per_s']:.0f} msgs/s "
                f"({delivered}/{n} in {elapsed:.1f} s); paced at {rate:.0f}/s: push->arrival "
                f"p50 {row['arrival_p50_ms']} ms p99 {row['arrival_p99_ms']} ms")
            out.append(row)
        finally:
            mega.stop()
    return out



def idle_benchmark(args, bins, db, fake, work):
    """mega (delivery paused, fsync = interval) under 16 x 64 while N more connections are
    held idle; rounds interleave the idle counts, every run on a fresh server."""
    connections, window = (4, 16) if args.quick else (16, 64)
    levels = [0, 200] if args.quick else args.idle_levels
    seconds = args.scale_seconds
    runs = {n: [] for n in levels}
    failures = {n: [] for n in levels}
    for i in range(args.runs):
        for n in levels:
            try:
                server, proto = start_server("mega-paused", bins, db, fake, work,
                                             f"idle-{n}", INTERVAL)
                try:
                    before = server.rss_kb()
                    rss = RssSampler(server.pid)

                    def held(server=server, n=n, rss=rss):
                        # mega has accepted them all (its own count), then: RSS, and the
                        # sampler runs through the load
                        def accepted():
                            return server.stats()["connections"] >= n
                        megastack.wait_until(accepted, 60,
                                             f"mega to accept {n} idle connections")
                        pid = server.pid
                        out = {"connections": server.stats()["connections"],
                               "rss_kb": vm_rss_kb(pid), "rss_anon_kb": vm_rss_kb(pid, "RssAnon")}
                        rss.start()
                        return out
                    try:
                        r = timed_run(args, bins, server, proto, connections, window, seconds,
                                      ("--idle", str(n)), on_idle_open=held)
                    finally:
                        rss.stop()
                    r["rss_before_kb"], r["rss_peak_kb"] = before, rss.peak_kb
                    r["rss_idle_kb"] = r["at_idle_open"]["rss_kb"]
                    r["rss_idle_anon_kb"] = r["at_idle_open"]["rss_anon_kb"]
                    r["mega_connections"] = r["at_idle_open"]["connections"]
                finally:
                    discard(server)
            except (BenchError, OSError, subprocess.TimeoutExpired) as e:
                log(f"  idle {n} run {i + 1} failed: {e}")
                failures[n].append(str(e)[:300])
                continue
            runs[n].append(r)
            run_logged(f"idle {n:6} run {i + 1}", r)
    cells = {}
    for n in levels:
        cell = summarize(runs[n]) if runs[n] else summarize_nothing()
        cell["failed_runs"] = failures[n]
        cell["idle"] = n
        cell["idle_open"] = min((r["idle_open"] for r in runs[n]), default=0)
        cell["connect_seconds"] = max((r["connect_seconds"] for r in runs[n]), default=0)
        cell["mega_connections"] = min((r["mega_connections"] for r in runs[n]), default=0)
        for key in ("rss_before_kb", "rss_idle_kb", "rss_idle_anon_kb", "rss_peak_kb"):
            vals = [r[key] for r in runs[n] if r.get(key)]
            cell[key] = statistics.median(vals) if vals else None
        cells[str(n)] = cell
    return {"load": f"{connections}x{window}", "seconds": seconds, "runs": args.runs,
            "levels": cells}


def connections_benchmark(args, bins, db, fake, work):
    """msgs/s of mega (delivery paused), beanstalkd and Redis at fsync-at-intervals settings
    as the number of connections grows, window 16; every run on a fresh server."""
    systems = [s for s in SCALE_SYSTEMS if s in args.systems]
    counts = [1, 32] if args.quick else args.scale_connections
    window = 16
    seconds = args.scale_seconds
    out = {s: {} for s in systems}
    for c in counts:
        runs = {s: [] for s in systems}
        failures = {s: [] for s in systems}
        for i in range(args.connections_runs):
            for s in systems:
                try:
                    server, proto = start_server(s, bins, db, fake, work, f"conns-{s}-{c}",
                                                 INTERVAL)
                    try:
                        r = timed_run(args, bins, server, proto, c, window, seconds)
                    finally:
                        discard(server)
                except (BenchError, OSError, subprocess.TimeoutExpired) as e:
                    log(f"  {s} {c} connections run {i + 1} failed: {e}")
                    failures[s].append(str(e)[:300])
                    continue
                runs[s].append(r)
                run_logged(f"{s:11} {c:5} x {window} run {i + 1}", r)
        for s in systems:
            cell = summarize(runs[s]) if runs[s] else summarize_nothing()
            cell["failed_runs"] = failures[s]
            out[s][str(c)] = cell
    return {"window": window, "seconds": seconds, "runs": args.connections_runs,
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "systems": out}


def half_rate_benchmark(args, bins, db, fake, work, durability_results):
    """Per system: its median 16 x 64 throughput from the fsync-at-intervals table (or a
    probe run), then mega-bench paced (--rate) at half of that, 16 x 64."""
    systems = [s for s in HALF_RATE_SYSTEMS if s in args.systems]
    connections, window = (4, 16) if args.quick else (16, 64)
    key = f"{connections}x{window}"
    seconds = args.scale_seconds
    rows = {}
    for s in systems:
        cell = durability_results.get("interval", {}).get(s, {}).get(key)
        if cell and cell["median"] > 0 and not cell.get("failed_runs"):
            rows[s] = {"max_rate": cell["median"], "max_from": "table"}
            continue
        try:
            server, proto = start_server(s, bins, db, fake, work, f"half-probe-{s}",
                                         INTERVAL)
            try:
                r = timed_run(args, bins, server, proto, connections, window, seconds)
            finally:
                discard(server)
        except (BenchError, OSError, subprocess.TimeoutExpired) as e:
            log(f"  {s} {key} probe failed: {e}")
            continue
        run_logged(f"{s:11} {key} probe", r)
        rows[s] = {"max_rate": r["msgs_per_s"], "max_from": "probe", "probe": r}
    if "mega-paused" in rows:
        rows["mega-paused-nolog"] = {"max_rate": rows["mega-paused"]["max_rate"],
                                     "max_from": "mega-paused"}
    runs = {s: [] for s in rows}
    failures = {s: [] for s in rows}
    for i in range(args.runs):
        for s, row in rows.items():
            rate = row["max_rate"] / 2
            try:
                server, proto = start_server(s, bins, db, fake, work, f"half-{s}",
                                             INTERVAL)
                try:
                    r = timed_run(args, bins, server, proto, connections, window, seconds,
                                  ("--rate", f"{rate:.0f}"))
                finally:
                    discard(server)
            except (BenchError, OSError, subprocess.TimeoutExpired) as e:
                log(f"  {s} at {rate:.0f}/s run {i + 1} failed: {e}")
                failures[s].append(str(e)[:300])
                continue
            runs[s].append(r)
            run_logged(f"{s:17} at {rate:.0f}/s run {i + 1}", r)
    for s, row in rows.items():
        cell = summarize(runs[s]) if runs[s] else summarize_nothing()
        cell["failed_runs"] = failures[s]
        cell["rate"] = row["max_rate"] / 2
        late = [r["pacing"]["late"] / max(1, r["written"]) for r in runs[s] if r.get("pacing")]
        cell["late_fraction"] = statistics.median(late) if late else None
        cell["batch_interval_ms"] = (runs[s][0]["pacing"]["batch_interval_ms"] if runs[s]
                                     else None)
        cell["batch"] = runs[s][0]["pacing"].get("batch") if runs[s] else None
        row.update(cell)
    return {"load": key, "seconds": seconds, "runs": args.runs, "systems": rows}


def drop_page_cache():
    """sync, then echo 3 > /proc/sys/vm/drop_caches; returns (done, note)."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True, "page cache dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`)"
    except OSError as e:
        return False, f"page cache not dropped ({e.strerror or e}: needs root)"


def restart_benchmark(args, bins, db, fake, work):
    """mega (fsync = interval, message_log = 0, delivery paused): push up to each size in
    turn, VmRSS at each; then SIGTERM, drop the page cache, start again and time until the
    port accepts and until a push is acknowledged."""
    sizes = [10_000, 20_000] if args.quick else args.restart_sizes
    connections, window = 16, 64
    fake.reset()
    fake.configure(latency_ms=0)
    mega = MegaServer(bins["mega"], work, "restart", "interval", db, fake, overrides=RESTART)
    out = {"load": f"{connections}x{window}", "steps": []}
    try:
        mega.pause()
        out["rss_empty_kb"] = mega.rss_kb()
        pushed = 0
        for size in sizes:
            n = size - pushed
            r = run_bench(bins["mega-bench"], "mega", mega.port, connections, window, n, 900,
                          args.bench_threads)
            if r["ok"] != n:
                raise BenchError(f"queue size: only {r['ok']} of {n} queued: {r['errors']}")
            pushed = size
            st = mega.stats()
            pid = mega.pid
            rss = rss_kb_fields(pid)
            step = {"pushed": pushed, "queued": st["queue"]["total"], "rss_kb": rss.get("VmRSS"),
                    "rss_anon_kb": rss.get("RssAnon"), "rss_file_kb": rss.get("RssFile"),
                    "disk_bytes": st["queue"]["disk_bytes"], "push_msgs_per_s": r["msgs_per_s"],
                    "command": r["command"]}
            out["steps"].append(step)
            log(f"  {step['queued']:,} queued: RSS {step['rss_kb'] / 1024:.0f} MB, "
                f"{step['disk_bytes'] / 2**20:.0f} MB on disk (pushed at {r['msgs_per_s']:.0f}/s)")
        ports, acks, stops, scans, scan_rss = [], [], [], [], []
        for _ in range(1 if args.quick else args.runs):  # the same queue, restarted again
            stops.append(mega.terminate())
            if args.quick or args.no_drop_caches:
                out["cache_dropped"] = False
                out["cache_note"] = ("page cache not dropped (" +
                                     ("--quick" if args.quick else "--no-drop-caches") + ")")
            else:
                out["cache_dropped"], out["cache_note"] = drop_page_cache()
            t0 = time.monotonic()
            mega.spawn()
            deadline = t0 + 300
            # Its port is a new one (port 0): ready() reads it from the status file, which
            # mega writes right after it starts listening, and connects.
            while not mega.ready():  # raises if mega exited
                if time.monotonic() > deadline:
                    raise BenchError("mega did not listen within 300 s of the restart")
                time.sleep(0.002)
            ports.append(time.monotonic() - t0)
            while True:
                try:
                    r = run_bench(bins["mega-bench"], "mega", mega.port, 1, 1, 1, 10, 1)
                except BenchError as e:  # could not connect, say
                    r = {"ok": 0, "error": str(e)}
                if r["ok"] == 1:
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"no push acknowledged within 300 s of the restart: {r}")
                time.sleep(0.005)
            acks.append(time.monotonic() - t0)
            # The older segments are checked in the background after the port opens: time
            # until that is over, and the most RSS seen meanwhile.
            peak = 0
            while True:
                peak = max(peak, rss_kb_fields(mega.pid).get("VmRSS") or 0)
                if mega.stats()["queue"].get("scanning_segments", 0) == 0:
                    break
                if time.monotonic() > deadline:
                    raise BenchError("the queue was still being checked 300 s after the restart")
                time.sleep(0.01)
            scans.append(time.monotonic() - t0)
            scan_rss.append(peak)
            log(f"  restart {len(ports)}: port {ports[-1]:.3f} s, push acknowledged "
                f"{acks[-1]:.3f} s, whole queue checked {scans[-1]:.3f} s (RSS peak "
                f"{peak / 1024:.0f} MB)")
        out["stop_seconds"] = statistics.median(stops)
        out["port_seconds"], out["port_all"] = statistics.median(ports), ports
        out["ack_seconds"], out["ack_all"] = statistics.median(acks), acks
        out["scan_seconds"], out["scan_all"] = statistics.median(scans), scans
        out["scan_rss_peak_kb"] = max(scan_rss)
        pid = mega.pid
        rss = rss_kb_fields(pid)
        out["rss_after_kb"] = rss.get("VmRSS")
        out["rss_after_anon_kb"] = rss.get("RssAnon")
        out["rss_after_file_kb"] = rss.get("RssFile")
        mega.wait_ready()
        out["queued_after"] = mega.stats()["queue"]["total"]  # pushed + the one push above
        # What a one-message mega-bench run costs against a server that is up (process
        # start, connect, one round trip), to read ack_seconds against.
        t1 = time.monotonic()
        run_bench(bins["mega-bench"], "mega", mega.port, 1, 1, 1, 10, 1)
        out["bench_overhead_seconds"] = time.monotonic() - t1
        log(f"  restart with {pushed:,} queued ({out['cache_note']}): port accepts after "
            f"{out['port_seconds']:.3f} s, push acknowledged after {out['ack_seconds']:.3f} s, "
            f"queue checked after {out['scan_seconds']:.3f} s, "
            f"RSS {out['rss_after_kb'] / 1024:.0f} MB, {out['queued_after']:,} queued")
    finally:
        mega.stop()
    return out


def scale_benchmarks(args, bins, db, fake, work, durability_results):
    out = {}
    for section, fn in (("idle", idle_benchmark), ("connections", connections_benchmark),
                        ("half_rate", half_rate_benchmark), ("restart", restart_benchmark)):
        if section.replace("_", "-") not in args.sections:
            continue
        log(f"{section.replace('_', '-')}:")
        t0 = time.monotonic()
        try:
            if fn is half_rate_benchmark:
                out[section] = fn(args, bins, db, fake, work, durability_results)
            else:
                out[section] = fn(args, bins, db, fake, work)
        except (BenchError, OSError, subprocess.TimeoutExpired) as e:
            log(f"  {section} failed: {e}")
            out[section] = {"error": str(e)[:2000]}
        out[section]["measure_seconds"] = round(time.monotonic() - t0, 1)
        log(f"  ({section.replace('_', '-')}: {out[section]['measure_seconds']:.0f} s)")
    return out


def scale_problems(scale):
    """Errors of the scale sections, one string each (empty: all ran clean)."""
    bad = []
    for section, res in scale.items():
        if "error" in res:
            bad.append(f"{section}: {res['error'][:300]}")
    cells = []
    for n, c in scale.get("idle", {}).get("levels", {}).items():
        cells.append((f"idle {n}", c))
        if c["idle_open"] < c["idle"]:
            bad.append(f"idle {n}: only {c['idle_open']} of {c['idle']} idle connections open")
    for s, per in scale.get("connections", {}).get("systems", {}).items():
        cells += [(f"{s} {n} connections", c) for n, c in per.items()]
    cells += [(f"{s} at half rate", c)
              for s, c in scale.get("half_rate", {}).get("systems", {}).items()]
    for what, c in cells:
        if c["errors"] or c["connections_lost"] or c["median"] <= 0 or c.get("failed_runs"):
            bad.append(f"{what}: {c['median']:.0f} msgs/s, errors {c['errors']}, "
                       f"connections lost {c['connections_lost']}")
    return bad




def durability_problems(results):
    """Errors of the durability cells, one string each (empty: all ran clean)."""
    bad = []
    for pair in results.values():
        for system, cells in pair.items():
            for load, c in cells.items():
                if c["errors"] or c["connections_lost"] or c["median"] <= 0 or c["failed_runs"]:
                    bad.append(f"{system} {load}: {c['median']:.0f} msgs/s, errors {c['errors']}, "
                               f"connections lost {c['connections_lost']}")
    return bad
