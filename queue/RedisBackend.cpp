// RedisBackend: the seam's calls over local state, the Redis commands behind them, and the
// Lua scripts that keep the shared structures consistent (queue/REDIS.md says what each key
// holds). Two links: `cmd_` for every command (pipelined, in order), `read_` for the blocking
// XREADGROUP that fills the prefetch buffer.
#include "queue/RedisBackend.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "base/Clock.h"
#include "config/Accounts.h"

namespace mega {
namespace {

constexpr const char* kGroup = "mega";
constexpr const char* kLevelNames[kPriorityLevels] = {"high", "normal", "low"};
constexpr size_t kPrefetch = 64;    // entries asked for per stream and read
constexpr int kTimerMs = 100;       // due moves, claims and heartbeats are checked this often
constexpr int kReadBlockMs = 1000;  // a blocking read returns empty after this
constexpr int kPausePollMs = 250;   // other nodes' pause and resume are seen this soon

// A push: the msgkey checked and remembered (a zset by expiry), then the entry in its stream
// or, delayed, in the due zset. 0 = a duplicate msgkey (nothing added), 1 = added.
// KEYS: stream, keys, due. ARGV: msgkey, key expiry ms, now ms, id, payload, due ms, level.
constexpr const char* kPushScript = R"lua(
if ARGV[1] ~= '' then
  local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if seen and tonumber(seen) > tonumber(ARGV[3]) then return 0 end
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
if tonumber(ARGV[6]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7] .. ':0:0:' .. ARGV[4] .. ':' .. ARGV[5])
else
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[4], 'a', '0', 'r', '0', 'p', ARGV[5])
end
return 1
)lua";

// Due entries of the zset (member "level:attempts:retry_at:id:payload") into their streams,
// each moved once: the move and the removal are one atomic script.
// KEYS: due, stream high, normal, low. ARGV: now ms, limit.
constexpr const char* kMoveScript = R"lua(
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(items) do
  local f, pos = {}, 1
  for i = 1, 4 do
    local c = string.find(m, ':', pos, true)
    f[i] = string.sub(m, pos, c - 1)
    pos = c + 1
  end
  redis.call('XADD', KEYS[2 + tonumber(f[1])], '*', 'id', f[4], 'a', f[2], 'r', f[3], 'p',
             string.sub(m, pos))
  redis.call('ZREM', KEYS[1], m)
end
return #items
)lua";

// Takes over the entries another consumer left idle; one delivered more than max_deliveries
// times becomes a dead letter ("poison") instead. Returns {claimed entries, poisoned ids}.
// KEYS: stream, dead. ARGV: group, consumer, min idle ms, count, max deliveries, now ms.
constexpr const char* kClaimScript = R"lua(
local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])
local claimed, poisoned = {}, {}
for _, e in ipairs(res[2]) do
  local eid, fields = e[1], e[2]
  if fields then
    local pend = redis.call('XPENDING', KEYS[1], ARGV[1], eid, eid, 1)
    local n = (pend[1] and pend[1][4]) or 1
    if n > tonumber(ARGV[5]) then
      local f = {}
      for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
      local err = 'poison: delivered ' .. n .. ' times, and each node sending it stopped'
      redis.call('HSET', KEYS[2], f['id'],
                 string.format('%d\n%s\n%s\n%d\n', -2, ARGV[6], f['a'], #err) .. err .. f['p'])
      redis.call('XACK', KEYS[1], ARGV[1], eid)
      redis.call('XDEL', KEYS[1], eid)
      table.insert(poisoned, f['id'])
    else
      table.insert(claimed, e)
    end
  end
end
return {claimed, poisoned}
)lua";

// An account's rate bucket shared by every node: refilled by Redis's own clock (TIME, so the
// nodes' clocks do not matter) at the rate, up to the capacity; grants min(wanted, whole
// tokens there). A new (or expired: idle a minute) bucket starts empty, as a node's own does.
// KEYS: bucket (hash: t = tokens, at = ms of the last refill). ARGV: rate/s, capacity, wanted.
constexpr const char* kLeaseScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, cap, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if not tokens or not at then tokens, at = 0, now end
if now > at then
  tokens = math.min(cap, tokens + (now - at) * rate / 1000)
  at = now
end
local grant = math.max(0, math.min(want, math.floor(tokens)))
tokens = tokens - grant
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', string.format('%d', at))
redis.call('PEXPIRE', KEYS[1], 60000)
return grant
)lua";

// A batch task's line settled: the first outcome of each line counts, once.
// KEYS: the task's lines (hash line → outcome), its counts (hash sent/failed).
// ARGV: line, "sent" or "failed", ttl s.
constexpr const char* kTaskOutcomeScript = R"lua(
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
)lua";
constexpr const char* kTaskTallyTtlS = "2592000";  // 30 days after its last outcome

using ReplyPtr = RedisReplyPtr;

std::string_view Str(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
                 r->type == REDIS_REPLY_ERROR)
               ? std::string_view(r->str, r->len)
               : std::string_view();
}

int64_t ToInt(std::string_view s) {
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

// Cuts `s` at the first newline: the part before, `s` keeps the rest.
std::string_view Field(std::string_view* s) {
    const size_t nl = s->find('\n');
    if (nl == std::string_view::npos) {
        std::string_view all = *s;
        *s = {};
        return all;
    }
    std::string_view head = s->substr(0, nl);
    s->remove_prefix(nl + 1);
    return head;
}

std::string EncodePause(const PauseState& p) {
    return std::to_string(int(p.paused)) + "\n" + std::to_string(int(p.by_operator)) + "\n" +
           std::to_string(p.since_ms) + "\n" + std::to_string(p.until_ms) + "\n" + p.reason;
}

void DecodePause(std::string_view s, PauseState* p) {
    p->paused = Field(&s) == "1";
    p->by_operator = Field(&s) == "1";
    p->since_ms = ToInt(Field(&s));
    p->until_ms = ToInt(Field(&s));
    p->reason = std::string(s);
}

std::string DefaultNodeId(const Config& config) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "mega");
    std::string port = config.listen.empty() ? "0" : config.listen.front();
    port = port.substr(port.rfind(':') + 1);
    // Port 0 (the OS picks): two nodes on one host would share a name; the pid tells them apart.
    if (port == "0") return std::string(host) + ":pid" + std::to_string(::getpid());
    return std::string(host) + ":" + port;
}

}  // namespace

RedisBackend::RedisBackend(const Config& config, uv_loop_t* loop, std::function<void()> wake)
    : config_(config), loop_(loop), wake_(std::move(wake)) {
    tag_ = config.redis_key_prefix + "{" + (config.app_id.empty() ? "mega" : config.app_id) + "}:";
    node_ = config.node_id.empty() ? DefaultNodeId(config) : config.node_id;
}

RedisBackend::~RedisBackend() {
    (void)Close();
    gone_ = true;  // the links' last (null) replies must not touch what follows
    read_.reset();
    cmd_.reset();
}

std::string RedisBackend::Key(const char* name) const {
    return tag_ + name;
}

std::string RedisBackend::PauseKey(std::string_view account) const {
    return account == kDefaultAccount ? Key("pause") : tag_ + "pause:" + std::string(account);
}

std::string RedisBackend::StreamKey(int level) const {
    return tag_ + "s:" + kLevelNames[level];
}

Status RedisBackend::Open(const Config& config, uv_loop_t* loop, std::function<void()> wake,
                          std::unique_ptr<RedisBackend>* out) {
    auto b = std::make_unique<RedisBackend>(config, loop, std::move(wake));
    Status s = RedisAddress::Parse(config.redis_url, &b->address_);
    if (!s.ok()) return s;
    if (!config.redis_sentinels.empty()) {  // the url gives the password and db alone
        s = RedisAddress::ParseSentinels(config.redis_sentinels, &b->address_);
        if (!s.ok()) return s;
        b->address_.master_name = config.redis_master_name;
        if (s = FindPrimaryBlocking(&b->address_); !s.ok()) return s;
    }
    s = b->Bootstrap();
    if (!s.ok()) return s;
    RedisBackend* self = b.get();
    b->cmd_ = std::make_unique<RedisLink>(loop, b->address_, "commands",
                                          [self](bool up) { self->OnLinkState(false, up); });
    b->read_ = std::make_unique<RedisLink>(loop, b->address_, "reads",
                                           [self](bool up) { self->OnLinkState(true, up); });
    b->cmd_->Connect();
    b->read_->Connect();
    b->StartTimers();
    b->tokens_ = std::make_unique<RedisTokenStore>(b->address_, b->tag_, b->node_);
    b->StartNodeHeartbeat();
    spdlog::info(
        "queue on redis as node {}: {} dead letters, {} message keys, {} waiting (delay/retry)",
        b->node_, b->dead_.size(), b->keys_.size(), b->waiting_);
    *out = std::move(b);
    return Status::Ok();
}

// At start, before the loop serves: the groups, Redis's durability, and the mirrors.
Status RedisBackend::Bootstrap() {
    RedisContextPtr c(nullptr, redisFree);
    if (Status s = ConnectBlocking(address_, 2000, 0, &c); !s.ok()) return s;
    auto run = [&](const std::vector<std::string>& argv) { return RunBlocking(c.get(), argv); };
    for (int l = 0; l < kPriorityLevels; l++) {
        ReplyPtr r = run({"XGROUP", "CREATE", StreamKey(l), kGroup, "0", "MKSTREAM"});
        if (!r) return Status::Unavailable("redis: " + std::string(c->errstr));
        if (r->type == REDIS_REPLY_ERROR && !Str(r.get()).starts_with("BUSYGROUP"))
            return Status::Unavailable("redis XGROUP CREATE: " + std::string(Str(r.get())));
    }
    ReplyPtr fsync = run({"CONFIG", "GET", "appendfsync"});
    const bool always = fsync && fsync->type == REDIS_REPLY_ARRAY && fsync->elements == 2 &&
                        Str(fsync->element[1]) == "always";
    ReplyPtr aof = run({"CONFIG", "GET", "appendonly"});
    const bool aof_on = aof && aof->type == REDIS_REPLY_ARRAY && aof->elements == 2 &&
                        Str(aof->element[1]) == "yes";
    if (config_.fsync == FsyncPolicy::kAlways && !(always && aof_on))
        spdlog::warn(
            "[server] fsync = always, but redis does not run with appendonly yes and "
            "appendfsync always: an acknowledged push can be lost if redis stops");
    for (const AccountConfig& a : AllAccounts(config_)) {
        PauseMirror& mirror = pauses_[a.name];  // polled from now on, saved or not
        ReplyPtr pause = run({"GET", PauseKey(a.name)});
        if (pause && pause->type == REDIS_REPLY_STRING) {
            mirror.has = true;
            mirror.raw = Str(pause.get());
            DecodePause(mirror.raw, &mirror.state);
        }
    }
    const int64_t now = NowMs();
    ReplyPtr keys = run({"ZRANGEBYSCORE", Key("keys"), std::to_string(now), "+inf", "WITHSCORES"});
    if (keys && keys->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < keys->elements; i += 2)
            keys_[std::string(Str(keys->element[i]))] = ToInt(Str(keys->element[i + 1]));
    LoadDeadLetters(run({"HGETALL", Key("dead")}).get());
    for (int l = 0; l < kPriorityLevels; l++) {
        ReplyPtr n = run({"XLEN", StreamKey(l)});
        depth_[size_t(l)] = n && n->type == REDIS_REPLY_INTEGER ? uint64_t(n->integer) : 0;
    }
    ReplyPtr due = run({"ZCARD", Key("due")});
    waiting_ = due && due->type == REDIS_REPLY_INTEGER ? uint64_t(due->integer) : 0;
    return Status::Ok();
}

void RedisBackend::LoadDeadLetters(redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    std::map<uint64_t, StoredDead> fresh;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        StoredDead d;
        if (ParseDead(Str(r->element[i + 1]), &d))
            fresh[uint64_t(ToInt(Str(r->element[i])))] = std::move(d);
    }
    dead_ = std::move(fresh);
}

bool RedisBackend::ParseDead(std::string_view v, StoredDead* d) {
    d->errcode = int(ToInt(Field(&v)));
    d->failed_ms = ToInt(Field(&v));
    d->attempts = uint16_t(ToInt(Field(&v)));
    const size_t error_len = size_t(ToInt(Field(&v)));
    if (error_len > v.size()) return false;
    d->error = std::string(v.substr(0, error_len));
    d->message = std::string(v.substr(error_len));
    Message m;
    return DecodeMessage(d->message, &m);
}

void RedisBackend::StartTimers() {
    timer_ = std::make_unique<uv_timer_t>();
    uv_timer_init(loop_, timer_.get());
    timer_->data = this;
    uv_timer_start(
        timer_.get(),
        [](uv_timer_t* t) {
            auto* self = static_cast<RedisBackend*>(t->data);
            const int64_t now = NowMs();
            if (!self->cmd_->up()) return;
            self->MoveDue();
            self->PollShared(now);
            if (now - self->last_claim_ms_ >= self->config_.redis_claim_idle_ms / 2) {
                self->last_claim_ms_ = now;
                self->Claim();
            }
            if (now - self->last_heartbeat_ms_ >= self->config_.redis_claim_idle_ms / 3) {
                self->last_heartbeat_ms_ = now;
                self->Heartbeat();
            }
            self->ReadMore();
        },
        kTimerMs, kTimerMs);
}

void RedisBackend::OnLinkState(bool read_link, bool up) {
    if (gone_) return;
    if (read_link) {
        reading_ = false;
        if (up) {  // first what is still pending to this node, then new entries
            read_pending_first_ = true;
            for (auto& c : cursor_) c = "0";
            ReadMore();
        }
        return;
    }
    if (up) RefreshCounts();
    // Down: the leased tokens go, so that nothing is sent while the shared bucket is away.
    if (up)
        AskLeases();
    else
        LoseLeases();
    wake_();  // health and the dispatcher see the change
}

bool RedisBackend::KeySeen(std::string_view msgkey, int64_t now_ms) const {
    auto it = keys_.find(std::string(msgkey));
    return it != keys_.end() && it->second > now_ms;
}

Status RedisBackend::Append(const Message& m, std::string_view msgkey, int64_t now_ms,
                            AppendTicket* ticket) {
    if (cmd_->down() || closed_) return Status::Unavailable("the queue (redis) is unreachable");
    char header[kMessageHeaderBytes];
    EncodeMessageHeader(m, header);
    std::string payload(header, sizeof header);
    payload.append(m.openid).append(m.key).append(m.data).append(m.options);
    const int level = int(m.priority);
    const int64_t due = m.not_before_ms > now_ms ? m.not_before_ms : 0;
    const int64_t key_expiry = now_ms + int64_t(config_.dedup_window_s) * 1000;
    const uint64_t seq = next_seq_++;
    unanswered_[seq] = {"EVAL",
                        kPushScript,
                        "3",
                        StreamKey(level),
                        Key("keys"),
                        Key("due"),
                        std::string(msgkey),
                        std::to_string(key_expiry),
                        std::to_string(now_ms),
                        std::to_string(m.id),
                        std::move(payload),
                        std::to_string(due),
                        std::to_string(level)};
    staged_.push_back(seq);
    if (!msgkey.empty()) keys_[std::string(msgkey)] = key_expiry;
    (due ? waiting_ : depth_[size_t(level)])++;
    *ticket = AppendTicket{level, seq, msgkey.empty() ? 0 : seq};
    return Status::Ok();
}

void RedisBackend::Publish() {
    for (uint64_t seq : staged_) SendAppend(seq);
    staged_.clear();
}

void RedisBackend::SendAppend(uint64_t seq) {
    auto it = unanswered_.find(seq);
    if (it == unanswered_.end()) return;
    auto answered = [this, seq](redisReply* r) {
        if (gone_) return;
        if (!r) return SendAppend(seq);  // the link went down: again once it is back
        if (r->type == REDIS_REPLY_ERROR) {
            spdlog::error("redis: push refused ({}); trying again", Str(r));
            failed_appends_.push_back(seq);
            return;
        }
        if (config_.redis_wait_replicas > 0 && r->type != REDIS_REPLY_INTEGER) return;
        if (config_.redis_wait_replicas > 0 && r->integer < config_.redis_wait_replicas) {
            spdlog::warn("redis: WAIT saw {} of {} replicas; waiting again", r->integer,
                         config_.redis_wait_replicas);
            return SendAppend(seq);
        }
        unanswered_.erase(seq);
        wake_();
    };
    if (config_.redis_wait_replicas > 0) {
        cmd_->Send(it->second, [this, seq](redisReply* r) {
            NotePushAnswer(seq, r);
            if (gone_ || !r) return;
            if (r->type == REDIS_REPLY_ERROR) failed_appends_.push_back(seq);
        });
        cmd_->Send({"WAIT", std::to_string(config_.redis_wait_replicas), "1000"}, answered);
        return;
    }
    cmd_->Send(it->second, [this, seq, answered](redisReply* r) {
        NotePushAnswer(seq, r);
        answered(r);
    });
}

bool RedisBackend::Durable(const AppendTicket& t) const {
    return t.seq != 0 && t.seq < next_seq_ && !unanswered_.contains(t.seq);
}

size_t RedisBackend::ready_count() const {
    size_t n = 0;
    for (const auto& r : ready_) n += r.size();
    return n;
}

bool RedisBackend::HasUnread(int level) const {
    return !cmd_->down() && !ready_[size_t(level)].empty();
}

bool RedisBackend::Next(int level, RecordTag* tag) {
    if (!HasUnread(level)) {
        ReadMore();
        return false;
    }
    *tag = ready_[size_t(level)].front();
    ready_[size_t(level)].pop_front();
    ReadMore();
    return true;
}

void RedisBackend::ReadMore() {
    if (gone_ || closed_ || reading_ || !read_->up() || ready_count() >= kPrefetch / 2) return;
    reading_ = true;
    std::vector<std::string> argv = {"XREADGROUP", "GROUP", kGroup,
                                     node_,        "COUNT", std::to_string(kPrefetch)};
    if (!read_pending_first_) {
        argv.push_back("BLOCK");
        argv.push_back(std::to_string(kReadBlockMs));
    }
    argv.push_back("STREAMS");
    for (int l = 0; l < kPriorityLevels; l++) argv.push_back(StreamKey(l));
    for (int l = 0; l < kPriorityLevels; l++)
        argv.push_back(read_pending_first_ ? cursor_[size_t(l)] : ">");
    read_->Send(std::move(argv), [this](redisReply* r) {
        if (gone_) return;
        OnRead(r);
    });
}

void RedisBackend::OnRead(redisReply* r) {
    reading_ = false;
    if (!r) return;  // the link went down; it reads again once it is back
    if (r->type == REDIS_REPLY_ERROR) {
        spdlog::error("redis XREADGROUP: {}", Str(r));
        if (Str(r).starts_with("NOGROUP"))  // redis lost its data: the groups again
            for (int l = 0; l < kPriorityLevels; l++)
                cmd_->Send({"XGROUP", "CREATE", StreamKey(l), kGroup, "0", "MKSTREAM"});
        return;  // the timer reads again
    }
    size_t got = 0, entries = 0;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t s = 0; s < r->elements; s++) {
            const redisReply* stream = r->element[s];
            if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) continue;
            int level = 0;
            while (level < kPriorityLevels && Str(stream->element[0]) != StreamKey(level)) level++;
            if (level == kPriorityLevels) continue;
            const redisReply* list = stream->element[1];
            for (size_t i = 0; i < list->elements; i++) {
                entries++;
                if (read_pending_first_) cursor_[size_t(level)] = Str(list->element[i]->element[0]);
                got += TakeEntry(level, list->element[i]);
            }
        }
    }
    if (read_pending_first_ && entries == 0) read_pending_first_ = false;
    if (got > 0) wake_();
    ReadMore();
}

bool RedisBackend::TakeEntry(int level, const redisReply* e) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) return false;
    const std::string entry(Str(e->element[0]));
    const redisReply* fields = e->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) {  // deleted while pending: nothing to deliver
        cmd_->Send({"XACK", StreamKey(level), kGroup, entry});
        return false;
    }
    if (held_entries_.contains(entry)) return false;
    Held h;
    h.level = level;
    h.entry = entry;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const std::string_view name = Str(fields->element[i]);
        const std::string_view value = Str(fields->element[i + 1]);
        if (name == "p") h.payload = value;
        if (name == "a") h.state.attempts = uint16_t(ToInt(value));
        if (name == "r") h.state.retry_at = uint32_t(ToInt(value));
    }
    const RecordTag tag = next_tag_++;
    held_entries_.insert(entry);
    held_.emplace(tag, std::move(h));
    ready_[size_t(level)].push_back(tag);
    return true;
}

std::string_view RedisBackend::Payload(RecordTag tag) const {
    auto it = held_.find(tag);
    return it == held_.end() ? std::string_view() : std::string_view(it->second.payload);
}

RecordState RedisBackend::State(RecordTag tag) const {
    auto it = held_.find(tag);
    return it == held_.end() ? RecordState{} : it->second.state;
}

void RedisBackend::SetState(RecordTag tag, RecordState state) {
    if (auto it = held_.find(tag); it != held_.end()) it->second.state = state;
}

void RedisBackend::Forget(RecordTag tag) {
    auto it = held_.find(tag);
    if (it == held_.end()) return;
    uint64_t& depth = depth_[size_t(it->second.level)];
    if (depth > 0) depth--;
    held_entries_.erase(it->second.entry);
    held_.erase(it);
}

bool RedisBackend::Requeue(RecordTag tag, RecordState state) {
    auto it = held_.find(tag);
    if (it == held_.end()) return true;
    const Held& h = it->second;
    Message m;
    if (!DecodeMessage(h.payload, &m)) return false;
    const std::string stream = StreamKey(h.level);
    // One transaction: the record is in the due set or still pending here, never neither.
    cmd_->Send({"MULTI"});
    cmd_->Send({"ZADD", Key("due"), std::to_string(int64_t(state.retry_at) * 1000),
                std::to_string(h.level) + ":" + std::to_string(state.attempts) + ":" +
                    std::to_string(state.retry_at) + ":" + std::to_string(m.id) + ":" + h.payload});
    cmd_->Send({"XACK", stream, kGroup, h.entry});
    cmd_->Send({"XDEL", stream, h.entry});
    cmd_->Send({"EXEC"});
    waiting_++;
    Forget(tag);
    return true;
}

void RedisBackend::Done(RecordTag tag) {
    auto it = held_.find(tag);
    if (it == held_.end()) return;
    const std::string stream = StreamKey(it->second.level);
    cmd_->Send({"XACK", stream, kGroup, it->second.entry});
    cmd_->Send({"XDEL", stream, it->second.entry});
    Forget(tag);
}

void RedisBackend::CountTaskOutcome(uint64_t task, std::string_view line, bool sent) {
    const std::string base = tag_ + "task:" + std::to_string(task);
    cmd_->Send({"EVAL", kTaskOutcomeScript, "2", base + ":lines", base + ":counts",
                std::string(line), sent ? "sent" : "failed", kTaskTallyTtlS});
}

void RedisBackend::ReadTaskCounts(uint64_t task, TaskCounts done) {
    const std::string key = tag_ + "task:" + std::to_string(task) + ":counts";
    cmd_->Send({"HMGET", key, "sent", "failed"}, [this, done = std::move(done)](redisReply* r) {
        if (gone_) return;
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return done(false, 0, 0);
        done(true, uint64_t(ToInt(Str(r->element[0]))), uint64_t(ToInt(Str(r->element[1]))));
    });
}

// Entries other nodes left idle for claim_idle_ms: this node takes them over.
void RedisBackend::Claim() {
    for (int l = 0; l < kPriorityLevels; l++) {
        cmd_->Send({"EVAL", kClaimScript, "2", StreamKey(l), Key("dead"), kGroup, node_,
                    std::to_string(config_.redis_claim_idle_ms), std::to_string(kPrefetch),
                    std::to_string(config_.redis_max_deliveries), std::to_string(NowMs())},
                   [this, l](redisReply* r) {
                       if (gone_ || !r) return;
                       if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
                           spdlog::error("redis claim: {}", Str(r));
                           return;
                       }
                       size_t got = 0;
                       for (size_t i = 0; i < r->element[0]->elements; i++)
                           got += TakeEntry(l, r->element[0]->element[i]);
                       for (size_t i = 0; i < r->element[1]->elements; i++)
                           spdlog::warn(
                               "message {} is poison: delivered more than {} times "
                               "without an outcome; kept as a dead letter",
                               Str(r->element[1]->element[i]), config_.redis_max_deliveries);
                       if (got > 0) {
                           spdlog::info("took over {} {} messages left by a stopped node", got,
                                        kLevelNames[l]);
                           wake_();
                       }
                       if (r->element[1]->elements > 0) RefreshCounts();
                   });
    }
}

// The entries this node holds stay its own: XCLAIM to itself resets their idle time.
void RedisBackend::Heartbeat() {
    std::array<std::vector<std::string>, kPriorityLevels> ids;
    for (const auto& [tag, h] : held_) ids[size_t(h.level)].push_back(h.entry);
    for (int l = 0; l < kPriorityLevels; l++) {
        auto& list = ids[size_t(l)];
        for (size_t from = 0; from < list.size(); from += 500) {
            std::vector<std::string> argv = {"XCLAIM", StreamKey(l), kGroup, node_, "0"};
            const size_t to = std::min(list.size(), from + 500);
            argv.insert(argv.end(), list.begin() + long(from), list.begin() + long(to));
            argv.push_back("JUSTID");
            cmd_->Send(std::move(argv));
        }
    }
}

void RedisBackend::MoveDue() {
    cmd_->Send({"EVAL", kMoveScript, "4", Key("due"), StreamKey(0), StreamKey(1), StreamKey(2),
                std::to_string(NowMs()), "500"},
               [this](redisReply* r) {
                   if (gone_ || !r) return;
                   if (r->type == REDIS_REPLY_ERROR) spdlog::error("redis due move: {}", Str(r));
                   if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
                       waiting_ -= std::min<uint64_t>(waiting_, uint64_t(r->integer));
               });
}

void RedisBackend::RefreshCounts() {
    for (int l = 0; l < kPriorityLevels; l++)
        cmd_->Send({"XLEN", StreamKey(l)}, [this, l](redisReply* r) {
            if (!gone_ && r && r->type == REDIS_REPLY_INTEGER)
                depth_[size_t(l)] = uint64_t(r->integer);
        });
    cmd_->Send({"ZCARD", Key("due")}, [this](redisReply* r) {
        if (!gone_ && r && r->type == REDIS_REPLY_INTEGER) waiting_ = uint64_t(r->integer);
    });
    // Dead letters other nodes added or removed: the mirror again when the count differs.
    cmd_->Send({"HLEN", Key("dead")}, [this](redisReply* r) {
        if (gone_ || !r || r->type != REDIS_REPLY_INTEGER || uint64_t(r->integer) == dead_.size())
            return;
        cmd_->Send({"HGETALL", Key("dead")}, [this](redisReply* all) {
            if (!gone_) LoadDeadLetters(all);
        });
    });
}

Status RedisBackend::AddDeadLetter(int errcode, uint16_t attempts, std::string_view error,
                                   std::string_view payload) {
    Message m;
    if (!DecodeMessage(payload, &m)) return Status::Invalid("undecodable message");
    StoredDead d{errcode, NowMs(), attempts, std::string(error), std::string(payload)};
    std::string value = std::to_string(errcode) + "\n" + std::to_string(d.failed_ms) + "\n" +
                        std::to_string(attempts) + "\n" + std::to_string(error.size()) + "\n" +
                        d.error + d.message;
    cmd_->Send({"HSET", Key("dead"), std::to_string(m.id), std::move(value)});
    dead_[m.id] = std::move(d);
    return Status::Ok();
}

bool RedisBackend::FindDeadLetter(uint64_t id, DeadLetter* out) const {
    auto it = dead_.find(id);
    if (it == dead_.end()) return false;
    const StoredDead& d = it->second;
    *out = DeadLetter{d.errcode, d.failed_ms, d.attempts, d.error, d.message};
    return true;
}

bool RedisBackend::RemoveDeadLetter(uint64_t id) {
    if (dead_.erase(id) == 0) return false;
    cmd_->Send({"HDEL", Key("dead"), std::to_string(id)});
    return true;
}

void RedisBackend::ForEachDeadLetter(
    const std::function<bool(uint64_t id, const DeadLetter&)>& fn) const {
    for (const auto& [id, d] : dead_)
        if (!fn(id, DeadLetter{d.errcode, d.failed_ms, d.attempts, d.error, d.message})) return;
}

std::vector<uint64_t> RedisBackend::DeadLetterIds() const {
    std::vector<uint64_t> ids;
    for (const auto& [id, d] : dead_) ids.push_back(id);
    return ids;
}

Status RedisBackend::RequeueDeadLetter(uint64_t id) {
    auto it = dead_.find(id);
    Message m;
    if (it == dead_.end() || !DecodeMessage(it->second.message, &m))
        return Status::NotFound("no dead letter " + std::to_string(id));
    if (cmd_->down()) return Status::Unavailable("the queue (redis) is unreachable");
    m.not_before_ms = 0;
    char header[kMessageHeaderBytes];
    EncodeMessageHeader(m, header);
    std::string payload(header, sizeof header);
    payload.append(m.openid).append(m.key).append(m.data).append(m.options);
    cmd_->Send({"MULTI"});
    cmd_->Send({"XADD", StreamKey(int(m.priority)), "*", "id", std::to_string(id), "a", "0", "r",
                "0", "p", std::move(payload)});
    cmd_->Send({"HDEL", Key("dead"), std::to_string(id)});
    cmd_->Send({"EXEC"});
    depth_[size_t(m.priority)]++;
    dead_.erase(it);
    return Status::Ok();
}

Status RedisBackend::SavePause(std::string_view account, const PauseState& state) {
    PauseMirror& mirror = pauses_[std::string(account)];
    mirror.state = state;
    mirror.has = true;
    mirror.raw = EncodePause(state);
    pause_writes_++;  // a poll sent before this SET answers the old pause
    cmd_->Send({"SET", PauseKey(account), mirror.raw});
    return Status::Ok();
}

Status RedisBackend::LoadPause(std::string_view account, PauseState* state) {
    auto it = pauses_.find(account);
    if (it == pauses_.end() || !it->second.has) return Status::NotFound("no pause saved");
    *state = it->second.state;
    return Status::Ok();
}

void RedisBackend::Tick(int64_t now_ms) {
    PruneDuplicates(now_ms);
    std::erase_if(keys_, [now_ms](const auto& k) { return k.second <= now_ms; });
    if (!cmd_->up()) return;
    cmd_->Send({"ZREMRANGEBYSCORE", Key("keys"), "-inf", std::to_string(NowMs())});
    RefreshCounts();
    std::vector<uint64_t> again;
    again.swap(failed_appends_);
    for (uint64_t seq : again) SendAppend(seq);
}

BackendStats RedisBackend::Stats() const {
    BackendStats s;
    for (int l = 0; l < kPriorityLevels; l++) s.depth[l] = depth_[size_t(l)];
    s.writable = !cmd_->down() && !closed_;
    s.dead_letters = dead_.size();
    s.msgkeys = keys_.size();
    return s;
}

Status RedisBackend::Close() {
    if (closed_) return Status::Ok();
    Publish();
    closed_ = true;
    StopNodeHeartbeat();
    if (timer_) {
        uv_timer_stop(timer_.get());
        uv_close(reinterpret_cast<uv_handle_t*>(timer_.release()), [](uv_handle_t* h) {
            std::unique_ptr<uv_timer_t>(reinterpret_cast<uv_timer_t*>(h));
        });
    }
    CloseLeaseTimer();
    if (read_) read_->Close(true);
    if (cmd_) cmd_->Close(false);  // what was sent is answered first
    return Status::Ok();
}

// --- Shared state: the accounts' rate buckets (leased in batches) and the pause poll.

TokenLease* RedisBackend::LeaseRate(std::string_view account) {
    auto it = leases_.find(account);
    if (it == leases_.end()) {
        Leased l{tag_ + "rate:" + std::string(account),
                 std::make_unique<TokenLease>([this] { AskLeases(); })};
        it = leases_.emplace(std::string(account), std::move(l)).first;
    }
    return it->second.lease.get();
}

void RedisBackend::PollShared(int64_t now_ms) {
    if (now_ms - last_pause_poll_ms_ >= kPausePollMs) {
        last_pause_poll_ms_ = now_ms;
        PollPause();
    }
    AskLeases();
}

// Other nodes' pauses and resumes, every account's in one MGET: the mirrors take them, and
// the dispatcher (woken) applies them.
void RedisBackend::PollPause() {
    if (pauses_.empty()) return;
    std::vector<std::string> argv = {"MGET"};
    std::vector<std::string> accounts;
    for (const auto& [account, mirror] : pauses_) {
        argv.push_back(PauseKey(account));
        accounts.push_back(account);
    }
    const uint64_t writes = pause_writes_;
    cmd_->Send(std::move(argv), [this, writes, accounts](redisReply* r) {
        // Stale when this node saved a pause after the MGET went out.
        if (gone_ || !r || r->type != REDIS_REPLY_ARRAY || writes != pause_writes_) return;
        bool changed = false;
        for (size_t i = 0; i < r->elements && i < accounts.size(); ++i) {
            const redisReply* e = r->element[i];
            if (e->type != REDIS_REPLY_STRING) continue;
            PauseMirror& mirror = pauses_[accounts[i]];
            if (mirror.has && Str(e) == mirror.raw) continue;
            mirror.raw = Str(e);
            DecodePause(mirror.raw, &mirror.state);
            mirror.has = changed = true;
        }
        if (!changed) return;
        pause_changes_++;
        wake_();
    });
}

void RedisBackend::AskLeases() {
    if (gone_ || closed_ || !cmd_ || !cmd_->up()) return;
    const int64_t now = NowMs();
    for (auto& [account, l] : leases_) AskLease(l, now);
    ArmLeaseTimer(now);
}

void RedisBackend::AskLease(Leased& l, int64_t now_ms) {
    TokenLease* lease = l.lease.get();
    const int want = lease->Want(now_ms);
    if (want <= 0) return;
    lease->Asked(now_ms);
    cmd_->Send({"EVAL", kLeaseScript, "1", l.key, std::to_string(lease->rate()),
                std::to_string(lease->burst()), std::to_string(want)},
               [this, lease, want](redisReply* r) {
                   if (gone_) return;
                   if (!r) return lease->Lost();  // the link went down
                   if (r->type != REDIS_REPLY_INTEGER)
                       spdlog::error("redis rate bucket: {}", Str(r));
                   const int got = r->type == REDIS_REPLY_INTEGER ? int(r->integer) : 0;
                   lease->Granted(want, got, NowMs());
                   if (got > 0) wake_();  // the dispatcher may send again
                   AskLeases();
               });
}

// After a short grant a lease waits a few ms for its next ask: one timer for the soonest.
void RedisBackend::ArmLeaseTimer(int64_t now_ms) {
    int64_t at = 0;
    for (const auto& [account, l] : leases_) {
        const int64_t next = l.lease->next_ask_ms();
        if (next > now_ms && (at == 0 || next < at)) at = next;
    }
    if (at == 0 || (lease_timer_at_ms_ > now_ms && lease_timer_at_ms_ <= at)) return;
    if (!lease_timer_) {
        lease_timer_ = std::make_unique<uv_timer_t>();
        uv_timer_init(loop_, lease_timer_.get());
        lease_timer_->data = this;
    }
    lease_timer_at_ms_ = at;
    uv_timer_start(
        lease_timer_.get(),
        [](uv_timer_t* t) {
            auto* self = static_cast<RedisBackend*>(t->data);
            self->lease_timer_at_ms_ = 0;
            self->AskLeases();
        },
        uint64_t(at - now_ms), 0);
}

void RedisBackend::LoseLeases() {
    for (auto& [account, l] : leases_) l.lease->Lost();
}

void RedisBackend::CloseLeaseTimer() {
    LoseLeases();
    if (!lease_timer_) return;
    uv_timer_stop(lease_timer_.get());
    uv_close(reinterpret_cast<uv_handle_t*>(lease_timer_.release()),
             [](uv_handle_t* h) { std::unique_ptr<uv_timer_t>(reinterpret_cast<uv_timer_t*>(h)); });
}

}  // namespace mega
