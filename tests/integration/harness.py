"""Integration-test harness for mega (Python 3 standard library only).

Each test script does:

    import harness
    env = harness.Env("golden")              # temp dir under $MEGA_BUILD_DIR/it/, cleaned at exit
    db = env.mariadb()                       # throwaway MariaDB on a free port (tools/mariadb-sandbox)
    db.put_template("order_paid", harness.ORDER_PAID)
    fake = env.fake_wechat(latency_ms=0)     # tools/fake-wechat on a free port
    mega = env.mega(overrides={"setting": {"package_max_length": 65536}})  # foreground server
    with mega.client() as c:
        r = c.call_push("oX", "order_paid", {"product": "tea"})
        assert r.code == 200
    harness.run_tests(globals())             # runs test_* functions in order, prints a summary

Everything started through an Env is stopped at exit (atexit, SIGTERM/SIGINT/SIGHUP and an
internal deadline below ctest's 300 s timeout), even when a test fails. Tests wait on events
with wait_until(); nothing asserts on timing.

Environment: MEGA_BUILD_DIR (default <source>/build), MEGA_SOURCE_DIR (default: two levels up
from this file), MEGA_FAKE_WECHAT (path of the fake-wechat binary, optional),
MEGA_KEEP_TMP=1 keeps the temp dir, MEGA_TEST_DEADLINE (seconds, default 280).
"""

import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

SOURCE_DIR = os.path.abspath(os.environ.get("MEGA_SOURCE_DIR") or
                             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("MEGA_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
GOLDEN_DIR = os.path.join(SOURCE_DIR, "tests", "golden")
SANDBOX = os.path.join(SOURCE_DIR, "tools", "mariadb-sandbox")

# A realistic WeChat template body (the shape of PROTOCOL.md's example).
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


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    """assert that survives python -O."""
    if not cond:
        raise TestFailure(msg)


# --------------------------------------------------------------------------------------------
# cleanup and deadline

_cleanups = []
_cleanup_lock = threading.Lock()


def on_exit(fn, *args):
    """Registers fn(*args) to run at exit (LIFO). Returns fn for chaining."""
    with _cleanup_lock:
        _cleanups.append((fn, args))
    return fn


def _run_cleanups():
    # Cleaning up must not be cut short by a second signal or the deadline.
    signal.alarm(0)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
    while True:
        with _cleanup_lock:
            if not _cleanups:
                return
            fn, args = _cleanups.pop()
        try:
            fn(*args)
        except BaseException as e:  # keep cleaning
            print(f"[harness] cleanup {getattr(fn, '__name__', fn)} failed: {e}", file=sys.stderr)


atexit.register(_run_cleanups)


def _on_signal(signum, _frame):
    raise SystemExit(f"[harness] got signal {signum}")


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


class DeadlineExceeded(Exception):
    pass


def _on_alarm(_signum, _frame):
    raise DeadlineExceeded(f"test script exceeded its deadline of {_DEADLINE}s "
                           "(ctest kills at 300 s; cleaning up first)")


_DEADLINE = int(os.environ.get("MEGA_TEST_DEADLINE", "280"))
signal.signal(signal.SIGALRM, _on_alarm)
signal.alarm(_DEADLINE)

try:  # loaded here, not in the forked child
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if this test process dies (even by kill -9).
    Only for children started from the main thread (the signal follows the parent thread)."""
    if _prctl is not None:
        _prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


# --------------------------------------------------------------------------------------------
# small utilities

def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


_EPHEMERAL_LOW = _ephemeral_low()
_port_rng = __import__("random").Random(os.getpid() ^ int(time.time() * 1000))


def free_port():
    """A port nothing listens on, for a server we start next. Picked below the ephemeral
    range when possible: there no outgoing connection can take it before the server binds."""
    if _EPHEMERAL_LOW > 12000:
        for _ in range(200):
            port = _port_rng.randrange(10000, _EPHEMERAL_LOW)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            if not port_open(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout=60, what="condition", interval=0.03):
    """Polls predicate() until it returns something truthy and returns that; raises
    TestFailure naming `what` (a string, or a callable giving a string for the last state)
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
            last_exc = None
        except (OSError, ValueError, urllib.error.URLError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            desc = what() if callable(what) else what
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise TestFailure(f"timed out after {timeout}s waiting for {desc}{extra}")
        time.sleep(interval)


def tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
        return "\n".join(data.splitlines()[-lines:])
    except OSError as e:
        return f"<{path}: {e}>"


def pid_alive(pid):
    """True if pid runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] not in "ZX"
    except (OSError, ValueError, IndexError):
        return False


def run_captured(cmd, cwd=None, timeout=60, env=None):
    """subprocess.run with stdout/stderr through temp files (safe with daemons)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                               timeout=timeout, env=env)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = None
        out.seek(0)
        err.seek(0)
        cp = subprocess.CompletedProcess(cmd, rc, out.read(), err.read())
    if rc is None:
        raise TestFailure(f"{' '.join(map(str, cmd))} did not finish within {timeout}s; "
                          f"output: {cp.stdout[-500:]!r} {cp.stderr[-500:]!r}")
    return cp


def is_mega(pid):
    """True if pid runs a mega binary (guards against a stale pid file)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0]
        return os.path.basename(argv0) == b"mega"
    except OSError:
        return False


def php_json(data):
    """The body a PHP client sends: json_encode (\\uXXXX and \\/ escapes) or `null`."""
    if data is None:
        return b"null"
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def find_binary(name, candidates):
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise TestFailure(f"{name} not found; looked at: {', '.join(c for c in candidates if c)}")


def mega_binary():
    return find_binary("mega", [os.path.join(BUILD_DIR, "mega")])


def mega_cli_binary():
    return find_binary("mega-cli", [os.path.join(BUILD_DIR, "mega-cli"),
                                    os.path.join(BUILD_DIR, "client", "mega-cli")])


def fake_wechat_binary():
    return find_binary("fake-wechat", [
        os.environ.get("MEGA_FAKE_WECHAT"),
        os.path.join(BUILD_DIR, "tools", "fake-wechat", "fake-wechat"),
        os.path.join(BUILD_DIR, "fake-wechat"),
        os.path.join(SOURCE_DIR, "build-fake", "tools", "fake-wechat", "fake-wechat"),
    ])


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
    """packLength headerLength header opaque [bodyLength body] (PROTOCOL.md)."""
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
# MariaDB

def sql_quote(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MariaDB:
    """tools/mariadb-sandbox on `port` with data under `dir`."""

    def __init__(self, dir, port):
        self.dir, self.port = dir, port

    def _sandbox(self, *args, input=None, timeout=120):
        # Its own process group, so that an interrupted call (signal, deadline) takes its
        # children (mariadb-install-db, the client) with it; mariadbd itself runs in a session
        # of its own and is stopped by `stop`, which finds it even without its pid file.
        proc = subprocess.Popen([SANDBOX, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            raise
        if proc.returncode != 0:
            raise TestFailure(f"mariadb-sandbox {' '.join(args)} failed ({proc.returncode}):\n"
                              f"{err.decode(errors='replace')}")
        return out.decode("utf-8", "replace")

    def start(self):
        self._sandbox("start", self.dir, str(self.port))
        return self

    def stop(self):
        self._sandbox("stop", self.dir, str(self.port))

    def sql(self, text):
        """Runs SQL in database mega; returns rows as lists of strings."""
        out = self._sandbox("sql", self.dir, str(self.port), input=text.encode())
        return [line.split("\t") for line in out.splitlines()]

    def put_template(self, key, template, title=""):
        now = int(time.time())
        self.sql("REPLACE INTO mega_wechat_template (tmpl_key, title, template, created_at, "
                 f"updated_at) VALUES ({sql_quote(key)}, {sql_quote(title or key)}, "
                 f"{sql_quote(template)}, {now}, {now});")

    def delete_template(self, key):
        self.sql(f"DELETE FROM mega_wechat_template WHERE tmpl_key = {sql_quote(key)};")

    def dsn(self):
        return f"mysql:host=127.0.0.1;port={self.port};dbname=mega"


# --------------------------------------------------------------------------------------------
# fake-wechat

class FakeWechat:
    def __init__(self, env, latency_ms=0, appid="wxtest", secret="secret", extra_args=()):
        self.env = env
        self.log_path = os.path.join(env.dir, f"fake-wechat-{len(env.fakes)}.log")
        self.log = open(self.log_path, "wb")
        cmd = [fake_wechat_binary(), "--port", "0", "--latency-ms", str(latency_ms),
               "--appid", appid, "--secret", secret, *extra_args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log, preexec_fn=_die_with_parent)
        on_exit(self.stop)
        self.port = None
        found = threading.Event()

        def pump():  # copy stdout to the log, note the port
            for line in self.proc.stdout:
                self.log.write(line)
                self.log.flush()
                m = re.search(rb"fake-wechat listening on 127\.0\.0\.1:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(30) or self.port is None:
            raise TestFailure(f"fake-wechat did not print its port; log:\n{tail(self.log_path)}")
        self.base = f"http://127.0.0.1:{self.port}"
        self._next = 0
        self._messages = []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _http(self, method, path, body=None, timeout=15):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
        return json.loads(text) if text.strip() else None

    def stats(self):
        return self._http("GET", "/fake/stats")

    def delivered(self):
        return int(self.stats().get("delivered", 0))

    def configure(self, **kw):
        return self._http("POST", "/fake/config", kw)

    def reset(self):
        self._next = 0
        self._messages = []
        return self._http("POST", "/fake/reset", {})

    def messages(self):
        """All messages received so far (accumulated across calls)."""
        while True:
            page = self._http("GET", f"/fake/messages?since={self._next}")
            msgs = page.get("messages") or []
            self._messages.extend(msgs)
            nxt = int(page.get("next", self._next + len(msgs)))
            if not msgs or nxt == self._next:
                self._next = nxt
                return self._messages
            self._next = nxt

    def messages_to(self, openid):
        return [m for m in self.messages() if m.get("touser") == openid]

    @staticmethod
    def body_of(message):
        b = message.get("body")
        return json.loads(b) if isinstance(b, str) else b


# --------------------------------------------------------------------------------------------
# mega

def render_ini(sections):
    """{section: {key: value | [values]}} → ini text. A list repeats the key (listen[])."""
    out = []
    for sec, kv in sections.items():
        out.append(f"[{sec}]")
        for k, v in kv.items():
            if v is None:
                continue
            for item in (v if isinstance(v, list) else [v]):
                out.append(f"{k} = {item}")
        out.append("")
    return "\n".join(out)


class Mega:
    """One mega server: its ini, its directory, its process (foreground unless daemonized)."""

    def __init__(self, env, name, sections, cwd=None, ini_bytes=None):
        """`sections` is written as the ini, unless `ini_bytes` is given: then that is the
        file and `sections` only tells listen[], queue_file_path, pid_file and log_file."""
        self.env = env
        self.name = name
        self.dir = os.path.join(env.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sections = sections
        self.ini = os.path.join(self.dir, "mega.ini")
        with open(self.ini, "wb") as f:
            f.write(ini_bytes if ini_bytes is not None else render_ini(sections).encode())
        listen = sections["server"]["listen[]"]
        listen = listen[0] if isinstance(listen, list) else listen
        self.port = int(listen.rsplit(":", 1)[1])
        self.log_file = sections.get("log", {}).get("log_file", "")
        self.cwd = cwd or self.dir
        self.wrapper = []  # e.g. ["strace", …]: the command mega runs under
        self.proc = None
        self.runs = 0
        on_exit(self.kill)

    @property
    def pid_file(self):
        return self.sections["server"].get("pid_file") or os.path.join(
            self.sections["server"]["queue_file_path"], "mega.pid")

    def _out(self, which):
        return os.path.join(self.dir, f"mega.{which}.{self.runs}")

    def start(self, wait=True, timeout=60):
        """Starts `mega -c INI start` in the foreground (daemonize = 0)."""
        self.runs += 1
        self.proc = subprocess.Popen(
            [*self.wrapper, mega_binary(), "-c", self.ini, "start"], cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=open(self._out("stdout"), "wb"), stderr=open(self._out("stderr"), "wb"),
            preexec_fn=_die_with_parent)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=60):
        def ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise TestFailure(f"mega exited with {self.proc.returncode} during start\n"
                                  + self.diagnostics())
            return port_open(self.port)
        wait_until(ready, timeout, f"mega to accept connections on port {self.port}")

    def stop(self, timeout=60):
        """SIGTERM; returns the exit status (None if it was not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure(f"mega did not exit within {timeout}s of SIGTERM\n"
                              + self.diagnostics())

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # a daemonized instance is not our child: use its pid file
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().split()[0])
            if pid_alive(pid) and is_mega(pid):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def cli(self, *args, timeout=60, cwd=None, argv=None):
        """Runs `mega -c INI ARGS…` (or `mega ARGV…`) to completion: start with
        daemonize = 1, stop, status. Output goes through files, not pipes, so a daemon that
        keeps an inherited descriptor cannot block us. Returns a CompletedProcess (bytes)."""
        return run_captured([mega_binary(), *(argv or ["-c", self.ini, *args])],
                            cwd=cwd or self.cwd, timeout=timeout)

    def client(self, timeout=30):
        return Client(self.port, timeout=timeout)

    def diagnostics(self, lines=30):
        parts = [f"--- mega[{self.name}] stderr:\n{tail(self._out('stderr'), lines)}"]
        if self.log_file:
            parts.append(f"--- mega[{self.name}] log {self.log_file}:\n{tail(self.log_file, lines)}")
        return "\n".join(parts)

    def output(self):
        """stdout + stderr + log of the current run, as text."""
        text = ""
        for p in (self._out("stdout"), self._out("stderr"), self.log_file):
            if p:
                try:
                    with open(p, "rb") as f:
                        text += f.read().decode("utf-8", "replace") + "\n"
                except OSError:
                    pass
        return text


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
            self.db = MariaDB(os.path.join(self.dir, "db"), free_port())
            on_exit(self.db.stop)
            self.db.start()
        for k, v in (templates or {}).items():
            self.db.put_template(k, v)
        return self.db

    def fake_wechat(self, latency_ms=0, **kw):
        f = FakeWechat(self, latency_ms=latency_ms, **kw)
        self.fakes.append(f)
        return f

    def mega_sections(self, name="mega", fake=None, db=None, overrides=None):
        """The default ini of a test server (see the brief), with overrides merged in
        ({section: {key: value}}, value None removes the key)."""
        fake = fake or (self.fakes[0] if self.fakes else None)
        db = db or self.db
        d = os.path.join(self.dir, name)
        sections = {
            "server": {"listen[]": f"127.0.0.1:{free_port()}", "table_size": 100,
                       "queue_file_path": os.path.join(d, "queue")},
            "setting": {"daemonize": 0},
            "pdo": {"dsn": f'"{db.dsn() if db else "mysql:host=127.0.0.1;port=1;dbname=mega"}"',
                    "username": "root", "password": "root"},
            "wechat": {"app_id": "wxtest", "app_secret": "secret",
                       "api_base": f"http://127.0.0.1:{fake.port if fake else 1}"},
            "log": {"log_file": os.path.join(d, "mega.log"), "log_level": "info"},
            # the admin API defaults to 127.0.0.1:9502: tests running side by side need their own
            "admin": {"listen": f"127.0.0.1:{free_port()}"},
        }
        for sec, kv in (overrides or {}).items():
            sections.setdefault(sec, {})
            for k, v in kv.items():
                if v is None:
                    sections[sec].pop(k, None)
                else:
                    sections[sec][k] = v
        return sections

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
