"""GET /metrics (no token configured, loopback admin API): the text parses with a strict
Prometheus text-format (0.0.4) parser written here — HELP/TYPE lines, `name{labels} value`
samples, every sample's metric family has a TYPE, families contiguous, no duplicate series,
histogram buckets cumulative and ending with le="+Inf" equal to _count. After N pushes (two
of them hit a transient -1 first) are delivered: mega_messages_sent_total and
mega_send_attempts_total{outcome="sent"} equal fake-wechat's delivered count, the attempts
add up to fake-wechat's requests, the retries and the latency histogram count agree, the
queue's sync histogram has counted syncs, and the queue depth gauges return to 0.
"""

import math
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ops_support as ops  # noqa: E402
from harness import check, wait_until  # noqa: E402

N = 500
env = harness.Env("metrics")
S = {}


# --------------------------------------------------------------------------------------------
# a small Prometheus text-format parser

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ParseError(Exception):
    pass


def parse_value(text, where):
    t = text.strip()
    if t in ("+Inf", "Inf"):
        return math.inf
    if t == "-Inf":
        return -math.inf
    if t == "NaN":
        return math.nan
    try:
        return float(t)
    except ValueError:
        raise ParseError(f"{where}: bad value {text!r}")


def parse_labels(text, where):
    """`a="x",b="y\\"z"` → {a: x, b: y"z}; escapes \\\\, \\" and \\n."""
    labels = {}
    i = 0
    while i < len(text):
        m = LABEL_NAME_RE.match(text, i)
        if not m:
            raise ParseError(f"{where}: bad label name at {text[i:]!r}")
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            raise ParseError(f"{where}: expected =\" after label {name}")
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise ParseError(f"{where}: unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ParseError(f"{where}: bad escape \\{nxt}")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ParseError(f"{where}: newline in a label value")
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise ParseError(f"{where}: label {name} twice")
        labels[name] = "".join(value)
        if i < len(text):
            if text[i] != ",":
                raise ParseError(f"{where}: expected , between labels at {text[i:]!r}")
            i += 1
    return labels


def family_of(name, types):
    """The declared family a sample name belongs to (histogram/summary suffixes)."""
    if name in types and types[name] not in ("histogram",):
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            if types.get(base) == "histogram" or (types.get(base) == "summary" and suffix != "_bucket"):
                return base
    return None


def parse_prometheus(text):
    """Returns (types {family: type}, helps {family: text}, samples [(name, labels, value)])."""
    if text and not text.endswith("\n"):
        raise ParseError("the exposition does not end with a newline")
    types, helps, samples = {}, {}, []
    seen_series = set()
    finished = set()   # families whose group of lines has ended
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n} {line!r}"
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not NAME_RE.match(parts[2]):
                    raise ParseError(f"{where}: bad {parts[1]} line")
                fam = parts[2]
                if fam in finished or (fam != current and fam in types and parts[1] == "TYPE"):
                    raise ParseError(f"{where}: {parts[1]} for {fam} after its samples/twice")
                if parts[1] == "HELP":
                    if fam in helps:
                        raise ParseError(f"{where}: second HELP for {fam}")
                    helps[fam] = parts[3] if len(parts) > 3 else ""
                else:
                    t = parts[3].strip() if len(parts) > 3 else ""
                    if t not in TYPES:
                        raise ParseError(f"{where}: unknown type {t!r}")
                    if any(family_of(s[0], {fam: t}) == fam for s in samples):
                        raise ParseError(f"{where}: TYPE of {fam} after its samples")
                    types[fam] = t
                if current is not None and fam != current:
                    finished.add(current)
                current = fam
            continue  # other comments are allowed
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*\Z", line)
        if not m:
            raise ParseError(f"{where}: not a sample line")
        name, labels_text, value_text = m.group(1), m.group(2), m.group(3)
        labels = parse_labels(labels_text, where) if labels_text else {}
        value = parse_value(value_text, where)
        fam = family_of(name, types)
        if fam is None:
            raise ParseError(f"{where}: sample {name} has no TYPE")
        if fam in finished:
            raise ParseError(f"{where}: family {fam} is not contiguous")
        if current is not None and fam != current:
            finished.add(current)
        current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise ParseError(f"{where}: duplicate series")
        seen_series.add(key)
        samples.append((name, labels, value))
    check_families(types, samples)
    return types, helps, samples


def check_families(types, samples):
    for fam, t in types.items():
        mine = [s for s in samples if family_of(s[0], types) == fam]
        if t == "counter":
            for name, labels, v in mine:
                if not (v >= 0) or math.isinf(v):
                    raise ParseError(f"counter {name}{labels} = {v}")
        if t != "histogram":
            continue
        groups = {}
        for name, labels, v in mine:
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if name == fam + "_bucket":
                if "le" not in labels:
                    raise ParseError(f"{fam}_bucket without le: {labels}")
                g["buckets"].append((parse_value(labels["le"], f"{fam} le"), v, labels["le"]))
            elif name == fam + "_sum":
                g["sum"] = v
            elif name == fam + "_count":
                g["count"] = v
        for rest, g in groups.items():
            b = g["buckets"]
            if not b or g["count"] is None or g["sum"] is None:
                raise ParseError(f"histogram {fam}{rest}: missing buckets/_sum/_count")
            les = [x[0] for x in b]
            if les != sorted(les) or len(set(les)) != len(les):
                raise ParseError(f"histogram {fam}: le not increasing: {[x[2] for x in b]}")
            counts = [x[1] for x in b]
            if any(c2 < c1 for c1, c2 in zip(counts, counts[1:])):
                raise ParseError(f"histogram {fam}: buckets not cumulative: {counts}")
            if b[-1][2] != "+Inf":
                raise ParseError(f"histogram {fam}: last bucket is le={b[-1][2]!r}, not +Inf")
            if b[-1][1] != g["count"]:
                raise ParseError(f"histogram {fam}: +Inf bucket {b[-1][1]} != _count {g['count']}")


def self_test_parser():
    """The parser must reject what it claims to check (so a pass means something)."""
    good = ("# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\\\"q\"} 3\n"
            "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n")
    parse_prometheus(good)
    bad = {
        "no TYPE": "x 1\n",
        "not cumulative": "# TYPE h histogram\nh_bucket{le=\"0.1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
        "+Inf != count": "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "no +Inf": "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_sum 1\nh_count 1\n",
        "bad value": "# TYPE g gauge\ng abc\n",
        "duplicate": "# TYPE g gauge\ng 1\ng 2\n",
        "not contiguous": "# TYPE g gauge\n# TYPE c counter\ng 1\nc 1\ng{a=\"b\"} 2\n",
        "bad label": "# TYPE g gauge\ng{a=b} 1\n",
        "no newline": "# TYPE g gauge\ng 1",
    }
    for what, text in bad.items():
        try:
            parse_prometheus(text)
        except ParseError:
            continue
        raise harness.TestFailure(f"the parser accepts a case of {what}: {text!r}")


# --------------------------------------------------------------------------------------------

def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega(overrides={"retry": {"tries": 3, "backoff": 1}})
    host, port = ops.admin_addr(S["mega"])
    S["url"] = f"http://{host}:{port}/metrics"


def scrape():
    with urllib.request.urlopen(S["url"], timeout=15) as r:  # curl -s 127.0.0.1:PORT/metrics
        check(r.status == 200, f"/metrics HTTP {r.status}")
        ctype = r.headers.get("Content-Type", "")
        text = r.read().decode("utf-8")
    check(ctype.startswith("text/plain") and "version=0.0.4" in ctype, f"content type {ctype!r}")
    try:
        types, helps, samples = parse_prometheus(text)
    except ParseError as e:
        raise harness.TestFailure(f"/metrics does not parse: {e}\n{text}")
    return types, helps, samples, text


def value(samples, name, **labels):
    found = [v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items())]
    check(len(found) == 1, f"{name}{labels}: {len(found)} samples")
    return found[0]


def test_parser_rejects_bad_text():
    self_test_parser()


def test_metrics_parse_at_rest():
    types, helps, samples, text = scrape()
    expect = {
        "mega_queue_depth": "gauge", "mega_inflight": "gauge", "mega_waiting": "gauge",
        "mega_dead_letters": "gauge", "mega_messages_sent_total": "counter",
        "mega_messages_failed_total": "counter", "mega_retries_total": "counter",
        "mega_send_attempts_total": "counter", "mega_message_log_dropped_total": "counter",
        "mega_send_latency_seconds": "histogram", "mega_account_paused": "gauge",
        "mega_queue_sync_seconds": "histogram",
    }
    for fam, t in expect.items():
        check(types.get(fam) == t, f"TYPE of {fam} is {types.get(fam)!r}, expected {t}")
    for fam in types:
        check(fam in helps and helps[fam].strip(), f"{fam} has no HELP text")
    check({lab["priority"] for n, lab, _ in samples if n == "mega_queue_depth"} == {"high", "normal", "low"},
          "queue depth priorities")
    check({lab["outcome"] for n, lab, _ in samples if n == "mega_send_attempts_total"}
          >= {"sent", "transient", "token", "quota", "permanent"}, "attempt outcomes")
    check(value(samples, "mega_messages_sent_total") == 0, "sent before any push")
    check(value(samples, "mega_send_latency_seconds_count") == 0, "latency count before any push")
    print(f"  {len(types)} families, {len(samples)} samples, {len(text)} bytes")


def test_counters_match_fake_wechat():
    S["fake"].configure(next_errors=[-1, -1])
    openids = [f"oMet{i:05d}" for i in range(N)]
    ops.push_all(S["mega"], openids, "order_paid", {"product": "tea", "price": "1"})
    wait_until(lambda: S["fake"].delivered() >= N, 60,
               lambda: f"{N} deliveries (fake has {S['fake'].delivered()})")

    def settled():
        _, _, s, _ = scrape()
        depth = sum(v for n, _, v in s if n == "mega_queue_depth")
        return s if (value(s, "mega_messages_sent_total") >= N and depth == 0
                     and value(s, "mega_inflight") == 0 and value(s, "mega_waiting") == 0) else None
    samples = wait_until(settled, 60, lambda: "sent_total to reach N and the queue gauges 0: "
                         + "\n".join(l for l in scrape()[3].splitlines() if l.startswith(("mega_queue", "mega_inflight", "mega_waiting", "mega_messages_sent"))))
    fs = S["fake"].stats()
    delivered = int(fs["delivered"])
    check(delivered == N, f"fake delivered {delivered}, pushed {N}")
    sent = value(samples, "mega_messages_sent_total")
    check(sent == delivered, f"mega_messages_sent_total {sent} != fake delivered {delivered}")
    ok = value(samples, "mega_send_attempts_total", outcome="sent")
    check(ok == delivered, f'mega_send_attempts_total{{outcome="sent"}} {ok} != {delivered}')
    transient = value(samples, "mega_send_attempts_total", outcome="transient")
    check(transient == 2, f"transient attempts {transient}, fake injected 2")
    check(value(samples, "mega_retries_total") == 2, "mega_retries_total")
    attempts = sum(v for n, _, v in samples if n == "mega_send_attempts_total")
    check(attempts == int(fs["requests"]), f"attempts {attempts} != fake requests {fs['requests']}")
    check(value(samples, "mega_send_latency_seconds_count") == attempts,
          f"latency histogram count {value(samples, 'mega_send_latency_seconds_count')} != attempts {attempts}")
    check(value(samples, "mega_messages_failed_total") == 0, "failed_total")
    # the pushes were made durable by the flusher: its syncs are timed
    check(value(samples, "mega_queue_sync_seconds_count") >= 1, "no queue sync was timed")
    for p in ("high", "normal", "low"):
        check(value(samples, "mega_queue_depth", priority=p) == 0, f"queue depth {p}")
    check(value(samples, "mega_message_log_dropped_total") == 0, "log drops")
    st = ops.Admin(S["mega"]).stats()
    check(st["sent"] == sent and st["queue"]["total"] == 0, f"stats disagree with metrics: {st['sent']}")


def test_metrics_still_parse_after_failures():
    S["fake"].configure(fail_openids={"oMetFail": 43004})
    ops.push_all(S["mega"], ["oMetFail"], "order_paid")
    wait_until(lambda: value(scrape()[2], "mega_messages_failed_total") == 1, 30, "one failure")
    _, _, samples, _ = scrape()
    check(value(samples, "mega_send_attempts_total", outcome="permanent") == 1, "permanent outcome")
    check(value(samples, "mega_dead_letters") == 1, "dead letters gauge")


harness.run_tests(globals(), env=env, setup=setup)
