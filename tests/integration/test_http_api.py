"""The HTTP submit API ([http] listen, api/SubmitApi): a batch of 1,000 messages is accepted
with one 202 and delivered, and the same batch again is all `duplicate` and sends nothing; a
batch with one bad message queues nothing and names the bad index; `?wait=` answers with
WeChat's error for a message fake-wechat rejects, and with the msgid for one it takes; GET
shows a message's status from the log, DELETE cancels a delayed one; a missing or wrong key
gets 401 and an oversize body 413 while another client goes on; `kill -9` under HTTP load
with fsync = always loses no message that got a 202.
"""

import http.client
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

env = harness.Env("http_api")
S = {}
SECRET = "s3cret-shop"
HTTP = {"http": {"listen": "127.0.0.1:0", "keys": f"shop:{SECRET},ops:other-secret",
                 "max_body_bytes": 1048576}}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    S["fake"] = env.fake_wechat(latency_ms=0)
    S["mega"] = env.mega(overrides=HTTP)


class Api:
    """One keep-alive connection to the submit API."""

    def __init__(self, mega, secret=SECRET):
        self.conn = http.client.HTTPConnection("127.0.0.1", mega.http_port, timeout=60)
        self.secret = secret

    def call(self, method, path, body=None, headers=None, raw=None):
        h = {"Content-Type": "application/json"}
        if self.secret is not None:
            h["Authorization"] = f"Bearer {self.secret}"
        h.update(headers or {})
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        text = r.read()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return r.status, parsed, r

    def close(self):
        self.conn.close()


def message(openid, msgkey=None, **extra):
    m = {"key": "order_paid", "openid": openid, "data": {"product": "tea", "price": "3"}}
    if msgkey:
        m["msgkey"] = msgkey
    m.update(extra)
    return m


def settled(mega, sent):
    return wait_until(lambda: (lambda s: s if s["sent"] == sent and s["queue"]["total"] == 0
                               and s["inflight"] == 0 else None)(ds.stats(mega)),
                      60, lambda: f"server settled with sent={sent}: {ds.stats(mega)}")


def test_batch_of_1000_then_the_same_batch_is_duplicate():
    fake, mega = S["fake"], S["mega"]
    batch = [message(f"oBatch{i}", f"batch-{i}") for i in range(1000)]
    api = Api(mega)
    status, body, _ = api.call("POST", "/v1/messages", batch)
    check(status == 202, f"batch: {status} {body}")
    ids = [m["id"] for m in body["messages"]]
    check(len(ids) == 1000 and len(set(ids)) == 1000 and all(i.isdigit() for i in ids),
          f"1000 distinct ids: {body['messages'][:3]}")
    check(not any(m["duplicate"] for m in body["messages"]), "nothing duplicate the first time")
    d = ds.Deliveries(fake)
    wait_until(lambda: len(d.tousers()) >= 1000, 60, "the batch delivered")
    check(set(d.tousers()) == {f"oBatch{i}" for i in range(1000)}, "every openid delivered")
    settled(mega, 1000)
    wait_until(lambda: ds.admin_get(mega, "/api/messages?source=shop&status=sent&limit=1")
               ["total"] == 1000, 30, "the key's name is the source of all 1000 in the log")
    status, body, _ = api.call("POST", "/v1/messages", batch)
    check(status == 202, f"batch again: {status} {body}")
    check(all(m["duplicate"] and m["id"] is None for m in body["messages"]),
          f"all duplicate: {[m for m in body['messages'] if not m['duplicate']][:3]}")
    settled(mega, 1000)
    check(fake.stats()["delivered"] == 1000, f"nothing more sent: {fake.stats()}")
    api.close()


def test_a_bad_message_rejects_the_whole_batch():
    fake, mega = S["fake"], S["mega"]
    before = ds.stats(mega)["queue"]["total"], fake.stats()["requests"]
    batch = [message("oBad0"), message("oBad1", priority="urgent"), message("oBad2"),
             {"key": "order_paid", "openid": "oBad3", "data": [1]}]
    api = Api(mega)
    status, body, _ = api.call("POST", "/v1/messages", batch)
    check(status == 422, f"a bad batch: {status} {body}")
    errors = body["error"]["errors"]
    check([e["index"] for e in errors] == [1, 3], f"the bad indexes named: {errors}")
    check("priority" in errors[0]["message"] and "data" in errors[1]["message"], f"{errors}")
    check(body["error"]["code"] == "invalid", f"{body}")
    status, body, _ = api.call("POST", "/v1/messages", [message("oBad4", key="no_such")])
    check(status == 422 and "template" in body["error"]["errors"][0]["message"], f"{body}")
    settled(mega, ds.stats(mega)["sent"])
    check((ds.stats(mega)["queue"]["total"], fake.stats()["requests"]) == before,
          "nothing of a rejected batch was queued or sent")
    check(not any(t.startswith("oBad") for t in ds.Deliveries(fake).tousers()), "no oBad sent")
    api.close()


def test_wait_answers_with_the_outcome():
    fake, mega = S["fake"], S["mega"]
    fake.configure(fail_openids={"oWaitFail": 43004})
    api = Api(mega)
    status, body, _ = api.call("POST", "/v1/messages?wait=30", message("oWaitFail", tries=1))
    check(status == 200 and body["status"] == "failed" and body["errcode"] == 43004,
          f"a rejected message with wait: {status} {body}")
    check("43004" in body["error"], f"WeChat's reply in the error: {body}")
    status, body, _ = api.call("POST", "/v1/messages?wait=30", message("oWaitOk"))
    check(status == 200 and body["status"] == "sent" and body["msgid"] > 0,
          f"a delivered message with wait: {status} {body}")
    fake.configure(fail_openids={})
    # its status from the message log
    mid = body["id"]
    got = wait_until(lambda: (lambda r: r if r[0] == 200 and r[1]["status"] == "sent" else None)(
        api.call("GET", f"/v1/messages/{mid}")), 15, "GET /v1/messages/ID says sent")
    check(got[1]["msgid"] == str(body["msgid"]), f"the msgid: {got[1]} vs {body}")
    # a message sent at once (its queued and sent events reach the log writer together) is
    # found by its msgkey too
    status, body, _ = api.call("POST", "/v1/messages?wait=30", message("oWaitKey", "wait-key-1"))
    check(status == 200 and body["status"] == "sent", f"{status} {body}")
    got = wait_until(lambda: (lambda r: r if r[0] == 200 and r[1]["status"] == "sent" else None)(
        api.call("GET", "/v1/messages?msgkey=wait-key-1")), 15, "GET ?msgkey= of a sent message")
    check(got[1]["id"] == body["id"], f"by msgkey: {got[1]} vs {body}")
    status, body, _ = api.call("GET", "/v1/messages/12345")
    check(status == 404 and body["error"]["code"] == "not_found", f"unknown id: {status} {body}")
    api.close()


def test_delete_cancels_a_delayed_message():
    fake, mega = S["fake"], S["mega"]
    api = Api(mega)
    status, body, _ = api.call("POST", "/v1/messages", message("oLater", delay=3600),
                               headers={"Idempotency-Key": "later-1"})
    check(status == 202, f"a delayed message: {status} {body}")
    mid = body["id"]
    status, body, _ = api.call("POST", "/v1/messages", message("oLater2", delay=3600),
                               headers={"Idempotency-Key": "later-1"})
    check(status == 202 and body["duplicate"], f"Idempotency-Key is the msgkey: {body}")
    wait_until(lambda: ds.stats(mega)["waiting"] >= 1, 15, "the message waits")
    got = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(
        api.call("GET", "/v1/messages?msgkey=later-1")), 15, "GET ?msgkey= finds it")
    check(got[1]["id"] == mid and got[1]["status"] == "queued", f"by msgkey: {got[1]}")
    status, body, _ = api.call("GET", "/v1/messages?msgkey=never-used")
    check(status == 404, f"an unknown msgkey: {status} {body}")
    status, body, _ = api.call("DELETE", f"/v1/messages/{mid}")
    check(status == 200 and body["status"] == "cancelled", f"DELETE: {status} {body}")
    status, body, _ = api.call("DELETE", f"/v1/messages/{mid}")
    check(status == 409 and body["error"]["code"] == "conflict", f"DELETE again: {status} {body}")
    check("oLater" not in ds.Deliveries(fake).tousers(), "the cancelled message was not sent")
    api.close()


def test_keys_and_limits():
    mega = S["mega"]
    for secret, what in ((None, "no key"), ("wrong", "a wrong key"), (SECRET + "x", "longer")):
        api = Api(mega, secret=secret)
        status, body, r = api.call("POST", "/v1/messages", message("oNoKey"))
        check(status == 401 and body["error"]["code"] == "unauthorized", f"{what}: {status}")
        check(r.getheader("WWW-Authenticate", "").startswith("Bearer"), f"{what}: header")
        api.close()
    other = Api(mega)
    # A 2 MiB body with max_body_bytes 1 MiB: refused at its Content-Length, before the body.
    with socket.create_connection(("127.0.0.1", mega.http_port), timeout=30) as big:
        big.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Authorization: Bearer " + SECRET.encode() +
                    b"\r\nContent-Length: 2097152\r\n\r\n[")
        head = big.recv(4096)
    check(head.startswith(b"HTTP/1.1 413"), f"oversize body: {head[:80]}")
    status, body, _ = other.call("POST", "/v1/messages", message("oAfterBig"))
    check(status == 202, f"another client goes on: {status} {body}")
    status, body, _ = other.call("POST", "/v1/messages", raw=b"{", headers={})
    check(status == 400, f"not JSON: {status} {body}")
    status, body, _ = other.call("POST", "/v1/messages", message("oType"),
                                 headers={"Content-Type": "text/plain"})
    check(status == 415, f"text/plain: {status} {body}")
    status, body, _ = other.call("GET", "/v1/openapi.json", headers={"Authorization": ""})
    check(status == 200 and body["openapi"].startswith("3.1"), f"openapi: {status}")
    other.close()


def test_kill_9_under_http_load_with_fsync_always_loses_nothing_acknowledged():
    fake = S["fake"]
    fake.configure(latency_ms=20)
    mega = env.mega("always", overrides={**HTTP, "server": {"fsync": "always"}})
    acked, lock, stop = set(), threading.Lock(), threading.Event()

    def client(n):
        api = Api(mega)
        i = 0
        try:
            while not stop.is_set():
                batch = [message(f"oK9-{n}-{i + j}") for j in range(20)]
                status, _, _ = api.call("POST", "/v1/messages", batch)
                if status == 202:
                    with lock:
                        acked.update(m["openid"] for m in batch)
                i += 20
        except (OSError, http.client.HTTPException):
            pass  # the server died under us: what was not answered was not acknowledged
        finally:
            api.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    d = ds.Deliveries(fake)
    wait_until(lambda: len(acked) >= 2000 and
               sum(1 for t in d.tousers() if t.startswith("oK9-")) >= 100, 60,
               "load acknowledged and under way")
    mega.kill()
    stop.set()
    for t in threads:
        t.join()
    fake.configure(latency_ms=0)
    mega.start()
    wait_until(lambda: acked <= set(d.tousers()), 120,
               lambda: f"every acknowledged message delivered "
                       f"({len(acked - set(d.tousers()))} of {len(acked)} missing)")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
