"""Batch tasks (campaigns) on several mega nodes sharing one Redis queue and one MariaDB
([queue] backend = redis): a task is fed by the one node holding its lease, taken over when
that node dies, and its counts are right in the end.
- 2 nodes, a 400-openid task created on one; a third node started while it runs (it would
  load the running task and feed it too without leases); fake-wechat at 50 ms. Exactly one
  node takes the lease. That node is kill -9'ed once the task's live `queued` passes 120;
  another node takes the lease over and the task ends 'done' with total = queued = sent = 400
  and failed 0 (the row and /api/tasks of both survivors); each openid was delivered, and
  only as many repeats as the killed node had sends in flight (reported).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("redis_tasks")
S = {}
DATA = {"product": "kite", "price": "9"}
N = 400


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=50)
    S["redis"] = env.redis()


def node(name, prefix):
    # a small sender pool: a node does not send a whole task in the moment it is fed
    return env.mega(name, overrides={
        "setting": {"task_worker_num": 1, "max_inflight": 8},
        "server": {"node_id": name},
        "queue": {"backend": "redis"},
        "redis": {"url": S["redis"].url, "key_prefix": prefix, "claim_idle_ms": 1000}})


def task_row(tid):
    rows = S["db"].sql("SELECT status, total, queued, sent, failed, lease_node FROM mega_task "
                       f"WHERE id={tid};")
    return rows[0] if rows else None


def api_task(mega, tid):
    status, body = ds.admin_call(mega, "GET", "/api/tasks")
    check(status == 200, f"/api/tasks: {status} {body}")
    return next((t for t in body if t["id"] == tid), None)


def lease_takers(nodes):
    return {n.name: len(ds.grep(ds.log_text(n), r"task \d+: lease taken by")) for n in nodes}


def delivered_to(openids):
    wanted = set(openids)
    return [m for m in ds.Deliveries(S["fake"]).all() if m["touser"] in wanted]


def test_task_taken_over_after_its_node_is_killed_counts_each_openid_once():
    nodes = [node(f"task-{i}", "k1:") for i in range(2)]
    openids = ds.openids("oLease", N)
    dropped = S["fake"].stats().get("dedup_dropped", 0)
    status, body = ds.admin_call(nodes[0], "POST", "/api/tasks",
                                 {"key": "order_paid", "data": DATA, "openids": openids,
                                  "rate": 60})
    check(status == 200, f"POST /api/tasks: {status} {body}")
    tid = body["id"]
    nodes.append(node("task-2", "k1:"))  # started while the task runs
    wait_until(lambda: (task_row(tid) or [""] * 6)[5], 30,
               lambda: f"a node takes the task's lease: {task_row(tid)}")
    holder = next(n for n in nodes if n.name == task_row(tid)[5])
    wait_until(lambda: api_task(holder, tid)["queued"] >= 120, 60,
               lambda: f"the holder feeds the task: {api_task(holder, tid)}")
    takers = lease_takers(nodes)
    check(sum(takers.values()) == 1 and takers[holder.name] == 1,
          f"one node, the holder, took the task: {takers}")
    live = api_task(holder, tid)
    inflight = ds.stats(holder)["inflight"]
    holder.proc.kill()
    holder.proc.wait()
    survivors = [n for n in nodes if n is not holder]

    wait_until(lambda: (task_row(tid) or [""])[0] == "done", 60,
               lambda: f"task {tid} done after the take-over: {task_row(tid)}")
    row = task_row(tid)
    check(row[0:5] == ["done", str(N), str(N), str(N), "0"],
          f"the task's row (status, total, queued, sent, failed): {row}")
    check(row[5] != holder.name, f"the lease moved to a survivor: {row[5]}")
    for n in survivors:
        t = wait_until(lambda: (lambda t: t if t and t["status"] == "done" else None)(
            api_task(n, tid)), 10, lambda: f"{n.name} shows the task done: {api_task(n, tid)}")
        check((t["total"], t["queued"], t["sent"], t["failed"]) == (N, N, N, 0),
              f"/api/tasks on {n.name}: {t}")
    got = [m["touser"] for m in delivered_to(openids)]
    missing = set(openids) - set(got)
    check(not missing, f"{len(missing)} openids never delivered: {sorted(missing)[:5]}")
    # fake-wechat drops a repeated client_msg_id (as WeChat does) and counts it
    repeated = len(ds.duplicates(got)) + S["fake"].stats().get("dedup_dropped", 0) - dropped
    print(f"  holder {holder.name} killed at live queued {live['queued']}, sent {live['sent']}, "
          f"{inflight} sends in flight; taken over by {row[5]}; {repeated} openids sent twice")
    check(repeated <= inflight,
          f"only the killed node's in-flight sends may repeat: {repeated} > {inflight}")


if __name__ == "__main__":
    harness.run_tests(globals(), env, setup)
