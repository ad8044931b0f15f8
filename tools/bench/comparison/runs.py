"""One mega-bench run against a server, the summary of several, and the RSS of a server
process sampled while it runs."""

import json
import os
import statistics
import subprocess
import threading
import time

from . import BenchError, log


def vm_rss_kb(pid, key="VmRSS"):
    """VmRSS (or another kB line of /proc/PID/status) of a process (None if it is gone)."""
    return rss_kb_fields(pid).get(key)


def rss_kb_fields(pid):
    """Every kB line of /proc/PID/status from one read, so VmRSS = RssAnon + RssFile + RssShmem
    holds between them (separate reads right after a start see different moments)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except (OSError, ValueError):
        pass
    return out


class RssSampler:
    """Samples a process's VmRSS every `interval` s in a thread from start() to stop() (or
    through a `with` block); `peak_kb` and `last_kb` afterwards."""

    def __init__(self, pid, interval=0.05):
        self.pid, self.interval = pid, interval
        self.peak_kb = self.last_kb = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            v = vm_rss_kb(self.pid)
            if v is not None:
                self.last_kb = v
                self.peak_kb = max(self.peak_kb or 0, v)
            if self._done.wait(self.interval):
                return

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc):
        self.stop()



def run_bench(binary, proto, port, connections, window, messages, seconds, threads, extra=(),
              on_idle_open=None):
    """One mega-bench run; messages=None: no count (give --duration in `extra`).
    on_idle_open: called (its result goes to r["at_idle_open"]) once mega-bench has opened
    its --idle connections, before the load starts (--pause-after-idle)."""
    cmd = [binary, "--proto", proto, "--port", str(port), "--connections", str(connections),
           "--window", str(window),
           *([] if messages is None else ["--messages", str(messages)]), "--body-bytes", "200",
           "--max-seconds", f"{seconds:g}", "--threads", str(min(threads, connections)), "--json",
           *extra]
    held = None
    if on_idle_open is None:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        stdout, stderr = p.stdout, p.stderr
    else:
        cmd.append("--pause-after-idle")
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            first = []
            for line in p.stderr:  # up to the line that says the idle connections are open
                first.append(line)
                if line.startswith("mega-bench: idle connections open"):
                    held = on_idle_open()
                    break
            p.stdin.write("\n")
            p.stdin.flush()  # communicate() closes it
        except BrokenPipeError:
            pass  # it ended early: its output says why
        finally:
            try:
                stdout, stderr = p.communicate(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise
        stderr = "".join(first) + stderr
    lines = [l for l in stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise BenchError(f"mega-bench gave no result ({p.returncode}): {stderr[-2000:]}")
    r = json.loads(lines[-1])
    if held is not None:
        r["at_idle_open"] = held
    r["command"] = " ".join(os.path.basename(c) if c == binary else c for c in cmd)
    return r


def summarize_nothing():
    return {"median": 0, "min": 0, "max": 0, "p50": 0, "p99": 0, "p999": 0, "max_ms": 0,
            "errors": {"no successful run": 1}, "unanswered": 0, "connections_lost": 0,
            "stopped_by_time": 0, "messages": [], "runs": []}


def summarize(runs):
    rates = [r["msgs_per_s"] for r in runs]
    def med(key):  # None: the generator does not report it (redis-benchmark: no p99.9)
        vals = [r["latency_ms"][key] for r in runs if r["latency_ms"].get(key) is not None]
        return statistics.median(vals) if vals else None
    errors = {}
    for r in runs:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "p50": med("p50"), "p99": med("p99"), "p999": med("p999"), "max_ms": med("max"),
            "errors": errors, "unanswered": sum(r["unanswered"] for r in runs),
            "connections_lost": sum(r["connections_lost"] for r in runs),
            "stopped_by_time": sum(r["stopped_by"] == "time" for r in runs),
            "messages": [r["messages"] for r in runs], "runs": runs}



def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]



def timed_run(args, bins, server, proto, connections, window, seconds, extra=(),
              on_idle_open=None):
    """mega-bench issuing requests for `seconds`, then awaiting the replies in flight."""
    return run_bench(bins["mega-bench"], proto, server.port, connections, window, None,
                     seconds + 60, args.bench_threads,
                     extra=("--duration", f"{seconds:g}", *extra), on_idle_open=on_idle_open)


def run_logged(what, r):
    log(f"  {what}: {r['msgs_per_s']:10.0f} msgs/s  p50 {r['latency_ms']['p50']:.3f} ms  "
        f"p99 {r['latency_ms']['p99']:.3f} ms"
        + (f"  errors {r['errors']}" if r["errors"] else "")
        + (f"  stopped by {r['stopped_by']}" if r["stopped_by"] not in ("count", "duration")
           else "")
        + (f"  idle open {r['idle_open']}/{r['idle']}" if r.get("idle") else ""))


def wait_idle(limit):
    """Waits up to `limit` s for the 1-minute load average to fall below 1."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        load = float(open("/proc/loadavg").read().split()[0])
        if load < 1.0:
            return
        log(f"load average {load:.2f}: waiting for a quieter machine")
        time.sleep(min(15, max(1, deadline - time.monotonic())))
    log("going on although the machine is busy")

