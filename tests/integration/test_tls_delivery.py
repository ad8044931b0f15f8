"""mega delivers over HTTPS: fake-wechat serves its API with TLS (--tls-cert/--tls-key, a
self-signed certificate for 127.0.0.1 made now by `openssl req -x509`, never kept) and mega,
trusting that certificate through [wechat] ca_file, fetches its token and sends through it.
Without ca_file the same server is refused (certificate not trusted) and nothing arrives:
the certificate is checked, not waved through. Keeps the TLS path the benchmark measures
(tools/bench/compare, CPU per 1,000 delivered with TLS) working.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, wait_until  # noqa: E402
import delivery_support as ds  # noqa: E402

N = 50
env = harness.Env("tls")
S = {}


def setup():
    S["db"] = env.mariadb({"order_paid": harness.ORDER_PAID})
    cert, key = harness.megastack.throwaway_certificate(os.path.join(env.dir, "tls"))
    fake = harness.megastack.FakeWechat(harness.fake_wechat_binary(),
                                        os.path.join(env.dir, "fake-wechat-tls.log"),
                                        tls=(cert, key))
    env.fakes.append(fake)
    check(fake.https_base, "fake-wechat announced no HTTPS port")
    S["fake"], S["cert"] = fake, cert


def https_mega(name, trust):
    wechat = {"api_base": S["fake"].https_base}
    if trust:
        wechat["ca_file"] = S["cert"]
    return env.mega(name, overrides=ds.fast_retry(tries=10, wechat=wechat))


def test_delivers_over_https_with_ca_file():
    fake = S["fake"]
    mega = https_mega("trusting", trust=True)
    ids = ds.openids("oTls", N)
    ds.push_many(mega, ids, "order_paid", {"product": "tls"})
    d = ds.Deliveries(fake)
    wait_until(lambda: len(d.all()) >= N, 60,
               lambda: f"{N} messages delivered over HTTPS (have {len(d.all())})")
    check(sorted(d.tousers()) == ids, f"deliveries differ from the pushes: {d.tousers()[:5]}")
    stats = fake.stats()
    check(stats["delivered"] == N, f"fake counted {stats['delivered']} deliveries, not {N}")
    mega.stop()


def test_untrusted_certificate_is_refused():
    fake = S["fake"]
    before = fake.stats()["delivered"]
    mega = https_mega("untrusting", trust=False)
    ds.push_many(mega, ["oUntrusted"], "order_paid", {"product": "tls"})
    wait_until(lambda: "certificate" in ds.log_text(mega).lower(), 30,
               "mega to log the certificate it does not trust")
    check(fake.stats()["delivered"] == before,
          "a message went out over a connection mega should not have trusted")


harness.run_tests(globals(), env, setup)
