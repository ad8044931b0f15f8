"""Hostile clients on the protocol port (and one on the admin API): bodies nested millions
deep, length words that announce frames never sent, thousands of idle connections, more
clients than allowed, frames that never complete, silent clients, and header fields or data
that are not clean text. The server answers each with a clear error (or a close), stays up,
and keeps acknowledging the pushes of well-behaved clients.
"""

import os
import resource
import socket
import struct
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import delivery_support as ds  # noqa: E402
from harness import check, wait_until  # noqa: E402

env = harness.Env("tcp_hardening")
S = {}


def setup():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the test holds 10,000 sockets
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega()
    S["strict"] = env.mega("strict", overrides={
        "server": {"max_connections": 20, "frame_timeout_s": 1, "idle_timeout_s": 0}})
    S["slow_fake"] = env.fake_wechat(latency_ms=2500)
    S["idle"] = env.mega("idle", fake=S["slow_fake"], overrides={
        "server": {"idle_timeout_s": 1, "frame_timeout_s": 0}})


def rss_kb(mega):
    with open(f"/proc/{mega.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def push_ok(mega, openid="oHealthy"):
    with mega.client() as c:
        r = c.call_push(openid, "order_paid", {"product": "tea"})
        check(r.code == 200, f"a well-formed push after the attack: {r}")


def test_body_nested_a_million_deep_gets_400():
    body = "[" * 1_000_000
    with S["mega"].client() as c:
        r = c.call(harness.encode_push("oDeep", "order_paid", body, 7))
        check((r.code, r.opaque) == (400, 7), f"a million '[': {r}")
        check(b"not valid JSON" in r.message, f"reply text: {r.message!r}")
        r = c.call_push("oDeep2", "order_paid", {"a": {"b": [[[[1]]]]}})
        check(r.code == 200, f"the same connection goes on: {r}")
    check(S["mega"].proc.poll() is None, "mega is still running")
    push_ok(S["mega"])


def test_admin_test_message_nested_three_megabytes_deep_gets_400():
    mega = S["mega"]
    body = b'{"openid":"oDeep","key":"order_paid","data":' + b"[" * 3_000_000
    req = urllib.request.Request(ds.admin_base(mega) + "/api/test-message", data=body,
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=30)
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    check(status == 400, f"HTTP {status}")
    check(mega.proc.poll() is None, "mega is still running")
    push_ok(mega)


def test_length_words_do_not_reserve_memory():
    mega = S["mega"]
    push_ok(mega)
    before = rss_kb(mega)
    announced = 2465792 - 4  # the largest frame package_max_length allows
    socks = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", mega.port))
            s.sendall(struct.pack(">I", announced))
            socks.append(s)
        wait_until(lambda: ds.stats(mega)["connections"] >= 200, 30, "200 connections")
        push_ok(mega)  # the loop has read the length words: the next read knows the size
        for s in socks:
            s.sendall(b"\x00")
        push_ok(mega)  # and the one byte each
        push_ok(mega)
        grown_mb = (rss_kb(mega) - before) / 1024
        print(f"RSS grew by {grown_mb:.1f} MB for 200 connections announcing 2.4 MB each")
        check(grown_mb < 20, f"RSS grew by {grown_mb:.1f} MB")
    finally:
        for s in socks:
            s.close()


def test_ten_thousand_idle_connections_and_a_new_client():
    mega = S["mega"]
    before = rss_kb(mega)
    socks = []
    try:
        for _ in range(10_000):
            socks.append(socket.create_connection(("127.0.0.1", mega.port)))
        wait_until(lambda: ds.stats(mega)["connections"] >= 10_000, 60, "10,000 connections")
        push_ok(mega, "oAfterIdle")
        grown_kb = rss_kb(mega) - before
        print(f"RSS per idle connection: {grown_kb * 1024 / 10_000:.0f} bytes")
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: ds.stats(mega)["connections"] < 100, 60, "the idle connections to go")


def test_connections_over_the_limit_are_refused_with_a_reason():
    mega = S["strict"]
    held = [socket.create_connection(("127.0.0.1", mega.port)) for _ in range(20)]
    try:
        wait_until(lambda: ds.stats(mega)["connections"] >= 20, 30, "20 connections")
        extra = harness.Client(mega.port)
        r = extra.read_result(timeout=10)
        check((r.code, r.message) == (503, b"too many connections"), f"the 21st: {r}")
        check(extra.expect_closed(), "the refused client is closed")
        extra.close()
        check(ds.stats(mega)["connections_refused"] >= 1, "counted")
        wait_until(lambda: "connection limit 20 reached" in mega.output(), 10, "the log line")
    finally:
        for s in held:
            s.close()
    wait_until(lambda: ds.stats(mega)["connections"] == 0, 30, "the held connections to go")
    push_ok(mega)  # below the limit again


def test_incomplete_frame_is_closed_after_frame_timeout():
    mega = S["strict"]
    with mega.client() as slow, mega.client() as quiet:
        frame = harness.encode_push("oSlow", "order_paid", {"product": "tea"}, 3)
        slow.send_raw(frame[:9])
        r = quiet.call_push("oQuiet", "order_paid", None)  # complete: no timeout runs
        check(r.code == 200, f"quiet client: {r}")
        check(slow.expect_closed(timeout=15), "the client with half a frame is closed")
        r = quiet.call_push("oQuiet2", "order_paid", None)
        check(r.code == 200, f"an idle client without a partial frame stays: {r}")
    wait_until(lambda: "frame incomplete after 1 s" in mega.output(), 10, "the log line")


def test_idle_client_closed_but_not_one_waiting_for_its_send():
    mega = S["idle"]
    with mega.client() as idle, mega.client() as waiting:
        r = idle.call_push("oIdle", "order_paid", None)
        check(r.code == 200, f"push: {r}")
        # A send's reply comes with its delivery, 2.5 s later: longer than the idle timeout.
        r = waiting.call_send("oWaiting", "order_paid", {"product": "tea"}, timeout=30)
        check(r.code == 200, f"send answered after the idle timeout: {r}")
        check(idle.expect_closed(timeout=15), "the idle client is closed")


def test_header_fields_and_data_must_be_clean_text():
    bad = [
        ("oForged\n[2026-01-01\t00:00:00.000]\t[info]\tforged", {"product": "tea"}, "",
         b"invalid openid"),
        ("o\x1b[31mred", None, "", b"invalid openid"),
        ("o\u00e9", None, "", b"invalid openid"),
        ("oBadUtf8", b'{"product":"\xff\xfe"}', "", b"not valid JSON"),
        ("oSurrogate", '{"product":"\\udc00"}', "", b"not valid JSON"),
        ("oMsgkey", None, "msgkey=k\xff", b"bad value for msgkey"),
        ("oSource", None, "source=s\xc3", b"bad value for source"),
    ]
    with S["mega"].client() as c:
        for openid, data, options, reply in bad:
            header = f"push {openid} order_paid" + (f" {options}" if options else "")
            body = data if isinstance(data, (bytes, str)) else harness.php_json(data)
            frame = harness.encode_frame(header.encode("latin-1"), 11, body)
            r = c.call(frame)
            check(r.code == 400 and reply in r.message, f"{openid!r} {options!r}: {r}")
        r = c.call_push("oClean-ID_9", "order_paid", {"product": "订单 \\u00e9 😀"})
        check(r.code == 200, f"clean text: {r}")
    check("forged" not in S["mega"].output(), "nothing of the forged line reached the log")


harness.run_tests(globals(), env, setup)
