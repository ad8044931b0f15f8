"""Integration-test harness for mega (Python 3 standard library only).

Each test script does:

    import harness
    env = harness.Env("golden")              # temp dir under $MEGA_BUILD_DIR/it/, cleaned at exit
    db = env.mariadb()                       # throwaway MariaDB (tools/mariadb-sandbox)
    db.put_template("order_paid", harness.ORDER_PAID)
    fake = env.fake_wechat(latency_ms=0)     # tools/fake-wechat on port 0
    mega = env.mega(overrides={"setting": {"package_max_length": 65536}})  # foreground server
    mega.port, mega.admin_base               # the ports it got (port 0, from its status file)
    with mega.client() as c:
        r = c.call_push("oX", "order_paid", {"product": "tea"})
        assert r.code == 200
    harness.run_tests(globals())             # runs test_* functions in order, prints a summary

The servers are started by tools/megastack.py (shared with tests/e2e/stack.py and
tools/bench/compare), which binds every port it can to port 0 and reads back the port each
server got: no port is guessed. Everything started through an Env is stopped at exit (atexit,
SIGTERM/SIGINT/SIGHUP and an internal deadline below ctest's 300 s timeout), even when a test
fails. Tests wait on events with wait_until(); nothing asserts on timing.

Environment: MEGA_BUILD_DIR (default <source>/build), MEGA_SOURCE_DIR (default: two levels up
from this file), MEGA_FAKE_WECHAT (path of the fake-wechat binary, optional),
MEGA_KEEP_TMP=1 keeps the temp dir, MEGA_TEST_DEADLINE (seconds, default 280).
"""

import json
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import megastack  # noqa: E402
from megastack import (SANDBOX, SOURCE_DIR, BUILD_DIR, closed_port, find_binary,  # noqa: E402,F401
                       fake_wechat_binary, is_mega, mega_binary, mega_cli_binary, on_exit,
                       pid_alive, port_open, read_status, render_ini, run_captured, sql_quote,
                       tail, wait_until)

GOLDEN_DIR = os.path.join(SOURCE_DIR, "tests", "golden")

# A realistic WeChat template body (the shape of the original's documented example).
ORDER_PAID = json.dumps({
    "touser": "${OPENID}",
    "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
    "url": "http://weixin.qq.com/download",
    "data": {
        "first": {"value": "Your order has been paid", "color": "#173177"},
        "keyword1": {"value": "${product}", "color": "#173177"},
        "keyword2": {"value": "${price}", "color": "#173177"},
        "remark": {"value": "Thank you for your purchase!", "color": "#173177"},
    },
}, ensure_ascii=False, separators=(",", ":"))

WELCOME = json.dumps({
    "touser": "${OPENID}",
    "template_id": "Wq3sL0dGk1pVt1p0kA7mVb6dZ2wQ9nR3xY5cE8fH4jU",
    "url": "${url}",
    "data": {
        "first": {"value": "Welcome!", "color": "#173177"},
        "name": {"value": "${name}", "color": "#173177"},
    },
}, ensure_ascii=False, separators=(",", ":"))


# A failed check, or a server that did not start or answer (megastack raises it too).
TestFailure = megastack.StackError


def check(cond, msg):
    """assert that survives python -O."""
    if not cond:
        raise TestFailure(msg)


# --------------------------------------------------------------------------------------------
# deadline: below ctest's 300 s timeout, so that the cleanups still run

class DeadlineExceeded(Exception):
    pass


def _on_alarm(_signum, _frame):
    raise DeadlineExceeded(f"test script exceeded its deadline of {_DEADLINE}s "
                           "(ctest kills at 300 s; cleaning up first)")


_DEADLINE = int(os.environ.get("MEGA_TEST_DEADLINE", "280"))
signal.signal(signal.SIGALRM, _on_alarm)
signal.alarm(_DEADLINE)

_die_with_parent = megastack.die_with_parent


def php_json(data):
    """The body a PHP client sends: json_encode (\\uXXXX and \\/ escapes) or `null`."""
    if data is None:
        return b"null"
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


# --------------------------------------------------------------------------------------------
# wire protocol

class ProtocolError(Exception):
    pass


class Closed(Exception):
    """The server closed the connection (EOF or reset)."""


class Result:
    __slots__ = ("code", "opaque", "message", "raw")

    def __init__(self, code, opaque, message, raw):
        self.code, self.opaque, self.message, self.raw = code, opaque, message, raw

    def text(self):
        return self.message.decode("utf-8", "replace")

    def __repr__(self):
        return f"Result(code={self.code}, opaque={self.opaque}, message={self.message!r})"


def encode_frame(header, opaque, body=None):
    """packLength headerLength header opaque [bodyLength body] (protocol/Frame.h)."""
    if isinstance(header, str):
        header = header.encode()
    payload = struct.pack(">I", len(header)) + header + struct.pack(">I", opaque & 0xFFFFFFFF)
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        payload += struct.pack(">I", len(body)) + body
    return struct.pack(">I", len(payload)) + payload


def encode_push(openid, key, data=None, opaque=0, options=""):
    body = data if isinstance(data, (bytes, str)) else php_json(data)
    return encode_frame(f"push {openid} {key}{' ' + options if options else ''}", opaque, body)


def encode_send(openid, key, data=None, opaque=0, options=""):
    body = data if isinstance(data, (bytes, str)) else php_json(data)
    return encode_frame(f"send {openid} {key}{' ' + options if options else ''}", opaque, body)


def encode_tset(key, opaque=0):
    return encode_frame(f"tset {key}", opaque)


def decode_result(buf):
    """Decodes one reply frame from the start of buf. Returns (Result, consumed) or
    (None, 0) when buf holds less than a frame. Raises ProtocolError on a malformed frame."""
    if len(buf) < 4:
        return None, 0
    (pack_len,) = struct.unpack_from(">I", buf, 0)
    if pack_len > 16 << 20:
        raise ProtocolError(f"absurd reply packLength {pack_len}")
    if len(buf) < 4 + pack_len:
        return None, 0
    frame = bytes(buf[:4 + pack_len])
    p = 4
    if pack_len < 12:
        raise ProtocolError(f"reply too short: {frame.hex()}")
    (hl,) = struct.unpack_from(">I", frame, p)
    p += 4
    if p + hl + 8 > len(frame):
        raise ProtocolError(f"bad headerLength {hl} in {frame.hex()}")
    header = frame[p:p + hl].decode("ascii", "replace")
    p += hl
    (opaque,) = struct.unpack_from(">I", frame, p)
    p += 4
    (ml,) = struct.unpack_from(">I", frame, p)
    p += 4
    if p + ml != len(frame):
        raise ProtocolError(f"msgLength {ml} does not match packLength {pack_len}: {frame.hex()}")
    words = header.split(" ")
    if len(words) != 2 or words[0] != "result" or not words[1].isdigit():
        raise ProtocolError(f"not a result header: {header!r}")
    return Result(int(words[1]), opaque, frame[p:], frame), 4 + pack_len


class Client:
    """A blocking protocol client. Supports pipelining: write many frames, then read_result()
    as many times; replies are decoded from one stream buffer."""

    def __init__(self, port, host="127.0.0.1", timeout=30):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.next_opaque = 1
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def opaque(self):
        o = self.next_opaque
        self.next_opaque = (self.next_opaque + 1) & 0xFFFFFFFF
        return o

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            raise Closed("server closed the connection")
        self.buf += chunk

    def read_result(self, timeout=None):
        """The next reply. Raises Closed on EOF, socket.timeout when nothing came in time."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            r, n = decode_result(self.buf)
            if r is not None:
                del self.buf[:n]
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"no reply within {timeout}s (have {len(self.buf)} bytes)")
            self._fill(left)

    def expect_closed(self, timeout=10):
        """True if the server closes the connection within timeout with nothing more sent.
        Raises TestFailure if more bytes arrive."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buf:
                raise TestFailure(f"expected close, got more bytes: {bytes(self.buf[:200])!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._fill(left)
            except Closed:
                return True
            except socket.timeout:
                return False

    def call(self, frame, timeout=None):
        self.send_raw(frame)
        return self.read_result(timeout)

    def call_push(self, openid, key, data=None, opaque=None, options="", timeout=None):
        return self.call(encode_push(openid, key, data, self.opaque() if opaque is None else opaque,
                                     options), timeout)

    def call_send(self, openid, key, data=None, opaque=None, options="", timeout=None):
        return self.call(encode_send(openid, key, data, self.opaque() if opaque is None else opaque,
                                     options), timeout)

    def call_tset(self, key, opaque=None, timeout=None):
        return self.call(encode_tset(key, self.opaque() if opaque is None else opaque), timeout)


# --------------------------------------------------------------------------------------------
# the servers (tools/megastack.py), tied to an Env

MariaDB = megastack.MariaDB


class FakeWechat(megastack.FakeWechat):
    def __init__(self, env, latency_ms=0, appid="wxtest", secret="secret", extra_args=()):
        log_path = os.path.join(env.dir, f"fake-wechat-{len(env.fakes)}.log")
        super().__init__(fake_wechat_binary(), log_path, latency_ms=latency_ms, appid=appid,
                         secret=secret, extra_args=extra_args)


class Mega(megastack.Mega):
    """megastack.Mega under the Env's directory, with a protocol client."""

    def __init__(self, env, name, sections, cwd=None, ini_bytes=None):
        super().__init__(os.path.join(env.dir, name), sections, cwd=cwd, ini_bytes=ini_bytes,
                         name=name)
        self.env = env

    def client(self, timeout=30):
        return Client(self.port, timeout=timeout)


# --------------------------------------------------------------------------------------------
# the environment of one test script

class Env:
    def __init__(self, name):
        self.name = name
        root = os.path.join(BUILD_DIR, "it")
        os.makedirs(root, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=f"{name[:10]}-", dir=root)
        # a unix socket path is at most 107 bytes: fall back to /tmp for a deep build dir
        if len(os.path.join(self.dir, "db", "mysqld.sock")) > 100:
            os.rmdir(self.dir)
            self.dir = tempfile.mkdtemp(prefix=f"mega-{name[:10]}-")
        self.failed = False
        self.db = None
        self.fakes = []
        self.megas = []
        on_exit(self._remove_dir)

    def _remove_dir(self):
        if os.environ.get("MEGA_KEEP_TMP"):
            print(f"[harness] kept {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def mariadb(self, templates=None):
        """Starts the sandbox MariaDB (once per Env) and stores `templates` {key: text}."""
        if self.db is None:
            self.db = MariaDB(os.path.join(self.dir, "db")).start()
        for k, v in (templates or {}).items():
            self.db.put_template(k, v)
        return self.db

    def redis(self, name="redis", aof=True):
        """A redis-server under the Env's directory (megastack.RedisServer), started."""
        return megastack.RedisServer(os.path.join(self.dir, name), aof=aof).start()

    def fake_wechat(self, latency_ms=0, **kw):
        f = FakeWechat(self, latency_ms=latency_ms, **kw)
        self.fakes.append(f)
        return f

    def mega_sections(self, name="mega", fake=None, db=None, overrides=None):
        """The default ini of a test server (megastack.mega_sections: both listeners on
        port 0), with overrides merged in ({section: {key: value}}, value None removes
        the key)."""
        fake = fake or (self.fakes[0] if self.fakes else None)
        return megastack.mega_sections(os.path.join(self.dir, name), fake, db or self.db,
                                       overrides)

    def mega(self, name="mega", overrides=None, start=True, fake=None, db=None):
        m = Mega(self, name, self.mega_sections(name, fake, db, overrides))
        self.megas.append(m)
        if start:
            m.start()
        return m

    def diagnostics(self):
        parts = [m.diagnostics() for m in self.megas]
        for i, f in enumerate(self.fakes):
            parts.append(f"--- fake-wechat[{i}] log:\n{tail(f.log_path, 15)}")
        if self.db:
            parts.append(f"--- mariadb error log:\n{tail(os.path.join(self.db.dir, 'mariadbd.err'), 10)}")
        return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# runner

def run_tests(namespace, env=None, setup=None):
    """Runs every test_* function of `namespace` in definition order. Prints PASS/FAIL per
    test, the diagnostics of `env` on failure, and a closing 'N passed, N failed' line;
    exits 1 if anything failed (including setup)."""
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    script = os.path.basename(sys.argv[0])
    passed = failed = 0
    try:
        if setup is not None:
            setup()
    except BaseException as e:
        print(f"SETUP FAILED: {e!r}")
        traceback.print_exc(file=sys.stdout)
        if env is not None:
            print(env.diagnostics())
        print(f"{script}: 0 passed, {len(tests)} failed")
        sys.stdout.flush()
        sys.exit(1)
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"PASS {name} ({time.monotonic() - t0:.1f}s)")
        except DeadlineExceeded:
            failed += 1
            print(f"FAIL {name}: deadline exceeded")
            traceback.print_exc(file=sys.stdout)
            break
        except Exception as e:
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.1f}s): {e}")
            traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
    failed += len(tests) - passed - failed  # not run after a deadline
    if failed and env is not None:
        print("=== diagnostics ===")
        print(env.diagnostics())
    print(f"{script}: {passed} passed, {failed} failed")
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
