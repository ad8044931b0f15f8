"""The report's delivery section: drain rates by fake-wechat latency (file backend, plain
HTTP), push-to-arrival when not backlogged, CPU seconds of mega per 1,000 delivered (plain
and HTTPS), and the Redis queue backend's drain rates next to the file backend's."""

VARIANT_LABELS = {"file": "file queue, HTTP", "tls": "file queue, HTTPS"}


def label(d):
    v = d.get("variant", "file")
    if v.startswith("redis-"):
        n = d.get("nodes", v.split("-")[1])
        return f"Redis queue, {n} node{'s' if str(n) != '1' else ''}, HTTP"
    return VARIANT_LABELS.get(v, v)


def fmt_cpu(v):
    return "—" if v is None else f"{v:.3f} s"


def cold_warm(d, fmt, key):
    """`cold / warm` for a row with a second drain on open connections, else the one value."""
    w = d.get("warm")
    return fmt(d.get(key)) + (f" / {fmt(w.get(key))}" if w else "")


def warm_cpu(d):
    return (d.get("warm") or d).get("cpu_per_1000")


def delivery_lines(delivery, charts, fmt_rate):
    if not delivery:
        return []
    plain = [d for d in delivery if d.get("variant", "file") == "file"]
    lines = ["## Delivery to fake-wechat", "",
             "mega `fsync = interval`, default sender settings (`task_worker_num` 8 × "
             "`max_inflight` 256 transfers, on one sender thread per core). Delivery paused (admin API), {delivery[0]['messages']:,} "
             "messages pushed, delivery resumed: rate = messages / time until fake-wechat "
             "counted them all (full speed: no rate limit). *CPU per 1,000*: utime + stime "
             "of mega's process(es) (/proc/PID/stat) from the resume to the last delivery, "
             "per 1,000 delivered. *cold / warm*: the first drain of a fresh server also opens "
             "its sender connections (up to 2,048: over HTTPS, as many TLS handshakes); the second, "
             "warm, drains as many again on the connections the first left open. *HTTPS*: "
             "fake-wechat serving TLS (`--tls-cert/--tls-key`, a self-signed certificate made by `openssl req -x509` at run time), mega "
             "trusting it through `[wechat] ca_file`. *Redis queue*: `[queue] backend = "
             "redis`, one redis-server (appendfsync everysec) and N mega nodes sharing the "
             "queue, the pushes spread over the nodes, all nodes paused and then resumed. "
             "Then, for the plain rows, with the queue empty, messages pushed at half the "
             "drain rate (mega-bench --rate): push-to-arrival from the push time each body "
             "carries to fake-wechat's receive time (1 ms resolution). One run per row.", ""]
    if "delivery" in charts:
        lines += [f"![delivery]({charts['delivery']})", ""]
    lines += ["| fake latency | queue, transport | delivered msgs/s (cold / warm) | drain time | "
              "CPU per 1,000 (cold / warm) | paced at | push→arrival p50 | p99 | max |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for d in delivery:
        paced = (f"{fmt_rate(d['paced_rate'])}/s × {d['paced_messages']:,} | "
                 f"{d['arrival_p50_ms']} ms | {d['arrival_p99_ms']} ms | "
                 f"{d['arrival_max_ms']} ms" if "paced_rate" in d else "— | — | — | —")
        complete = d["complete"] and (d.get("warm") or d)["complete"]
        lines.append(f"| {d['latency_ms']} ms | {label(d)} | "
                     f"{cold_warm(d, fmt_rate, 'msgs_per_s')}"
                     f"{'' if complete else ' (incomplete)'} | {d['seconds']:.1f} s | "
                     f"{cold_warm(d, fmt_cpu, 'cpu_per_1000')} | {paced} |")
    tls = next((d for d in delivery if d.get("variant") == "tls"), None)
    base = next((d for d in plain if d["latency_ms"] == (tls or {}).get("latency_ms")), None)
    if tls and base and warm_cpu(base) and warm_cpu(tls):
        lines += ["", f"On open connections (warm), TLS costs mega "
                      f"{warm_cpu(tls) / warm_cpu(base):.2f}× the CPU per message of plain "
                      f"HTTP at {tls['latency_ms']} ms (one run each: no verdict)."]
    return lines + [""]
