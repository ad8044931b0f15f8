"""Batch tasks (campaigns) on several mega nodes sharing one Redis queue and one MariaDB
([queue] backend = redis): a task is fed by the one node holding its lease, taken over when
that node dies, and its counts are right in the end.
- 2 nodes, a 400-openid task created on one; a third node started while it runs (it would
  load the running task and feed it too without leases); fake-wechat at 50 ms. Exactly one
  node takes the lease. That node is kill -9'ed once the task's live `queued` passes 120;
  another node takes the lease over and the task ends 'done' with total = queued = sent = 400
  and failed 0 (the row and /api/tasks of both survivors); each openid was delivered, and
  only as many repeats as the killed node had sends in flight (reported).
- a task created (not started) on node A, openids appended on node B, started on node C; paused
  on a node that does not hold it: the holder stops, saves its progress and gives the lease up,
  `queued` stays put and matches what was delivered; resumed on another node; the holder
  stopped with SIGTERM gives its lease up and another node finishes the task: every openid
  delivered exactly once, and the counts are right.
- the holder frozen (SIGSTOP) past its lease: another node takes the task over; thawed, the old
  holder finds its lease lost and feeds no more (its log says so), while the messages it had
  in flight are sent again by the others and then settled by it too, each line counted once:
  the task ends with total = queued = sent.
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402
import ops_support as ops  # noqa: E402

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
    for n in survivors:  # the next test's nodes share the database: no other node may feed
        check(n.stop() == 0, f"stop {n.name}")



def test_append_pause_resume_and_a_graceful_stop_across_nodes():
    nodes = [node(f"ctl-{i}", "k2:") for i in range(3)]
    apis = [ops.Admin(n) for n in nodes]
    first, more = ds.openids("oCtlA", 150), ds.openids("oCtlB", 150)
    tid = apis[0].ok_post("/api/tasks", {"key": "order_paid", "data": DATA, "openids": first,
                                         "rate": 50, "start": False})["id"]
    wait_until(lambda: api_task(nodes[1], tid), 10, "node 1 sees the new task")
    r = apis[1].post(f"/api/tasks/{tid}/openids", raw="\n".join(more).encode(),
                     headers={"Content-Type": "text/plain"})
    check(r.status == 200, f"append on node 1: {r}")
    wait_until(lambda: (api_task(nodes[2], tid) or {}).get("total") == 300, 10,
               lambda: f"node 2 sees 300 openids: {api_task(nodes[2], tid)}")
    apis[2].ok_post(f"/api/tasks/{tid}/start")
    wait_until(lambda: int(task_row(tid)[2]) >= 60 and task_row(tid)[5], 30,
               lambda: f"the task fed by a lease holder: {task_row(tid)}")
    holder = task_row(tid)[5]
    other = next(i for i, n in enumerate(nodes) if n.name != holder)
    apis[other].ok_post(f"/api/tasks/{tid}/pause")
    # the holder gives the lease up with its progress; what it fed settles
    row = wait_until(lambda: (lambda r: r if r[0] == "paused" and r[5] == "" and
                              int(r[3]) + int(r[4]) == int(r[2]) else None)(task_row(tid)), 30,
                     lambda: f"paused, released and settled: {task_row(tid)}")
    polls = [task_row(tid)[2] for _ in range(20)]
    check(set(polls) == {row[2]}, f"queued moved while paused: {row[2]} -> {polls}")
    got = delivered_to(first + more)
    check(len(got) == int(row[2]), f"{len(got)} delivered while {row[2]} were fed")
    apis[(other + 1) % 3].ok_post(f"/api/tasks/{tid}/resume")
    fed = wait_until(lambda: (lambda r: r if r[5] and int(r[2]) > int(row[2]) + 20 else None)(
        task_row(tid)), 30, lambda: f"fed again after resume: {task_row(tid)}")
    holder = next(n for n in nodes if n.name == fed[5])
    check(holder.stop() == 0, "SIGTERM of the holder")
    wait_until(lambda: (task_row(tid) or [""])[0] == "done", 60,
               lambda: f"done after the holder stopped: {task_row(tid)}")
    row = task_row(tid)
    check(row[0:5] == ["done", "300", "300", "300", "0"], f"the task's row: {row}")
    takers = lease_takers(nodes)
    check(sum(takers.values()) >= 2, f"another node took the task over: {takers}")
    counts = ops.counts(m["touser"] for m in delivered_to(first + more))
    check(set(counts) == set(first + more) and max(counts.values()) == 1,
          f"each openid once: {len(counts)} distinct, max {max(counts.values())}")
    print(f"  leases taken by node: {takers}")
    for n in nodes:
        if n is not holder:
            check(n.stop() == 0, f"stop {n.name}")



def test_a_frozen_holder_stops_feeding_and_nothing_is_counted_twice():
    nodes = [node(f"frz-{i}", "k3:") for i in range(3)]
    openids = ds.openids("oFrz", 300)
    dropped = S["fake"].stats().get("dedup_dropped", 0)
    tid = ops.Admin(nodes[0]).ok_post("/api/tasks", {"key": "order_paid", "data": DATA,
                                                     "openids": openids, "rate": 60})["id"]
    row = wait_until(lambda: (lambda r: r if r[5] and int(r[2]) >= 60 else None)(task_row(tid)),
                     30, lambda: f"the task fed by a lease holder: {task_row(tid)}")
    holder = next(n for n in nodes if n.name == row[5])
    # slow replies: the holder is frozen with sends in flight, which the others take over and
    # send again; thawed, it settles them too (a second outcome of the same lines)
    ds.fake_post(S["fake"], "/fake/config", {"latency_ms": 400})
    try:
        wait_until(lambda: ds.stats(holder)["inflight"] >= 3, 30, "sends in flight on the holder")
        inflight = ds.stats(holder)["inflight"]
        os.kill(holder.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: task_row(tid)[5] not in ("", holder.name), 30,
                       lambda: f"another node takes the lease over: {task_row(tid)}")
        finally:
            os.kill(holder.proc.pid, signal.SIGCONT)
    finally:
        ds.fake_post(S["fake"], "/fake/config", {"latency_ms": 50})
    wait_until(lambda: ds.grep(ds.log_text(holder), rf"task {tid}: lease lost"), 10,
               "the thawed holder finds its lease lost")
    wait_until(lambda: (task_row(tid) or [""])[0] == "done", 60,
               lambda: f"task {tid} done: {task_row(tid)}")
    row = task_row(tid)
    check(row[0:5] == ["done", "300", "300", "300", "0"], f"the task's row: {row}")
    got = [m["touser"] for m in delivered_to(openids)]
    check(set(got) == set(openids), f"{len(set(openids) - set(got))} openids never delivered")
    repeated = len(ds.duplicates(got)) + S["fake"].stats().get("dedup_dropped", 0) - dropped
    print(f"  holder {holder.name} frozen with {inflight} sends in flight; {repeated} openids "
          f"sent twice, each counted once")
    check(repeated <= inflight,
          f"only the frozen node's in-flight sends may repeat: {repeated} > {inflight}")
    for n in nodes:
        check(n.stop() == 0, f"stop {n.name}")


if __name__ == "__main__":
    harness.run_tests(globals(), env, setup)
