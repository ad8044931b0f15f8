"""The systems compared: mega (on tools/megastack.py), beanstalkd and Redis, each started on
a fresh data directory; and what they need installed and built."""

import json
import os
import random
import re
import shutil
import socket
import subprocess
import time

from . import BenchError, SOURCE_DIR, log, megastack
from .runs import vm_rss_kb

PACKAGES = {"beanstalkd": "beanstalkd", "redis-server": "redis-server", "gnuplot-nox": "gnuplot"}

# The template mega renders for every benchmark message: mega-bench's body is
# {"t":"<unix ms>","pad":"xx…"}, so fake-wechat's stored copy carries the push time.
BENCH_TEMPLATE = json.dumps({
    "touser": "${OPENID}", "template_id": "bench-template",
    "data": {"t": {"value": "${t}"}, "pad": {"value": "${pad}"}}}, separators=(",", ":"))

# Durability pairs: (id, title, mega fsync, beanstalkd flags, Redis appendfsync).
# beanstalkd -f MS fsyncs at most every MS ms (-f 0: on every write); -F never fsyncs.
# mega `interval` fsyncs every fsync_interval_ms (default 100), so it meets -f 100.
DURABILITY = [
    ("always", "fsync on every acknowledged write", "always", ["-f", "0"], "always"),
    ("interval", "fsync at intervals", "interval", ["-f", "100"], "everysec"),
]
# "mega" delivers to fake-wechat while it is measured; "mega-paused" has delivery paused
# (admin API), so it does what beanstalkd and Redis do: store and acknowledge.
# "mega-http" and "mega-http-100" push through the HTTP submit API (POST /v1/messages, one
# message or a batch of 100 a request), delivery paused: the same queue as mega-paused.
# "mega-rate-2000" delivers meanwhile at [wechat] rate_limit_per_second = 2000 (fake-wechat
# at 0 ms), pushes at full speed. "redis-benchmark": Redis driven by its own redis-benchmark
# (same connections and pipeline) next to mega-bench's figure. "mega-redis-N": N mega nodes
# on one queue in Redis ([queue] backend = redis, redis_queue.py), delivery paused, the
# connections spread over the nodes.
SYSTEMS = ["mega", "mega-paused", "mega-http", "mega-http-100", "mega-rate-2000",
           "mega-redis-1", "mega-redis-2", "mega-redis-3", "beanstalkd", "redis",
           "redis-benchmark"]
LABELS = {"mega": "mega", "mega-paused": "mega, delivery paused", "beanstalkd": "beanstalkd",
          "redis": "Redis", "mega-paused-nolog": "mega, delivery paused, `message_log = 0`",
          "mega-http": "mega HTTP, delivery paused",
          "mega-http-100": "mega HTTP batch of 100, delivery paused",
          "mega-rate-2000": "mega, delivering at 2,000/s",
          "mega-redis-1": "mega on Redis, 1 node, paused",
          "mega-redis-2": "mega on Redis, 2 nodes, paused",
          "mega-redis-3": "mega on Redis, 3 nodes, paused",
          "redis-benchmark": "Redis (redis-benchmark)"}
RATED = {"wechat": {"rate_limit_per_second": 2000}}
HTTP_BATCH = {"mega-http": 1, "mega-http-100": 100}
INTERVAL = next(d for d in DURABILITY if d[0] == "interval")
SCALE_SYSTEMS = ["mega-paused", "beanstalkd", "redis"]       # the connections section
HALF_RATE_SYSTEMS = ["mega-paused", "mega", "redis"]         # the half-rate section
# ... plus mega-paused without the message log, at mega-paused's rate: how much of the
# latency is the log's (its writer thread and MariaDB share the machine's two cores)
NO_LOG = {"log": {"message_log": 0}}
# mega after the restart: the admin pause is not kept across a restart, so a rate limit of
# one message per 1000 s holds delivery back (at most one message goes out).
RESTART = {"log": {"message_log": 0}, "wechat": {"rate_limit_per_second": 0.001}}


# --------------------------------------------------------------------------------------------
# packages and binaries

def installed(package):
    p = subprocess.run(["dpkg", "-s", package], capture_output=True, text=True)
    return p.returncode == 0 and "Status: install ok installed" in p.stdout


def install_missing(packages):
    missing = [p for p in packages if not installed(p)]
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    # No init system here: keep the packages' scripts from starting system services.
    policy = "/usr/sbin/policy-rc.d"
    added = False
    if not os.path.exists(policy):
        subprocess.run(sudo + ["sh", "-c", f"printf '#!/bin/sh\\nexit 101\\n' > {policy} && "
                               f"chmod 755 {policy}"], check=True)
        added = True
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-q", *missing], check=True, env=env)
    finally:
        if added:
            subprocess.run(sudo + ["rm", "-f", policy])


def find_file(*candidates):
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def build_binaries(build_dir, work, do_build):
    """mega, fake-wechat and mega-bench, copied into `work` so that a rebuild by someone
    else during the run cannot swap them. Builds (-j1) what is missing or out of date."""
    def locate():
        return {
            "mega": find_file(os.path.join(build_dir, "mega")),
            "fake-wechat": find_file(os.path.join(build_dir, "tools", "fake-wechat", "fake-wechat"),
                                     os.path.join(build_dir, "fake-wechat")),
            "mega-bench": find_file(os.path.join(build_dir, "tools", "bench", "mega-bench"),
                                    os.path.join(build_dir, "mega-bench")),
        }

    found = locate()
    if do_build or not (found["mega"] and found["fake-wechat"]):
        if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            subprocess.run(["cmake", "-S", SOURCE_DIR, "-B", build_dir,
                            "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True,
                           stdout=subprocess.DEVNULL)
        targets = ["mega", "fake-wechat"]
        p = subprocess.run(["cmake", "--build", build_dir, "--target", "help"],
                           capture_output=True, text=True)
        if "mega-bench" in p.stdout:
            targets.append("mega-bench")
        log(f"building {' '.join(targets)} in {build_dir} (-j1)")
        p = subprocess.run(["cmake", "--build", build_dir, "-j1", "--target", *targets],
                           capture_output=True, text=True)
        if p.returncode != 0:
            found = locate()
            if not (found["mega"] and found["fake-wechat"]):
                raise BenchError(f"build failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
            log("build failed (the tree is being edited?); using the binaries already built")
        found = locate()
    out = {}
    for name in ("mega", "fake-wechat"):
        out[name] = os.path.join(work, name)
        shutil.copy2(found[name], out[name])
    out["mega-bench"] = os.path.join(work, "mega-bench")
    if found["mega-bench"] and not is_stale(found["mega-bench"]):
        shutil.copy2(found["mega-bench"], out["mega-bench"])
    else:  # not a target of the build tree yet: compile it by hand (needs only the codec)
        log("compiling mega-bench with c++")
        subprocess.run(["c++", "-std=c++20", "-O2", "-g", "-Wall", "-Wextra", "-I", SOURCE_DIR,
                        os.path.join(SOURCE_DIR, "tools", "bench", "mega-bench.cpp"),
                        os.path.join(SOURCE_DIR, "protocol", "Frame.cpp"), "-pthread",
                        "-o", out["mega-bench"]], check=True)
    return out


def is_stale(binary):
    """True if mega-bench.cpp is newer than the built binary."""
    src = os.path.join(SOURCE_DIR, "tools", "bench", "mega-bench.cpp")
    return os.path.getmtime(src) > os.path.getmtime(binary)


# --------------------------------------------------------------------------------------------
# the servers

def start_backends(bins, work):
    """The sandbox MariaDB holding the bench template, and fake-wechat (both on ports they
    picked, stopped at exit)."""
    db = megastack.MariaDB(os.path.join(work, "db")).start()
    db.put_template("bench", BENCH_TEMPLATE, at=0)
    fake = megastack.FakeWechat(bins["fake-wechat"], os.path.join(work, "fake-wechat.log"))
    return db, fake


class MegaServer:
    """mega on a fresh queue directory, both ports on port 0 (megastack.Mega reads back the
    ports it got). `overrides`: more ini settings ({section: {key: value}})."""

    def __init__(self, binary, work, name, fsync, db, fake, overrides=None):
        dir = os.path.join(work, name)
        shutil.rmtree(dir, ignore_errors=True)
        sections = megastack.mega_sections(dir, fake, db, {
            "server": {"fsync": fsync, "shutdown_timeout_ms": 1000},
            "log": {"log_level": "warning"}})
        megastack.merge_sections(sections, overrides)
        self.mega = megastack.Mega(dir, sections, binary=binary)
        self.spawn()
        self.wait_ready()

    @property
    def port(self):
        return self.mega.port

    @property
    def admin(self):
        return self.mega.admin_base

    @property
    def pid(self):
        return self.mega.proc.pid

    def spawn(self):
        """Starts the process (again, after terminate(): same ini, same queue)."""
        self.mega.start(wait=False)

    def ready(self):
        """One look: has it written its ports, does the protocol port accept?"""
        return self.mega.ready()

    def wait_ready(self, timeout=60):
        self.mega.wait_ready(timeout)

    def alive(self):
        return self.mega.proc.poll() is None

    def rss_kb(self):
        return vm_rss_kb(self.pid)

    def terminate(self, timeout=60):
        """SIGTERM and wait (the queue directory stays); returns the seconds it took."""
        t0 = time.monotonic()
        try:
            self.mega.stop(timeout=timeout)
        except BenchError as e:  # killed
            log(f"warning: {e}")
        return time.monotonic() - t0

    def stats(self):
        return self.mega.admin("GET", "/api/stats")

    def pause(self, reason="benchmark"):
        self.mega.admin("POST", "/api/account/pause", {"reason": reason})

    def resume(self):
        self.mega.admin("POST", "/api/account/resume", {})

    def wait_drained(self, timeout=90):
        """Until the queue is empty and nothing is in flight (delivery caught up)."""
        def drained():
            s = self.stats()
            return s["queue"]["total"] == 0 and s["inflight"] == 0
        try:
            megastack.wait_until(drained, timeout, "mega's queue to drain")
        except BenchError as e:
            log(f"warning: {e}; going on")

    def stop(self):
        try:
            self.mega.stop(timeout=5)
        except BenchError:
            pass  # killed after 5 s
        self.mega.remove()

    def discard(self):
        """SIGKILL and remove: for a throwaway server. SIGTERM would first drain the message
        log's backlog into MariaDB (seconds after a burst of pushes), time the next run would
        share the machine with, or wait 5 s for the KILL of stop()."""
        self.mega.remove()


class Beanstalkd:
    """beanstalkd on port 0: -V makes it print `bind FD 127.0.0.1:PORT` (and, at that
    verbosity, a line per accepted and closed connection: none during the load)."""

    def __init__(self, work, name, flags):
        self.dir = os.path.join(work, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "wal"))
        log_path = os.path.join(self.dir, "out.log")
        self.child = megastack.Process(["beanstalkd", "-V", "-l", "127.0.0.1", "-p", "0",
                                        "-b", os.path.join(self.dir, "wal"), *flags], log_path)
        self.port = megastack.wait_until(lambda: self._bound_port(log_path), 30,
                                         "beanstalkd to print its port")
        megastack.wait_until(lambda: megastack.port_open(self.port), 30, "beanstalkd")

    def _bound_port(self, log_path):
        if not self.child.alive():
            raise BenchError(f"beanstalkd exited:\n{megastack.tail(log_path)}")
        with open(log_path, errors="replace") as f:
            m = re.search(r"^bind \d+ 127\.0\.0\.1:(\d+)$", f.read(), re.M)
        return int(m.group(1)) if m else None

    def stop(self):
        self.child.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """redis-server on a port below the ephemeral range. `--port 0` would turn TCP off, and
    mega-bench speaks TCP: so pick a port, and if another server took it first (Redis exits
    with "Address already in use"), pick another."""

    _rng = random.Random()

    def __init__(self, work, name, appendfsync):
        self.dir = os.path.join(work, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        log_path = os.path.join(self.dir, "out.log")
        for _attempt in range(10):
            self.port = megastack.port_below_ephemeral(self._rng)
            self.child = megastack.Process(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", self.dir, "--save", "", "--appendonly", "yes",
                 "--appendfsync", appendfsync, "--daemonize", "no", "--protected-mode", "no",
                 "--logfile", ""], log_path)
            if megastack.wait_until(self._up_or_exited, 30, "redis"):
                if self.child.alive():
                    return
            self.child.stop()
            with open(log_path, errors="replace") as f:
                if "Address already in use" not in f.read():
                    raise BenchError(f"redis exited:\n{megastack.tail(log_path)}")
            log(f"redis: port {self.port} taken; trying another")
            open(log_path, "w").close()
        raise BenchError("redis: no free port after 10 attempts")

    def _up_or_exited(self):
        if not self.child.alive():
            return "exited"
        return self.command(b"PING").startswith(b"+PONG")

    def command(self, *words):
        req = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(req)
            return s.recv(4096)

    def stop(self):
        self.child.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_server(system, bins, db, fake, work, name, durability, overrides=None):
    """A fresh server of `system` (empty data directory); returns (server, protocol).
    overrides: more ini settings for mega."""
    _pair_id, _title, fsync, bean_flags, appendfsync = durability
    if system.startswith("mega-redis-"):
        from .redis_queue import RedisQueueMega  # (it imports this module)
        fake.reset()
        fake.configure(latency_ms=0)
        nodes = int(system.rsplit("-", 1)[1])
        server = RedisQueueMega(bins["mega"], work, name, appendfsync, db, fake, nodes)
        server.pause("bench")
        return server, "mega"
    if system.startswith("mega"):
        fake.reset()
        fake.configure(latency_ms=0)
        db.sql("TRUNCATE TABLE mega_message_log;")
        overrides = megastack.merge_sections(dict(overrides or {}), None)
        if system == "mega-paused-nolog":
            megastack.merge_sections(overrides, NO_LOG)
        if system == "mega-rate-2000":
            megastack.merge_sections(overrides, RATED)
        if system in HTTP_BATCH:
            megastack.merge_sections(overrides, {"http": {"listen": "127.0.0.1:0",
                                                          "max_batch": 1000}})
        server = MegaServer(bins["mega"], work, name, fsync, db, fake, overrides)
        if system in ("mega-paused", "mega-paused-nolog") or system in HTTP_BATCH:
            server.pause("bench")
        if system in HTTP_BATCH:
            return server, f"http:{HTTP_BATCH[system]}"
        return server, "mega"
    if system == "beanstalkd":
        return Beanstalkd(work, name, bean_flags), "beanstalk"
    return Redis(work, name, appendfsync), ("redis-benchmark" if system == "redis-benchmark"
                                            else "redis")


def discard(server):
    (getattr(server, "discard", None) or server.stop)()
