"""Redis's own load generator, redis-benchmark (Debian redis-tools), run against the same
fresh Redis as mega-bench, with the same connections (-c), pipeline (-P, mega-bench's
window), body size (-d) and count (-n): its figure stands next to mega-bench's, so a slow
generator would show."""

import csv
import io
import subprocess

from . import BenchError


def run_redis_benchmark(port, connections, pipeline, messages, threads, timeout):
    """One `redis-benchmark -t lpush --csv` run; the result shaped like a mega-bench one."""
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(connections),
           "-P", str(pipeline), "-n", str(messages), "-d", "200", "-t", "lpush", "--csv"]
    if threads > 1 and connections > 1:
        cmd += ["--threads", str(min(threads, connections))]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"redis-benchmark did not finish within {timeout:g} s")
    rows = [r for r in csv.reader(io.StringIO(p.stdout)) if r]
    data = [r for r in rows if r[0].upper().startswith("LPUSH")]
    if p.returncode != 0 or not data:
        raise BenchError(f"redis-benchmark failed ({p.returncode}): {p.stderr[-1000:]}"
                         f"{p.stdout[-500:]}")
    header = rows[0] if rows[0][0] == "test" else ["test", "rps"]
    values = dict(zip(header, data[-1]))
    ms = lambda k: float(values[k]) if k in values else None
    return {"msgs_per_s": float(values["rps"]), "ok": messages, "messages": messages,
            "latency_ms": {"p50": ms("p50_latency_ms"), "p99": ms("p99_latency_ms"),
                           "p999": None, "max": ms("max_latency_ms")},
            "errors": {}, "unanswered": 0, "connections_lost": 0, "stopped_by": "count",
            "command": " ".join(cmd)}
