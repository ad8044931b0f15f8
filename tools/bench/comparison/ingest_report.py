"""The report's ingest tables for one durability pair: throughput and latency per system, the
verdicts of mega (delivery paused) against the peers, and the ratios between mega's own
settings: delivering at a set rate against paused, `message_log` off against on."""

from .systems import LABELS
from .verdict import verdict, verdict_lines

# The first table: mega and the peers; the second: mega's settings and queue backends.
PEER_SYSTEMS = ["mega", "mega-paused", "mega-http", "mega-http-100", "beanstalkd", "redis",
                "redis-benchmark"]
MEGA_VARIANTS = ["mega-paused", "mega-paused-nolog", "mega-rate-2000", "mega-redis-1",
                 "mega-redis-2", "mega-redis-3"]
PEERS = ["beanstalkd", "redis", "redis-benchmark"]


def fmt_rate(v):
    return f"{v:,.0f}" if v is not None else "?"


def fmt_ms(v, digits=2):
    return "—" if v is None else f"{v:.{digits}f}"


def tables(res, systems):
    """Throughput (median, min–max) and latency tables of `systems` present in `res`."""
    systems = [s for s in systems if s in res]
    if not systems:
        return []
    loads = list(res[systems[0]].keys())
    header = "| connections × window | " + " | ".join(LABELS[s] for s in systems) + " |"
    rule = "|---|" + "---:|" * len(systems)
    lines = ["Throughput, msgs/s: median (min–max)", "", header, rule]
    for load in loads:
        cells = []
        for s in systems:
            c = res[s].get(load)
            cells.append("—" if c is None else
                         f"{fmt_rate(c['median'])} ({fmt_rate(c['min'])}–{fmt_rate(c['max'])})"
                         + (" †" if c["stopped_by_time"] else ""))
        lines.append(f"| {load.replace('x', ' × ')} | " + " | ".join(cells) + " |")
    lines += ["", "Acknowledgement latency, ms: p50 / p99 / p99.9", "", header, rule]
    for load in loads:
        cells = []
        for s in systems:
            c = res[s].get(load)
            cells.append("—" if c is None else
                         f"{fmt_ms(c['p50'], 3)} / {fmt_ms(c['p99'])} / {fmt_ms(c['p999'])}")
        lines.append(f"| {load.replace('x', ' × ')} | " + " | ".join(cells) + " |")
    return lines + [""]


def ratio_lines(res, base, other, title, what):
    """Per load: base and other (medians, min–max), other / base, and the verdict."""
    if base not in res or other not in res:
        return []
    lines = [title, "", f"| connections × window | {LABELS[base]} | {LABELS[other]} | "
             f"{what} | verdict |", "|---|---:|---:|---:|---|"]
    for load, b in res[base].items():
        o = res[other].get(load)
        if o is None:
            continue
        ratio = o["median"] / b["median"] if b["median"] > 0 else None
        lines.append(f"| {load.replace('x', ' × ')} | {fmt_rate(b['median'])} "
                     f"({fmt_rate(b['min'])}–{fmt_rate(b['max'])}) | {fmt_rate(o['median'])} "
                     f"({fmt_rate(o['min'])}–{fmt_rate(o['max'])}) | "
                     f"{'?' if ratio is None else f'{ratio:.2f}'} | "
                     f"{LABELS[other]} {verdict(o, b)} |")
    return lines + [""]


def ingest_lines(res):
    """Everything the report says about one durability pair's table."""
    lines = tables(res, PEER_SYSTEMS)
    lines += verdict_lines(res, "mega-paused", PEERS, LABELS)
    lines += ratio_lines(
        res, "mega-paused", "mega-rate-2000",
        "Ingest while delivering at a set rate: mega with delivery on at "
        "`[wechat] rate_limit_per_second = 2000` (fake-wechat answering at 0 ms) while the "
        "pushes run at full speed, next to mega with delivery paused, the same loads and "
        "rounds.", "delivering / paused")
    lines += ratio_lines(
        res, "mega-paused", "mega-paused-nolog",
        "The message log's share: mega with delivery paused, `message_log` on (the default) "
        "and off, the same loads and rounds; *off / on* above 1 is the log's cost.",
        "off / on")
    variants = [s for s in MEGA_VARIANTS if s.startswith("mega-redis") and s in res]
    if variants:
        lines += ["mega on its Redis queue backend (`[queue] backend = redis`; one "
                  "redis-server, its AOF fsynced as the heading says; 1, 2 or 3 mega nodes "
                  "sharing one queue, mega-bench's connections spread over the nodes), "
                  "delivery paused, next to the file backend:", ""]
        lines += tables(res, ["mega-paused"] + variants)
    return lines
