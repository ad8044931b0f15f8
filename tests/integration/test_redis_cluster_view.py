"""The cluster view and cross-node duplicates on a queue in Redis ([queue] backend = redis): a
real redis-server, mega nodes on loopback (port 0), fake-wechat (as test_redis_cluster.py).
- every node's GET /api/cluster lists every node up; a node killed (-9) shows down there;
  `mega-cli cluster status` prints the nodes as a table; on the file backend the cluster is
  the one node;
- a msgkey pushed on node A and then on node B: B replies "duplicate" as one node does to a
  repeated msgkey, for push and for send.
"""

import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("rclview")
S = {}
DATA = {"product": "tea", "price": "3"}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["redis"] = env.redis()


API_SECRET = "cluster-secret"


def node(name, prefix):
    return env.mega(name, overrides={
        "server": {"node_id": name},
        "queue": {"backend": "redis"},
        "redis": {"url": S["redis"].url, "key_prefix": prefix, "claim_idle_ms": 1000},
        "http": {"listen": "127.0.0.1:0", "keys": f"shop:{API_SECRET}"}})


def api_post(mega, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", mega.http_port, timeout=30)
    try:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Content-Type": "application/json",
                              "Authorization": f"Bearer {API_SECRET}"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def cluster(mega):
    status, body = ds.admin_call(mega, "GET", "/api/cluster")
    check(status == 200 and isinstance(body, dict), f"/api/cluster of {mega.name}: {status} {body}")
    return body


def states(mega):
    return {n["id"]: n["state"] for n in cluster(mega)["nodes"]}


def cli(mega, *args):
    p = harness.run_captured([harness.mega_cli_binary(), "-c", mega.ini, *args], cwd=env.dir,
                             timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def test_every_node_shows_every_node_up():
    nodes = S["view"] = [node(f"view-{i}", "v1:") for i in range(3)]
    everyone_up = {n.name: "up" for n in nodes}
    for n in nodes:
        wait_until(lambda: states(n) == everyone_up, 15,
                   lambda: f"{n.name} lists all three nodes up: {states(n)}")
    c = cluster(nodes[0])
    check(c["backend"] == "redis" and c["self"] == "view-0", f"backend and self: {c}")
    check(c["totals"]["nodes"] == 3 and c["totals"]["up"] == 3, f"totals: {c['totals']}")
    admins = {n["id"]: n["admin"] for n in c["nodes"]}
    check(all(admins[n.name].endswith(f":{n.admin_port}") for n in nodes),
          f"each node's admin address: {admins}")


def test_killed_node_shows_down():
    nodes = S["view"]
    victim = nodes[2]
    victim.proc.kill()
    victim.proc.wait()
    for n in nodes[:2]:
        wait_until(lambda: states(n).get("view-2") == "down", 15,
                   lambda: f"{n.name} shows view-2 down: {states(n)}")
    c = cluster(nodes[1])
    check(states(nodes[1]) == {"view-0": "up", "view-1": "up", "view-2": "down"},
          f"the others stay up: {c['nodes']}")
    check((c["totals"]["up"], c["totals"]["down"]) == (2, 1), f"totals: {c['totals']}")


def test_cli_cluster_status_prints_the_nodes():
    rc, out = cli(S["view"][0], "cluster", "status")
    check(rc == 0, f"mega-cli cluster status exited {rc}: {out}")
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:4] if line.split()}
    check(lines == {"view-0": "up", "view-1": "up", "view-2": "down"}, f"the table: {out}")
    check("3 nodes (redis queue): 2 up, 1 down" in out, f"the totals line: {out}")
    rc, out = cli(S["view"][1], "cluster", "--json")
    check(rc == 0 and '"self":"view-1"' in out, f"mega-cli cluster --json: {rc} {out}")


def test_file_backend_cluster_is_the_node_alone():
    m = env.mega("view-file", overrides={"server": {"node_id": "solo"}})
    c = cluster(m)
    check(c["backend"] == "file" and [n["id"] for n in c["nodes"]] == ["solo"]
          and c["nodes"][0]["state"] == "up", f"file backend: {c}")
    rc, out = cli(m, "cluster", "status")
    check(rc == 0 and "solo" in out and "1 nodes (file queue): 1 up" in out, f"cli: {out}")


def test_msgkey_pushed_on_another_node_gets_the_duplicate_reply():
    a, b = node("dup-a", "d1:"), node("dup-b", "d1:")
    with a.client() as c:
        first = c.call_push("oDupA", "order_paid", DATA, options="msgkey=dup-1")
        check((first.code, first.message) == (200, b""), f"first push to A: {first}")
        again = c.call_push("oDupA2", "order_paid", DATA, options="msgkey=dup-1")
        on_one_node = (again.code, again.message)
    check(on_one_node == (200, b"duplicate"), f"a repeat on one node: {on_one_node}")
    with b.client(timeout=10) as c:
        r = c.call_push("oDupB", "order_paid", DATA, options="msgkey=dup-1")
        check((r.code, r.message) == on_one_node, f"the same msgkey pushed to B: {r}")
        r = c.call_send("oDupB2", "order_paid", DATA, options="msgkey=dup-1")
        check((r.code, r.message) == on_one_node, f"the same msgkey sent (send) to B: {r}")
        # the HTTP API says so too, batch or ?wait=, for msgkeys B has not seen itself
        with a.client() as ca:
            for key in ("dup-h", "dup-w"):
                check(ca.call_push(f"oA-{key}", "order_paid", DATA,
                                   options=f"msgkey={key}").code == 200, f"{key} on A")
        msg = {"key": "order_paid", "openid": "oDupHttp", "data": DATA, "msgkey": "dup-h"}
        status, body = api_post(b, "/v1/messages", [msg, dict(msg, msgkey="dup-3")])
        flags = [m["duplicate"] for m in body["messages"]] if status == 202 else body
        check(flags == [True, False], f"HTTP batch on B: dup-h duplicate, dup-3 new: {flags}")
        status, body = api_post(b, "/v1/messages?wait=20",
                                dict(msg, openid="oDupWait", msgkey="dup-w"))
        check(status == 202 and body.get("duplicate") is True,
              f"HTTP ?wait= on B answers the duplicate at once: {status} {body}")
        # a new msgkey on B is acknowledged as new, and delivered
        r = c.call_push("oDupNew", "order_paid", DATA, options="msgkey=dup-2")
        check((r.code, r.message) == (200, b""), f"a new msgkey on B: {r}")
    fake = S["fake"]
    wait_until(lambda: fake.messages_to("oDupNew"), 10, "the new one delivered")
    wait_until(lambda: fake.messages_to("oDupHttp"), 10, "dup-3 delivered")
    sent = [o for o in ("oDupA", "oDupA2", "oDupB", "oDupB2", "oDupWait") if fake.messages_to(o)]
    check(sent == ["oDupA"], f"msgkey dup-1 sent once, to oDupA: {sent}")
    for n in (a, b):  # B's queue count is not left counting the duplicates
        wait_until(lambda: ds.stats(n)["queue"]["total"] == 0, 10, f"{n.name} queue empty")


if __name__ == "__main__":
    harness.run_tests(globals(), env, setup)
