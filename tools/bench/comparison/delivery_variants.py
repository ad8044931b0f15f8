"""Drain runs beside the delivery section's plain ones: mega delivering over HTTPS (fake-wechat
with a throwaway certificate made now, trusted through [wechat] ca_file), for the CPU cost
of TLS; and mega on its Redis queue backend with 1, 2 and 3 nodes, for the rate next to the
file backend's at the same fake latency."""

import os
import shutil

from . import log, megastack
from .drain import drain_run, warm_drain
from .redis_queue import RedisQueueMega
from .systems import MegaServer


def tls_fake(bins, work):
    """fake-wechat serving HTTPS with a certificate made now; returns (fake, cert path)."""
    cert, key = megastack.throwaway_certificate(os.path.join(work, "tls"))
    fake = megastack.FakeWechat(bins["fake-wechat"], os.path.join(work, "fake-wechat-tls.log"),
                                tls=(cert, key))
    return fake, cert


def tls_delivery_row(args, bins, db, work, latency=0):
    fake, cert = tls_fake(bins, work)
    try:
        fake.configure(latency_ms=latency)
        db.sql("TRUNCATE TABLE mega_message_log;")
        mega = MegaServer(bins["mega"], work, f"delivery-tls-{latency}", "interval", db, fake,
                          {"wechat": {"api_base": fake.https_base, "ca_file": cert}})
        try:
            row = {"latency_ms": latency, "variant": "tls",
                   **warm_drain(args, bins, mega, fake, args.delivery_messages,
                                args.delivery_timeout)}
        finally:
            mega.stop()
    finally:
        fake.stop()
    log(f"  delivery over HTTPS at latency {latency} ms: {row['msgs_per_s']:.0f} msgs/s, "
        f"{row['cpu_per_1000']} CPU s per 1,000")
    return row


def redis_queue_rows(args, bins, db, fake, work, latency):
    rows = []
    for nodes in args.redis_nodes:
        fake.reset()
        fake.configure(latency_ms=latency)
        db.sql("TRUNCATE TABLE mega_message_log;")
        server = RedisQueueMega(bins["mega"], work, f"delivery-redis-{nodes}", "everysec", db,
                                fake, nodes)
        try:
            row = {"latency_ms": latency, "variant": f"redis-{nodes}", "nodes": nodes,
                   **drain_run(args, bins, server, fake, args.delivery_messages,
                               args.delivery_timeout)}
        finally:
            server.stop()
        log(f"  delivery, Redis queue, {nodes} node(s), latency {latency} ms: "
            f"{row['msgs_per_s']:.0f} msgs/s ({row['delivered']}/{row['messages']})")
        rows.append(row)
    return rows


def delivery_variants(args, bins, db, fake, work):
    rows = []
    if not args.no_tls:
        if shutil.which("openssl"):
            rows.append(tls_delivery_row(args, bins, db, work))
        else:
            log("openssl is not installed: no HTTPS drain run")
    if args.redis_nodes:
        rows += redis_queue_rows(args, bins, db, fake, work, args.redis_delivery_latency)
    return rows
