"""mega on Redis Sentinel ([redis] sentinels, master_name): a real primary, a replica
(--replicaof) and one sentinel (quorum 1, down-after 1 s), all redis-server processes on
loopback TCP (replication and sentinel speak only TCP: each takes a port the OS just gave a
probe socket). One node pushes, `SENTINEL FAILOVER` promotes the replica, the node pushes
more: every acknowledged message is delivered (wait_replicas = 1: a push is acknowledged
once the replica has it, so the failover loses none). The first sentinel listed is a socket
that never answers: each ask gives up on it after a while and asks the next.
"""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import megastack  # noqa: E402

env = harness.Env("sentinel")
S = {}
DATA = {"product": "tea", "price": "3"}
MASTER = "megaq"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port, *args, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        out = f"*{len(args)}\r\n".encode()
        for a in args:
            a = str(a).encode()
            out += f"${len(a)}\r\n".encode() + a + b"\r\n"
        s.sendall(out)
        return megastack._resp_read(s.makefile("rb"))


def answers(port):
    try:
        return command(port, "PING") == "PONG"
    except (OSError, megastack.StackError):
        return False


def redis(name, *args):
    d = os.path.join(env.dir, name)
    os.makedirs(d, exist_ok=True)
    port = free_port()
    megastack.Process(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                       "--save", "", "--appendonly", "yes", "--appendfsync", "always", *args],
                      os.path.join(d, "redis.log"))
    wait_until(lambda: answers(port), 20, f"{name} on port {port}")
    return port


def sentinel(primary):
    d = os.path.join(env.dir, "sentinel")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    conf = os.path.join(d, "sentinel.conf")
    with open(conf, "w") as f:
        f.write(f"port {port}\nbind 127.0.0.1\ndir {d}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {primary} 1\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 5000\n")
    megastack.Process(["redis-server", conf, "--sentinel"], os.path.join(d, "sentinel.log"))
    wait_until(lambda: answers(port), 20, f"sentinel on port {port}")
    return port


def role(port):
    info = command(port, "INFO", "replication").decode()
    return next(line.split(":")[1].strip() for line in info.splitlines()
                if line.startswith("role:"))


def replicas_known(sport):
    return [r for r in command(sport, "SENTINEL", "REPLICAS", MASTER) or []
            if b"s_down" not in r[r.index(b"flags") + 1]]


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["primary"] = redis("primary")
    S["replica"] = redis("replica", "--replicaof", "127.0.0.1", str(S["primary"]))
    S["sentinel"] = sentinel(S["primary"])
    mute = S["mute"] = socket.socket()  # accepts connections (its backlog), never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    wait_until(lambda: replicas_known(S["sentinel"]), 30, "the sentinel knows the replica")


def push_acknowledged(mega, openids):
    """Pushes each openid until it is acknowledged (200); a 503 while the node finds the new
    primary is pushed again."""
    with mega.client(timeout=30) as c:
        for openid in openids:
            wait_until(lambda: c.call_push(openid, "order_paid", DATA).code == 200, 30,
                       f"{openid} acknowledged")


def test_failover_loses_no_acknowledged_message():
    fake = S["fake"]
    m = env.mega("sentinel-node", overrides={
        "server": {"node_id": "sentinel-node"},
        "queue": {"backend": "redis"},
        "redis": {"url": "redis://ignored:6379/0", "sentinels": f"127.0.0.1:{S['mute'].getsockname()[1]}, 127.0.0.1:{S['sentinel']}",
                  "master_name": MASTER, "wait_replicas": 1, "claim_idle_ms": 1000}})
    before = [f"oSentBefore{i:02d}" for i in range(20)]
    push_acknowledged(m, before)
    check(command(S["sentinel"], "SENTINEL", "FAILOVER", MASTER) == "OK", "failover started")
    wait_until(lambda: role(S["replica"]) == "master", 30, "the replica promoted")
    wait_until(lambda: role(S["primary"]) == "slave", 30, "the old primary now a replica")
    after = [f"oSentAfter{i:02d}" for i in range(20)]
    push_acknowledged(m, after)
    wait_until(lambda: all(fake.messages_to(o) for o in before + after), 30,
               lambda: "every acknowledged message delivered; missing: "
                       f"{[o for o in before + after if not fake.messages_to(o)]}")
    wait_until(lambda: f"127.0.0.1:{S['replica']}" in m.output(), 10,
               "the node says where the new primary is")
    check("did not answer within" in m.output(), "the mute sentinel skipped")


if __name__ == "__main__":
    harness.run_tests(globals(), env, setup)
