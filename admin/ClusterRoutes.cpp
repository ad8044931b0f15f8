// GET /api/cluster: the nodes sharing this node's queue, from the heartbeats each writes to
// Redis every second ([queue] backend = redis; queue/REDIS.md "Nodes"), with totals. On the
// file backend the cluster is this node alone. Registering the route also gives the Redis
// heartbeat its facts (in flight, send rate, admin address).
#include <string>
#include <vector>

#include "admin/AdminRoutes.h"
#include "base/Clock.h"
#include "base/Version.h"
#include "http/HttpReply.h"
#include "queue/RedisBackend.h"
#include "server/Server.h"

namespace mega {
namespace {

constexpr int kRateSeconds = 10;  // a node's rate: messages sent per second over this long

NodeFacts FactsOf(Server& server) {
    NodeFacts f;
    f.inflight = server.dispatcher().inflight();
    f.rate = server.throughput().SentRate(NowMs() / 1000, kRateSeconds);
    const std::string& listen = server.config().admin_listen;
    if (server.admin_port() > 0)
        f.admin = listen.substr(0, listen.rfind(':') + 1) + std::to_string(server.admin_port());
    return f;
}

// The node itself, when its queue is its own (file backend).
ClusterNode LocalNode(Server& server) {
    const NodeFacts f = FactsOf(server);
    const BackendStats stats = server.backend().Stats();
    ClusterNode n;
    n.id = server.config().node_id.empty() ? "local" : server.config().node_id;
    n.version = MEGA_VERSION;
    n.admin = f.admin;
    n.heartbeat_ms = NowMs();
    n.inflight = f.inflight;
    n.rate = f.rate;
    for (uint64_t d : stats.depth) n.depth += d;
    n.up = true;
    return n;
}

void WriteNode(JsonWriter& w, const ClusterNode& n, int64_t now_ms) {
    w.StartObject();
    Field(w, "id", n.id);
    Field(w, "state", n.up ? "up" : "down");
    Field(w, "last_heartbeat_ms", n.heartbeat_ms);
    Field(w, "age_ms", now_ms - n.heartbeat_ms);
    Field(w, "inflight", n.inflight);
    Field(w, "rate", n.rate);
    Field(w, "queue_depth", n.depth);
    Field(w, "version", n.version);
    Field(w, "admin", n.admin);
    w.EndObject();
}

HttpResponse ClusterReply(const char* backend, const std::string& self,
                          const std::vector<ClusterNode>& nodes) {
    const int64_t now = NowMs();
    return JsonReply([&](JsonWriter& w) {
        uint64_t up = 0, inflight = 0;
        double rate = 0;
        w.StartObject();
        Field(w, "backend", backend);
        Field(w, "self", self);
        w.Key("nodes");
        w.StartArray();
        for (const ClusterNode& n : nodes) {
            WriteNode(w, n, now);
            if (!n.up) continue;
            up++;
            inflight += n.inflight;
            rate += n.rate;
        }
        w.EndArray();
        w.Key("totals");
        w.StartObject();
        Field(w, "nodes", uint64_t(nodes.size()));
        Field(w, "up", up);
        Field(w, "down", uint64_t(nodes.size()) - up);
        Field(w, "inflight", inflight);  // of the nodes up
        Field(w, "rate", rate);
        w.EndObject();
        w.EndObject();
    });
}

}  // namespace

void AddClusterRoutes(RouteTable& routes, Server& server) {
    auto* redis = dynamic_cast<RedisBackend*>(&server.backend());
    if (redis) redis->SetNodeFacts([&server] { return FactsOf(server); });
    routes.Get("/api/cluster", [&server, redis](HttpCall& call) {
        if (!redis) {
            const ClusterNode self = LocalNode(server);
            return call.responder.Send(ClusterReply("file", self.id, {self}));
        }
        redis->ReadNodes([responder = call.responder, self = redis->node_id()](
                             Status s, std::vector<ClusterNode> nodes) {
            if (!s.ok()) return responder.Send(ErrorReply(503, s.message()));
            responder.Send(ClusterReply("redis", self, nodes));
        });
    });
}

}  // namespace mega
