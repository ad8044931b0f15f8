"""Two servers, one WeChat account. Two mega servers share one fake-wechat and the same appid,
under load from both (600 pushes each, pushed at the same time):

- token_api = stable: both use POST /cgi-bin/stable_token and get the same token, so neither
  invalidates the other: fake-wechat answers no 40001 at all, even when every token is
  expired in the middle of the load (/fake/expire_tokens: 42001, both refresh, and the stable
  endpoint hands both the same new token). Everything is delivered exactly once.
- token_api = classic with classic_grace_s = 0: each GET /cgi-bin/token kills the token the
  other server holds, so fake-wechat answers 40001 (> 0); both servers refresh and retry and
  still deliver everything exactly once (a 40001 is never executed).
"""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

N = 600  # per server
env = harness.Env("stabletok")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})


def two_servers(tag, token_api, fake):
    over = ds.fast_retry(tries=10, backoff="1,1,2",
                         setting={"task_worker_num": 1, "max_inflight": 8},
                         wechat={"token_api": token_api})
    return [env.mega(f"{tag}{i}", fake=fake, overrides=over) for i in (1, 2)]


def load_both(megas, prefix):
    """Pushes N messages to each server at the same time; returns the openids."""
    ids = {m.name: ds.openids(f"{prefix}{m.name}x", N) for m in megas}
    errors = []

    def run(m):
        try:
            ds.push_many(m, ids[m.name], "order_paid", {"product": "tok"}, window=64)
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(m,)) for m in megas]
    for t in threads:
        t.start()
    return threads, ids, errors


def finish(threads, errors, ids, fake, megas):
    for t in threads:
        t.join(120)
    check(not errors, f"pushes failed: {errors}")
    want = set(i for v in ids.values() for i in v)
    d = ds.Deliveries(fake)
    wait_until(lambda: want <= set(d.tousers()), 60,
               lambda: f"{len(want)} messages delivered (missing {len(want - set(d.tousers()))}, "
                       f"fake {fake.stats()})")
    got = d.tousers()
    check(set(got) == want, f"unexpected deliveries: {sorted(set(got) - want)[:5]}")
    check(not ds.duplicates(got), f"duplicates: {list(ds.duplicates(got).items())[:5]}")
    for m in megas:
        st = wait_until(lambda: (lambda s: s if s["sent"] == N else None)(ds.stats(m)), 20,
                        lambda: f"{m.name} to count {N} sent: {ds.stats(m)}")
        check(st["failed"] == 0, f"{m.name}: failed {st['failed']}")
    return fake.stats()


def test_stable_tokens_do_not_invalidate_each_other():
    fake = env.fake_wechat(latency_ms=10)
    megas = two_servers("stable", "stable", fake)
    threads, ids, errors = load_both(megas, "oS")
    # in the middle of the load, every token expires: both servers must refresh
    wait_until(lambda: fake.delivered() >= N // 2, 60, "half of the load delivered")
    ds.fake_post(fake, "/fake/expire_tokens")
    fs = finish(threads, errors, ids, fake, megas)
    print(f"  stable: errors {fs['errors']}, stable_token_requests {fs['stable_token_requests']}, "
          f"token_requests {fs['token_requests']}, delivered {fs['delivered']}")
    check(fs["errors"].get("40001", 0) == 0,
          f"stable tokens: fake answered 40001 {fs['errors'].get('40001')} times: {fs['errors']}")
    check(fs["token_requests"] == 0, "the classic token endpoint was used")
    check(fs["stable_token_requests"] >= 2, f"stable_token_requests {fs['stable_token_requests']}")
    check(fs["errors"].get("42001", 0) > 0,
          f"the expired token was never used (the expiry came after the load?): {fs}")
    for m in megas:
        m.stop()


def test_classic_tokens_invalidate_each_other_but_everything_arrives():
    fake = env.fake_wechat(latency_ms=10)
    fake.configure(classic_grace_s=0)
    megas = two_servers("classic", "classic", fake)
    threads, ids, errors = load_both(megas, "oC")
    fs = finish(threads, errors, ids, fake, megas)
    print(f"  classic: errors {fs['errors']}, token_requests {fs['token_requests']}, "
          f"delivered {fs['delivered']}; token refreshes "
          f"{[ds.stats(m)['token_refreshes'] for m in megas]}")
    check(fs["errors"].get("40001", 0) > 0,
          f"classic tokens with no grace: expected 40001 answers, errors {fs['errors']}")
    check(fs["stable_token_requests"] == 0, "the stable endpoint was used with token_api = classic")
    check(fs["token_requests"] >= 3, f"token_requests {fs['token_requests']}")


if __name__ == "__main__":
    harness.run_tests(globals(), env=env, setup=setup)
