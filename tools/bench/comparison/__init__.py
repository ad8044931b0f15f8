"""The parts of tools/bench/compare (the command line is tools/bench/compare itself):

  systems   the servers compared (mega, beanstalkd, Redis), installing and building them
  runs      one mega-bench run, summaries of runs, RSS sampling
  sections  the measured sections (durability, delivery, idle, connections, half-rate,
            restart)
  report    docs/benchmarks/README.md and the --quick lines
  charts    the gnuplot charts
  verdict   the one rule for "faster" / "within noise" / "slower"
  redis_benchmark     redis-benchmark's LPUSH run, next to mega-bench's against Redis
  redis_queue         mega nodes on one queue in Redis ([queue] backend = redis)
  drain               drain runs: delivery rate and mega's CPU seconds per 1,000 delivered
  delivery_variants   drain runs over HTTPS and on the Redis queue
  ingest_report, delivery_report   the report's ingest and delivery sections

MariaDB, fake-wechat and mega are started by tools/megastack.py, as for the tests.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import megastack  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                          "..", ".."))

# One error type for a failed run and a server that did not start (megastack raises it).
BenchError = megastack.StackError


def log(msg):
    print(f"[compare] {msg}", file=sys.stderr, flush=True)
