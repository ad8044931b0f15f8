// RedisBackend, the parts about the other nodes: the heartbeat each node writes into `Qnodes`
// every second and the cluster view read from it (queue/REDIS.md "Nodes"), and the pushes
// Redis answered as duplicates (their msgkey was pushed on another node).
#include <hiredis/hiredis.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/Clock.h"
#include "base/Version.h"
#include "queue/RedisBackend.h"

namespace mega {
namespace {

constexpr int kPruneEveryBeats = 30;  // a node prunes the long-gone entries this often
constexpr int64_t kKeepDuplicatesMs = 60000;

uint64_t JsonU64(const rapidjson::Value& v, const char* name) {
    auto it = v.FindMember(name);
    return it != v.MemberEnd() && it->value.IsUint64() ? it->value.GetUint64() : 0;
}

std::string JsonStr(const rapidjson::Value& v, const char* name) {
    auto it = v.FindMember(name);
    return it != v.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

}  // namespace

void RedisBackend::StartNodeHeartbeat() {
    node_timer_ = std::make_unique<uv_timer_t>();
    uv_timer_init(loop_, node_timer_.get());
    node_timer_->data = this;
    uv_timer_start(
        node_timer_.get(),
        [](uv_timer_t* t) { static_cast<RedisBackend*>(t->data)->PublishNode(); }, 0,
        uint64_t(kNodeHeartbeatMs));
}

void RedisBackend::StopNodeHeartbeat() {
    if (!node_timer_) return;
    uv_timer_stop(node_timer_.get());
    uv_close(reinterpret_cast<uv_handle_t*>(node_timer_.release()),
             [](uv_handle_t* h) { std::unique_ptr<uv_timer_t>(reinterpret_cast<uv_timer_t*>(h)); });
}

ClusterNode RedisBackend::SelfNode(int64_t now_ms) const {
    ClusterNode n;
    n.id = node_;
    n.version = MEGA_VERSION;
    n.heartbeat_ms = now_ms;
    n.up = true;
    for (uint64_t d : depth_) n.depth += d;
    if (node_facts_) {
        const NodeFacts f = node_facts_();
        n.inflight = f.inflight;
        n.rate = f.rate;
        n.admin = f.admin;
    } else {
        n.inflight = held_.size() - ready_count();
    }
    return n;
}

std::string RedisBackend::EncodeNode(const ClusterNode& n) const {
    rapidjson::StringBuffer out;
    rapidjson::Writer<rapidjson::StringBuffer> w(out);
    w.StartObject();
    w.Key("hb");
    w.Int64(n.heartbeat_ms);
    w.Key("inflight");
    w.Uint64(n.inflight);
    w.Key("rate");
    w.Double(n.rate);
    w.Key("depth");
    w.Uint64(n.depth);
    w.Key("version");
    w.String(n.version.c_str(), rapidjson::SizeType(n.version.size()));
    w.Key("admin");
    w.String(n.admin.c_str(), rapidjson::SizeType(n.admin.size()));
    w.EndObject();
    return out.GetString();
}

bool RedisBackend::DecodeNode(std::string_view id, std::string_view json, ClusterNode* out) {
    rapidjson::Document d;
    d.Parse(json.data(), json.size());
    if (d.HasParseError() || !d.IsObject()) return false;
    out->id = std::string(id);
    out->heartbeat_ms = int64_t(JsonU64(d, "hb"));
    out->inflight = JsonU64(d, "inflight");
    out->depth = JsonU64(d, "depth");
    auto rate = d.FindMember("rate");
    out->rate = rate != d.MemberEnd() && rate->value.IsNumber() ? rate->value.GetDouble() : 0;
    out->version = JsonStr(d, "version");
    out->admin = JsonStr(d, "admin");
    return true;
}

// Every second: this node's entry in Qnodes; now and then, the long-gone entries pruned.
void RedisBackend::PublishNode() {
    if (gone_ || closed_ || !cmd_->up()) return;
    cmd_->Send({"HSET", Key("nodes"), node_, EncodeNode(SelfNode(NowMs()))});
    if (++node_beats_ % kPruneEveryBeats == 0) ReadNodes([](Status, std::vector<ClusterNode>) {});
}

void RedisBackend::ReadNodes(std::function<void(Status, std::vector<ClusterNode>)> done) {
    if (cmd_->down() || closed_) return done(Status::Unavailable("redis is unreachable"), {});
    cmd_->Send({"HGETALL", Key("nodes")}, [this, done = std::move(done)](redisReply* r) {
        if (gone_) return;
        if (!r || r->type != REDIS_REPLY_ARRAY)
            return done(Status::Unavailable("redis did not answer HGETALL"), {});
        const int64_t now = NowMs();
        std::vector<ClusterNode> nodes;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const std::string_view id(r->element[i]->str, r->element[i]->len);
            ClusterNode n;
            if (id == node_) continue;  // this node: as of now, below
            if (!DecodeNode(id, std::string_view(r->element[i + 1]->str, r->element[i + 1]->len),
                            &n) ||
                now - n.heartbeat_ms > kNodePruneAfterMs) {
                cmd_->Send({"HDEL", Key("nodes"), std::string(id)});
                continue;
            }
            n.up = now - n.heartbeat_ms <= kNodeDownAfterMs;
            nodes.push_back(std::move(n));
        }
        nodes.push_back(SelfNode(now));
        std::sort(nodes.begin(), nodes.end(),
                  [](const ClusterNode& a, const ClusterNode& b) { return a.id < b.id; });
        done(Status::Ok(), std::move(nodes));
    });
}

// The push script's answer: 0 when the msgkey was already there. A push sent again (the link
// was lost before its answer, or WAIT saw too few replicas) may meet its own msgkey: only
// the first answer of a push counts, and one after a lost answer is not a duplicate.
void RedisBackend::NotePushAnswer(uint64_t seq, const redisReply* r) {
    if (gone_) return;
    if (!r || (r->type == REDIS_REPLY_INTEGER && r->integer == 1)) {
        pushed_.insert(seq);
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 0 || pushed_.contains(seq)) return;
    pushed_.insert(seq);
    duplicates_[seq] = NowMs();
    auto it = unanswered_.find(seq);
    if (it == unanswered_.end() || it->second.size() < 13) return;
    // Append counted it as waiting or in its stream: it is not.
    const bool delayed = it->second[11] != "0";
    const size_t level = std::min<size_t>(size_t(std::atoi(it->second[12].c_str())), 2);
    uint64_t& count = delayed ? waiting_ : depth_[level];
    if (count > 0) count--;
}

bool RedisBackend::Duplicate(const AppendTicket& ticket) const {
    return duplicates_.contains(ticket.seq);
}

void RedisBackend::PruneDuplicates(int64_t now_ms) {
    std::erase_if(duplicates_,
                  [now_ms](const auto& d) { return now_ms - d.second > kKeepDuplicatesMs; });
    std::erase_if(pushed_, [this](uint64_t seq) { return !unanswered_.contains(seq); });
}

}  // namespace mega
