"""The stack mega runs on for its tests and benchmarks: a sandbox MariaDB (tools/mariadb-sandbox),
tools/fake-wechat and mega itself, started as processes and stopped at exit. The integration
tests (tests/integration/harness.py), the browser test (tests/e2e/stack.py) and the benchmarks
(tools/bench/compare) all start their servers through this module (Python 3 standard library).

Ports never collide: mega binds port 0 (`listen[]` and `[admin] listen`) and writes the ports
it got into <queue_file_path>/status; fake-wechat binds port 0 and prints its port; MariaDB
cannot bind port 0 and report, so the sandbox picks a port below the ephemeral range and
retries on a collision. Nothing here guesses a free port for a server that binds port 0.

Every process started here is stopped at exit (atexit, SIGTERM/SIGINT/SIGHUP), even when the
caller fails, and dies with the Python process if that is killed (PR_SET_PDEATHSIG).
"""

import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

SOURCE_DIR = os.path.abspath(os.environ.get("MEGA_SOURCE_DIR") or
                             os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BUILD_DIR = os.path.abspath(os.environ.get("MEGA_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
SANDBOX = os.path.join(SOURCE_DIR, "tools", "mariadb-sandbox")


class StackError(AssertionError):
    """A server did not start, did not answer, or a wait timed out."""


# --------------------------------------------------------------------------------------------
# cleanup at exit

_cleanups = []
_cleanup_lock = threading.Lock()


def on_exit(fn, *args):
    """Registers fn(*args) to run at exit (last registered runs first). Returns a handle for
    forget_on_exit()."""
    entry = (fn, args)
    with _cleanup_lock:
        _cleanups.append(entry)
    return entry


def forget_on_exit(handle):
    """Drops a cleanup registered by on_exit() (it already ran, say)."""
    with _cleanup_lock:
        for i in range(len(_cleanups) - 1, -1, -1):
            if _cleanups[i] is handle:
                del _cleanups[i]
                return


def run_cleanups():
    # Cleaning up must not be cut short by a second signal or by a deadline alarm.
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
            print(f"[stack] cleanup {getattr(fn, '__name__', fn)} failed: {e}", flush=True)


atexit.register(run_cleanups)


def _on_signal(signum, _frame):
    raise SystemExit(f"[stack] got signal {signum}")


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)

try:  # loaded here, not in the forked child
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if this process dies (even by kill -9). Only for
    children started from the main thread (the signal follows the parent thread)."""
    if _prctl is not None:
        _prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


# --------------------------------------------------------------------------------------------
# small utilities

def wait_until(predicate, timeout=60, what="condition", interval=0.03):
    """Polls predicate() until it returns something truthy and returns that; raises
    StackError naming `what` (a string, or a callable giving one for the last state) after
    `timeout` seconds. OSError and ValueError from predicate() count as "not yet"."""
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
            raise StackError(f"timed out after {timeout}s waiting for {desc}{extra}")
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def closed_port(reusable=False):
    """A port that refuses connections, for a test of an unreachable peer: a socket bound to
    port 0 and never listening, held until exit. While it is held the OS gives that port to
    no other bind to port 0 and to no outgoing connection. With `reusable` it has
    SO_REUSEADDR, so that a server setting SO_REUSEADDR too (fake-wechat does) can later be
    started on it explicitly."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reusable:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    on_exit(s.close)
    return s.getsockname()[1]


def port_below_ephemeral(rng):
    """A random port for a server that cannot bind port 0 and report (Redis): below the
    ephemeral range, where no bind to port 0 and no outgoing connection lands. It may still
    be taken by another such server: the caller starts the server and retries on a collision."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(v) for v in f.read().split()[:2])
    except (OSError, ValueError):
        low, high = 32768, 60999
    return rng.randrange(10000, low) if low > 11000 else rng.randrange(high + 1, 65536)


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


def is_mega(pid):
    """True if pid runs a mega binary (guards against a stale pid or status file)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0]
        return os.path.basename(argv0) == b"mega"
    except OSError:
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
        raise StackError(f"{' '.join(map(str, cmd))} did not finish within {timeout}s; "
                         f"output: {cp.stdout[-500:]!r} {cp.stderr[-500:]!r}")
    return cp


def http_json(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read()
    return json.loads(text) if text.strip() else None


def find_binary(name, candidates):
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise StackError(f"{name} not found; looked at: {', '.join(c for c in candidates if c)}")


def mega_binary(build_dir=BUILD_DIR):
    return find_binary("mega", [os.path.join(build_dir, "mega")])


def mega_cli_binary(build_dir=BUILD_DIR):
    return find_binary("mega-cli", [os.path.join(build_dir, "mega-cli"),
                                    os.path.join(build_dir, "client", "mega-cli")])


def fake_wechat_binary(build_dir=BUILD_DIR):
    return find_binary("fake-wechat", [
        os.environ.get("MEGA_FAKE_WECHAT"),
        os.path.join(build_dir, "tools", "fake-wechat", "fake-wechat"),
        os.path.join(build_dir, "fake-wechat"),
        os.path.join(SOURCE_DIR, "build-fake", "tools", "fake-wechat", "fake-wechat"),
    ])


class Process:
    """A server process (stdout and stderr into `log_path`), stopped at exit: stop() sends
    SIGTERM, then SIGKILL after `timeout`."""

    def __init__(self, cmd, log_path, cwd=None, stdout=None):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log if stdout is None else stdout,
                                     stderr=self.log, cwd=cwd, preexec_fn=die_with_parent)
        self._cleanup = on_exit(self.stop)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        forget_on_exit(self._cleanup)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------------------------
# Redis ([queue] backend = redis)

class RedisServer:
    """A redis-server of its own on a unix socket under `dir` (no TCP port: nothing to guess),
    with its append-only file fsynced on every write when `aof` (appendfsync always), so a
    restart from the same `dir` has every answered write. command() speaks RESP for checks."""

    def __init__(self, dir, aof=True):
        self.dir, self.aof, self.proc = dir, aof, None
        os.makedirs(dir, exist_ok=True)
        self.sock = os.path.join(dir, "redis.sock")
        self.url = "unix://" + self.sock

    def start(self):
        self.proc = Process(["redis-server", "--port", "0", "--unixsocket", self.sock,
                             "--unixsocketperm", "700", "--dir", self.dir, "--save", "",
                             "--appendonly", "yes" if self.aof else "no",
                             "--appendfsync", "always"], os.path.join(self.dir, "redis.log"))
        wait_until(lambda: self._ping(), 20, f"redis-server on {self.sock}")
        return self

    def _ping(self):
        try:
            return self.command("PING") == "PONG"
        except (OSError, StackError):  # not up yet, or still loading its AOF
            return False

    def stop(self):
        self.proc.stop()

    def kill(self):
        self.proc.kill()

    def command(self, *args, timeout=10):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            out = f"*{len(args)}\r\n".encode()
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += f"${len(a)}\r\n".encode() + a + b"\r\n"
            s.sendall(out)
            return _resp_read(s.makefile("rb"))


def _resp_read(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise StackError("redis: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:n]
        return data
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise StackError(f"redis: unexpected reply {line!r}")


# --------------------------------------------------------------------------------------------
# MariaDB

def sql_quote(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MariaDB:
    """tools/mariadb-sandbox with its data under `dir`: start() picks a free port (or takes
    `port`), `port` says which; stopped at exit."""

    def __init__(self, dir, port=0):
        self.dir, self.port = dir, port
        on_exit(self.stop)

    def _sandbox(self, *args, input=None, timeout=180):
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
            raise StackError(f"mariadb-sandbox {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{err.decode(errors='replace')}")
        return out.decode("utf-8", "replace")

    def start(self):
        """Starts it (again, after stop(): on the same port). Prints nothing."""
        out = self._sandbox("start", self.dir, str(self.port))
        self.port = int(out.split()[-1])
        return self

    def stop(self):
        if os.path.isdir(self.dir):
            self._sandbox("stop", self.dir, str(self.port))

    def sql(self, text):
        """Runs SQL in database mega (over the unix socket); returns rows as lists of strings."""
        out = self._sandbox("sql", self.dir, str(self.port), input=text.encode())
        return [line.split("\t") for line in out.splitlines()]

    def put_template(self, key, template, title="", at=None):
        now = int(time.time()) if at is None else at
        self.sql("REPLACE INTO mega_wechat_template (tmpl_key, title, template, created_at, "
                 f"updated_at) VALUES ({sql_quote(key)}, {sql_quote(title or key)}, "
                 f"{sql_quote(template)}, {now}, {now});")

    def delete_template(self, key):
        self.sql(f"DELETE FROM mega_wechat_template WHERE tmpl_key = {sql_quote(key)};")

    def dsn(self):
        return f"mysql:host=127.0.0.1;port={self.port};dbname=mega"


# --------------------------------------------------------------------------------------------
# fake-wechat

def throwaway_certificate(dir):
    """A self-signed certificate for 127.0.0.1 and its key, made now with `openssl req`
    (never kept in the repository): returns (cert_path, key_path) under `dir`."""
    os.makedirs(dir, exist_ok=True)
    cert, key = os.path.join(dir, "tls-cert.pem"), os.path.join(dir, "tls-key.pem")
    p = run_captured(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                      "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                      "-keyout", key, "-out", cert])
    if p.returncode != 0:
        raise StackError(f"openssl req failed: {p.stderr.decode(errors='replace')}")
    return cert, key


class FakeWechat:
    """tools/fake-wechat on port 0 (it prints the port it got); output into `log_path`.
    tls=(cert, key): the API over HTTPS too (`https_base`, `https_port`); `base` stays the
    plain-HTTP port, for the control calls."""

    def __init__(self, binary, log_path, latency_ms=0, appid="wxtest", secret="secret",
                 extra_args=(), tls=None):
        self.log_path = log_path
        log = open(log_path, "ab")  # its stderr goes there too
        # --port given twice: the last one counts, so extra_args may ask for a fixed port
        cmd = [binary, "--port", "0", "--latency-ms", str(latency_ms), "--appid", appid,
               "--secret", secret, *extra_args]
        if tls:
            cmd += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.process = Process(cmd, log_path, stdout=subprocess.PIPE)
        self.proc = self.process.proc
        self.port = self.https_port = None
        found = threading.Event()

        def pump():  # copy stdout to the log, note the port
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                m = re.search(rb"fake-wechat https on 127\.0\.0\.1:(\d+)", line)
                if m:
                    self.https_port = int(m.group(1))
                m = re.search(rb"fake-wechat listening on 127\.0\.0\.1:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    found.set()
            log.close()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(30) or self.port is None:
            raise StackError(f"fake-wechat did not print its port; log:\n{tail(log_path)}")
        self.base = f"http://127.0.0.1:{self.port}"
        self.https_base = self.https_port and f"https://127.0.0.1:{self.https_port}"
        self._next = 0
        self._messages = []

    def stop(self):
        self.process.stop()

    def _http(self, method, path, body=None, timeout=15):
        return http_json(method, self.base + path, body, timeout)

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

    def messages_since(self, since, limit=None, timeout=15):
        """The messages stored from number `since` on, every page of them."""
        out = []
        while True:
            page = self._http("GET", f"/fake/messages?since={since}"
                              + (f"&limit={limit}" if limit else ""), timeout=timeout)
            msgs = page.get("messages") or []
            out.extend(msgs)
            nxt = int(page.get("next", since + len(msgs)))
            if not msgs or nxt == since:
                return out
            since = nxt

    def messages(self):
        """All messages received so far (accumulated across calls)."""
        new = self.messages_since(self._next)
        self._messages.extend(new)
        self._next += len(new)
        return self._messages

    def messages_to(self, openid):
        return [m for m in self.messages() if m.get("touser") == openid]

    @staticmethod
    def body_of(message):
        b = message.get("body")
        return json.loads(b) if isinstance(b, str) else b


# --------------------------------------------------------------------------------------------
# mega

def render_ini(sections):
    """{section: {key: value | [values]}} -> ini text. A list repeats the key (listen[])."""
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


def merge_sections(sections, overrides):
    """Merges {section: {key: value}} overrides into `sections` (value None removes the key)."""
    for sec, kv in (overrides or {}).items():
        sections.setdefault(sec, {})
        for k, v in kv.items():
            if v is None:
                sections[sec].pop(k, None)
            else:
                sections[sec][k] = v
    return sections


def mega_sections(dir, fake=None, db=None, overrides=None):
    """The ini of a test or benchmark server with its files under `dir`: both listeners on
    port 0, the given MariaDB and fake-wechat (or unreachable ones), and `overrides`."""
    return merge_sections({
        "server": {"listen[]": "127.0.0.1:0", "table_size": 100,
                   "queue_file_path": os.path.join(dir, "queue")},
        "setting": {"daemonize": 0},
        "pdo": {"dsn": f'"{db.dsn() if db else "mysql:host=127.0.0.1;port=1;dbname=mega"}"',
                "username": "root", "password": "root"},
        "wechat": {"app_id": "wxtest", "app_secret": "secret",
                   "api_base": fake.base if fake else "http://127.0.0.1:1"},
        "log": {"log_file": os.path.join(dir, "mega.log"), "log_level": "info"},
        "admin": {"listen": "127.0.0.1:0"},
    }, overrides)


def read_status(queue_file_path):
    """<queue_file_path>/status as {"pid": N, "admin": N, "port": [N, ...], ...}, or None if
    there is none. Only the first of a repeated name counts, and only the run of `port`
    lines (the server rewrites the file in place: a read may see an old tail after it)."""
    try:
        with open(os.path.join(queue_file_path, "status")) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {"port": []}
    for line in lines:
        name, _, value = line.partition(" ")
        if not value.strip().isdigit():
            break
        if name == "port":
            out["port"].append(int(value))
        elif out["port"]:
            break
        else:
            out.setdefault(name, int(value))
    return out


class Mega:
    """One mega server: its ini, its directory, its process (foreground unless daemonized).
    After start() (or wait_ready()) `port`, `ports` and `admin_port` are the ports it got."""

    def __init__(self, dir, sections, binary=None, cwd=None, ini_bytes=None, name="mega"):
        """`sections` is written as the ini, unless `ini_bytes` is given: then that is the
        file and `sections` only tells listen[], [admin] listen, queue_file_path, pid_file
        and log_file."""
        self.name = name
        self.dir = dir
        os.makedirs(self.dir, exist_ok=True)
        self.binary = binary or mega_binary()
        self.sections = sections
        self.ini = os.path.join(self.dir, "mega.ini")
        with open(self.ini, "wb") as f:
            f.write(ini_bytes if ini_bytes is not None else render_ini(sections).encode())
        listen = sections["server"].get("listen[]", [])
        self.listen = listen if isinstance(listen, list) else [listen]
        self.port = None
        self.ports = []
        self.admin_port = None
        self.http_port = None  # the submit API's, when [http] listen is set
        self.log_file = sections.get("log", {}).get("log_file", "")
        self.cwd = cwd or self.dir
        self.wrapper = []  # e.g. ["strace", ...]: the command mega runs under
        self.proc = None
        self.runs = 0
        self._cleanup = on_exit(self.kill)

    @property
    def queue_path(self):
        path = self.sections["server"]["queue_file_path"]
        return path if os.path.isabs(path) else os.path.join(self.cwd, path)

    @property
    def pid_file(self):
        return self.sections["server"].get("pid_file") or os.path.join(self.queue_path,
                                                                         "mega.pid")

    @property
    def admin_host(self):
        host = self.sections.get("admin", {}).get("listen", "127.0.0.1:0").rsplit(":", 1)[0]
        return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "localhost": "127.0.0.1",
                "[::]": "[::1]"}.get(host, host)

    @property
    def admin_base(self):
        return f"http://{self.admin_host}:{self.admin_port}"

    def _out(self, which):
        return os.path.join(self.dir, f"mega.{which}.{self.runs}")

    def start(self, wait=True, timeout=60):
        """Starts `mega -c INI start` in the foreground (daemonize = 0)."""
        self.runs += 1
        self.port, self.ports, self.admin_port = None, [], None
        with open(self._out("stdout"), "wb") as out, open(self._out("stderr"), "wb") as err:
            self.proc = subprocess.Popen(
                [*self.wrapper, self.binary, "-c", self.ini, "start"], cwd=self.cwd,
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, preexec_fn=die_with_parent)
        if wait:
            self.wait_ready(timeout)
        return self

    def status(self):
        """The status file if a running mega wrote it (the file outlives its server), else None."""
        st = read_status(self.queue_path)
        if not st or not pid_alive(st.get("pid", 0)) or not is_mega(st["pid"]):
            return None
        return st

    def ready(self):
        """One look: True once the running server has written its ports and the protocol
        port accepts (then `port`, `ports`, `admin_port` are set). Raises StackError if the
        process this object started has exited."""
        if self.proc is not None and self.proc.poll() is not None and not self.daemonized():
            raise StackError(f"mega exited with {self.proc.returncode} during start\n"
                             + self.diagnostics())
        st = self.status()
        if not st or len(st["port"]) < max(1, len(self.listen)) or "admin" not in st:
            return False
        ports = st["port"][:max(1, len(self.listen))]
        if not port_open(ports[0]):
            return False
        if self.sections.get("http", {}).get("listen") and not st.get("http"):
            return False
        self.ports, self.port, self.admin_port = ports, ports[0], st["admin"] or None
        self.http_port = st.get("http")
        return True

    def daemonized(self):
        return str(self.sections.get("setting", {}).get("daemonize", "0")) == "1"

    def wait_ready(self, timeout=60):
        wait_until(self.ready, timeout,
                   f"mega to write its ports into {self.queue_path}/status and listen")

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
            raise StackError(f"mega did not exit within {timeout}s of SIGTERM\n"
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
        """Runs `mega -c INI ARGS...` (or `mega ARGV...`) to completion: start with
        daemonize = 1, stop, status. Output goes through files, not pipes, so a daemon that
        keeps an inherited descriptor cannot block us. Returns a CompletedProcess (bytes)."""
        return run_captured([self.binary, *(argv or ["-c", self.ini, *args])],
                            cwd=cwd or self.cwd, timeout=timeout)

    def admin(self, method, path, body=None, timeout=30):
        """One admin API call (JSON in and out), for tools; tests have their own clients."""
        return http_json(method, self.admin_base + path, body, timeout)

    def diagnostics(self, lines=30):
        parts = [f"--- mega[{self.name}] stderr:\n{tail(self._out('stderr'), lines)}"]
        if self.log_file:
            parts.append(f"--- mega[{self.name}] log {self.log_file}:\n"
                         f"{tail(self.log_file, lines)}")
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

    def remove(self):
        """SIGKILL and delete its directory (a throwaway server)."""
        self.kill()
        forget_on_exit(self._cleanup)
        shutil.rmtree(self.dir, ignore_errors=True)
