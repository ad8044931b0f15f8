"""mega on its Redis queue backend ([queue] backend = redis) as a system of the comparison:
one redis-server (AOF, appendfsync as the durability pair says) and N mega nodes sharing one
queue in it, as in tests/integration/test_redis_cluster.py. Looks like one server to the
sections: `port` is the first node's, `more_ports` the others' (mega-bench --more-ports
spreads the connections over all of them)."""

import os

from .systems import MegaServer, Redis


class RedisQueueMega:
    def __init__(self, binary, work, name, appendfsync, db, fake, nodes):
        self.redis = Redis(work, f"{name}-redis", appendfsync)
        self.nodes = []
        try:
            for i in range(nodes):
                self.nodes.append(MegaServer(binary, work, f"{name}-node{i}", "interval", db,
                                             fake, self._overrides(name, i)))
        except BaseException:
            self.stop()
            raise

    def _overrides(self, name, i):
        return {"server": {"node_id": f"{name}-{i}"},
                "queue": {"backend": "redis"},
                "redis": {"url": f"redis://127.0.0.1:{self.redis.port}/0",
                          "key_prefix": f"{os.path.basename(name)}:"}}

    @property
    def port(self):
        return self.nodes[0].port

    @property
    def more_ports(self):
        return [n.port for n in self.nodes[1:]]

    @property
    def pids(self):
        return [n.pid for n in self.nodes]

    def pause(self, reason="benchmark"):
        for n in self.nodes:
            n.pause(reason)

    def resume(self):
        for n in self.nodes:
            n.resume()

    def stats(self):
        return self.nodes[0].stats()

    def stop(self):
        for n in self.nodes:
            n.discard()
        self.redis.stop()

    discard = stop
