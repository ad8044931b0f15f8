// GET /api/history?range=24h|7d: the dashboard's history from the message log's buckets
// (store/MessageHistory.h): per step, messages queued, sent, failed, retried and cancelled,
// the wait (accepted to sent) and the send latency (one WeChat call), average and maximum.
// MySQL is read off the loop; when it cannot be reached the reply is 503, nothing else stops.
#include <memory>
#include <string>
#include <vector>

#include "admin/AdminRoutes.h"
#include "base/Clock.h"
#include "base/OffLoop.h"
#include "http/HttpReply.h"
#include "server/Server.h"
#include "store/MessageHistory.h"
#include "store/MessageQueries.h"

namespace mega {
namespace {

// sum / count in ms (the sum in `per_ms` units a ms), or null when nothing was counted.
void AverageField(JsonWriter& w, const char* key, uint64_t sum, uint64_t count, double per_ms) {
    w.Key(key);
    if (count == 0) {
        w.Null();
        return;
    }
    w.Double(double(sum) / double(count) / per_ms);
}

void MaxField(JsonWriter& w, const char* key, uint64_t max, uint64_t count, double per_ms) {
    w.Key(key);
    if (count == 0) {
        w.Null();
        return;
    }
    w.Double(double(max) / per_ms);
}

// The members of one point (or of the totals) after its time.
void WritePointFields(JsonWriter& w, const HistoryPoint& p) {
    Field(w, "queued", p.queued);
    Field(w, "sent", p.sent);
    Field(w, "failed", p.failed);
    Field(w, "retried", p.retried);
    Field(w, "cancelled", p.cancelled);
    Field(w, "wait_count", p.wait_count);
    AverageField(w, "wait_avg_ms", p.wait_sum_ms, p.wait_count, 1);
    MaxField(w, "wait_max_ms", p.wait_max_ms, p.wait_count, 1);
    Field(w, "latency_count", p.latency_count);
    AverageField(w, "latency_avg_ms", p.latency_sum_us, p.latency_count, 1000);
    MaxField(w, "latency_max_ms", p.latency_max_us, p.latency_count, 1000);
}

HttpResponse HistoryReply(const std::string& range, const HistoryWindow& window,
                          const std::vector<HistoryPoint>& points, bool message_log) {
    HistoryPoint totals;
    for (const HistoryPoint& p : points) totals.Add(p);
    return JsonReply([&](JsonWriter& w) {
        w.StartObject();
        Field(w, "range", range);
        Field(w, "step_ms", window.step_ms);
        Field(w, "from_ms", window.from_ms);
        Field(w, "to_ms", window.to_ms());
        Field(w, "message_log", message_log);  // off: nothing new is counted
        w.Key("totals");
        w.StartObject();
        WritePointFields(w, totals);
        w.EndObject();
        w.Key("points");
        w.StartArray();
        for (const HistoryPoint& p : points) {
            w.StartObject();
            Field(w, "t_ms", p.t_ms);
            WritePointFields(w, p);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    });
}

void GetHistory(Server& server, HttpCall& call) {
    std::string range = "24h";
    call.request.QueryParam("range", &range);
    HistoryWindow window;
    if (!HistoryWindowOf(range, NowMs(), &window))
        return call.responder.Send(ErrorReply(400, "range must be 24h or 7d"));
    struct Result {
        Status status;
        std::vector<HistoryPoint> steps;
    };
    auto result = std::make_shared<Result>();
    const Config& config = server.config();
    OffLoop(
        server.loop(),
        [&config, window, result] { result->status = ReadHistory(config, window, &result->steps); },
        [result, range, window, log = config.message_log, responder = call.responder] {
            const Status s = MessageStoreStatus(result->status, "GET /api/history");
            if (!s.ok()) return responder.Send(StatusReply(s));
            responder.Send(HistoryReply(range, window, FillHistory(window, result->steps), log));
        });
}

}  // namespace

void AddHistoryRoutes(RouteTable& routes, Server& server) {
    routes.Get("/api/history", [&server](HttpCall& call) { GetHistory(server, call); });
}

}  // namespace mega
