// Attempt-log entries ({"at":ms,"st":"retrying","n":1,"ec":-1,"us":812,"em":"…"}) and the
// timeline built from them and the row.
#include "store/MessageTimeline.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <set>

namespace mega {
namespace {

constexpr size_t kEntryErrmsgChars = 200;

bool StatusOfName(std::string_view name, LogStatus* status) {
    for (LogStatus s :
         {LogStatus::kRetrying, LogStatus::kSent, LogStatus::kFailed, LogStatus::kCancelled}) {
        if (name == LogStatusName(s)) {
            *status = s;
            return true;
        }
    }
    return false;
}

const char* EventOf(LogStatus s) {
    return s == LogStatus::kRetrying ? "retry" : LogStatusName(s);
}

bool ReadEntry(const rapidjson::Value& v, AttemptEntry* e) {
    if (!v.IsObject() || !v.HasMember("st") || !v["st"].IsString() ||
        !StatusOfName(v["st"].GetString(), &e->status))
        return false;
    auto int_of = [&v](const char* key) -> int64_t {
        return v.HasMember(key) && v[key].IsInt64() ? v[key].GetInt64() : 0;
    };
    e->at_ms = int_of("at");
    e->attempt = int(int_of("n"));
    e->errcode = int(int_of("ec"));
    e->latency_us = uint32_t(std::max<int64_t>(0, int_of("us")));
    if (v.HasMember("em") && v["em"].IsString()) e->errmsg = v["em"].GetString();
    return true;
}

TimelineStep StepOf(const AttemptEntry& e) {
    TimelineStep s;
    s.event = EventOf(e.status);
    s.at_ms = e.at_ms;
    s.attempt = e.attempt;
    s.errcode = e.errcode;
    s.errmsg = e.errmsg;
    s.latency_us = e.latency_us > 0 ? int64_t(e.latency_us) : -1;
    return s;
}

// The step the row's own columns say, when its entries do not: its final state, or the
// retry it waits on.
bool RowStep(const MessageRow& row, TimelineStep* s) {
    if (row.status != "sent" && row.status != "failed" && row.status != "cancelled" &&
        row.status != "retrying")
        return false;
    s->event = row.status == "retrying" ? "retry" : row.status;
    s->at_ms = row.status == "sent" && row.sent_ms ? row.sent_ms : row.updated_ms;
    s->attempt = row.attempts;
    s->errcode = row.errcode;
    s->errmsg = row.errmsg;
    s->from_row = true;
    return true;
}

}  // namespace

bool AppendAttemptEntry(const LogEvent& e, std::string* log) {
    if (e.status == LogStatus::kQueued || e.status == LogStatus::kSending) return false;
    std::string errmsg = e.errmsg;
    FitUtf8Column(&errmsg, kEntryErrmsgChars);
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("at");
    w.Int64(e.at_ms);
    w.Key("st");
    w.String(LogStatusName(e.status));
    w.Key("n");
    w.Int(e.attempts);
    w.Key("ec");
    w.Int(e.errcode);
    w.Key("us");
    w.Uint(e.latency_us);
    if (!errmsg.empty()) {
        w.Key("em");
        w.String(errmsg.data(), rapidjson::SizeType(errmsg.size()));
    }
    w.EndObject();
    const size_t sep = log->empty() ? 0 : 1;
    if (log->size() + sep + buf.GetSize() > kAttemptLogChars) return false;
    if (sep) *log += ',';
    log->append(buf.GetString(), buf.GetSize());
    return true;
}

bool ParseAttemptLog(std::string_view text, std::vector<AttemptEntry>* out) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return true;
    std::string array = "[";
    array.append(text);
    array += ']';
    rapidjson::Document d;
    d.Parse(array.data(), array.size());
    if (d.HasParseError() || !d.IsArray()) return false;
    bool whole = true;
    for (const auto& v : d.GetArray()) {
        AttemptEntry e;
        if (ReadEntry(v, &e)) {
            out->push_back(std::move(e));
        } else {
            whole = false;
        }
    }
    return whole;
}

Timeline BuildTimeline(const MessageRow& row) {
    Timeline t;
    TimelineStep queued;
    queued.event = "queued";
    queued.at_ms = row.created_ms;
    t.steps.push_back(queued);
    std::vector<AttemptEntry> entries;
    if (row.has_attempt_log) ParseAttemptLog(row.attempt_log, &entries);
    std::set<int> attempts_seen;
    bool final_seen = false;
    for (const AttemptEntry& e : entries) {
        t.steps.push_back(StepOf(e));
        if (e.status != LogStatus::kCancelled) attempts_seen.insert(e.attempt);
        final_seen = final_seen || e.status != LogStatus::kRetrying;
    }
    TimelineStep last;
    const bool row_final =
        row.status == "sent" || row.status == "failed" || row.status == "cancelled";
    if ((row_final ? !final_seen : entries.empty()) && RowStep(row, &last)) t.steps.push_back(last);
    t.itemized = row.has_attempt_log;
    for (int n = 1; n <= row.attempts && t.itemized; n++) t.itemized = attempts_seen.count(n) > 0;
    return t;
}

}  // namespace mega
