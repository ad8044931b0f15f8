// GET /metrics: the server's counters and gauges in the Prometheus text format (Metrics.h),
// with the send-latency and queue-sync histograms.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "admin/AdminRoutes.h"
#include "admin/Metrics.h"
#include "base/Clock.h"
#include "base/Version.h"
#include "server/Server.h"
#include "server/TaskRunner.h"

namespace mega {
namespace {

void AddQueueMetrics(MetricsText& m, const Server::Snapshot& s) {
    for (int l = 0; l < kPriorityLevels; l++)
        m.Gauge("mega_queue_depth", "Messages queued and not finished, by priority.",
                double(s.depth[l]), Label("priority", PriorityName(l)));
    m.Gauge("mega_queue_disk_bytes", "Bytes of queue segment files.", double(s.disk_bytes));
    m.Gauge("mega_queue_scanning_segments",
            "Segments still being checked after a restart (their messages not yet counted).",
            double(s.scanning_segments));
    m.Counter("mega_queue_corrupt_records_total",
              "Corrupt queue records recovery skipped since the start (logged one by one).",
              double(s.recovery.corrupt_records));
    m.Counter("mega_queue_damaged_segments_total",
              "Queue segments with an unreadable header, moved aside as *.damaged.",
              double(s.recovery.damaged_segments));
    m.Gauge("mega_inflight", "WeChat calls under way.", double(s.inflight));
    m.Gauge("mega_waiting", "Messages waiting for a delay or a retry.", double(s.waiting));
    m.Gauge("mega_dead_letters", "Messages in the failed store.", double(s.dead_letters));
    m.Gauge("mega_connections", "Open client connections.", double(s.connections));
    m.Counter("mega_connections_refused_total", "Clients refused over max_connections.",
              double(s.connections_refused));
    m.Counter("mega_connections_timed_out_total",
              "Clients closed by the frame or the idle timeout.", double(s.connections_timed_out));
    m.Gauge("mega_templates", "Templates cached.", double(s.templates));
}

void AddDeliveryMetrics(MetricsText& m, const Server::Snapshot& s) {
    m.Gauge("mega_account_paused", "1 while sending is paused (quota or operator).",
            s.pause.paused ? 1 : 0);
    m.Counter("mega_messages_sent_total", "Messages WeChat accepted.", double(s.counters.sent));
    m.Counter("mega_messages_failed_total", "Messages that failed for good.",
              double(s.counters.failed));
    // The status model's ends (docs/EVENTS.md), counted since the start.
    const char* kTotal = "mega_messages_total";
    const char* kHelp =
        "Messages that reached a status: sent, failed, cancelled, and the receipts.";
    const std::pair<const char*, uint64_t> ends[] = {
        {"sent", s.counters.sent},           {"failed", s.counters.failed},
        {"cancelled", s.counters.cancelled}, {"delivered", s.receipts.delivered},
        {"blocked", s.receipts.blocked},     {"undelivered", s.receipts.undelivered}};
    for (const auto& [status, n] : ends)
        m.Counter(kTotal, kHelp, double(n), Label("status", status));
    m.Counter("mega_retries_total", "Attempts that failed and were scheduled again.",
              double(s.counters.retried));
    static const char* kOutcomes[] = {"sent", "transient", "token", "quota", "permanent"};
    static_assert(std::size(kOutcomes) == std::size(DispatchCounters{}.by_outcome));
    for (size_t i = 0; i < std::size(kOutcomes); i++)
        m.Counter("mega_send_attempts_total", "template/send calls by outcome.",
                  double(s.counters.by_outcome[i]), Label("outcome", kOutcomes[i]));
    m.Counter("mega_quota_hits_total", "45009 answers (daily quota reached).",
              double(s.counters.quota_hits));
    m.Counter("mega_token_refreshes_total", "access_token fetches.", double(s.token_refreshes));
    m.Counter("mega_api_base_switches_total", "Failovers between api_base URLs.",
              double(s.base_switches));
}

// WeChat's pushes to [events] listen (events/ReceiptWriter.h): receipts by what they did,
// refused pushes by reason.
void AddReceiptMetrics(MetricsText& m, const ReceiptCounts& r) {
    const char* kReceipts = "mega_receipts_total";
    const char* kHelp = "WeChat delivery receipts: applied (by status), repeat or unknown.";
    m.Counter(kReceipts, kHelp, double(r.delivered), Label("result", "delivered"));
    m.Counter(kReceipts, kHelp, double(r.blocked), Label("result", "blocked"));
    m.Counter(kReceipts, kHelp, double(r.undelivered), Label("result", "undelivered"));
    m.Counter(kReceipts, kHelp, double(r.repeats), Label("result", "repeat"));
    m.Counter(kReceipts, kHelp, double(r.unknown), Label("result", "unknown"));
    m.Gauge("mega_receipts_pending", "Journaled WeChat events not applied yet.", double(r.pending));
    m.Counter("mega_subscribe_choices_total", "Subscribe choices recorded.", double(r.choices));
    const char* kRefused = "mega_event_pushes_refused_total";
    const char* kWhy = "WeChat pushes refused, by reason.";
    m.Counter(kRefused, kWhy, double(r.bad_signature), Label("reason", "signature"));
    m.Counter(kRefused, kWhy, double(r.stale), Label("reason", "stale"));
    m.Counter(kRefused, kWhy, double(r.bad_appid), Label("reason", "appid"));
    m.Counter(kRefused, kWhy, double(r.malformed), Label("reason", "malformed"));
    m.Counter(kRefused, kWhy, double(r.journal_errors), Label("reason", "journal"));
}

// Status callbacks per [callback.NAME] (callbacks/CallbackLane.h).
void AddCallbackMetrics(MetricsText& m, const std::vector<CallbackCounts>& all) {
    const char* kTotal = "mega_callbacks_total";
    const char* kHelp = "Status callbacks: delivered (2xx), failed attempts, expired (max_age_s).";
    for (const CallbackCounts& c : all) {
        const std::string name = Label("callback", c.name);
        m.Counter(kTotal, kHelp, double(c.delivered), name + "," + Label("result", "delivered"));
        m.Counter(kTotal, kHelp, double(c.failed_attempts),
                  name + "," + Label("result", "failed_attempt"));
        m.Counter(kTotal, kHelp, double(c.expired), name + "," + Label("result", "expired"));
    }
    for (const CallbackCounts& c : all)
        m.Gauge("mega_callbacks_pending", "Status callbacks not delivered yet.", double(c.pending),
                Label("callback", c.name));
}

// The same per account (label `account`), one name after the other.
void AddAccountMetrics(MetricsText& m, const Server::Snapshot& s) {
    for (const auto& a : s.accounts)
        m.Gauge("mega_account_is_paused", "1 while the account is paused (quota or operator).",
                a.paused ? 1 : 0, Label("account", a.name));
    for (const auto& a : s.accounts)
        m.Counter("mega_account_sent_total", "Messages the account's API accepted.",
                  double(a.counters.sent), Label("account", a.name));
    for (const auto& a : s.accounts)
        m.Counter("mega_account_failed_total", "Messages of the account that failed for good.",
                  double(a.counters.failed), Label("account", a.name));
    for (const auto& a : s.accounts)
        m.Counter("mega_account_quota_hits_total", "45009 answers to the account.",
                  double(a.counters.quota_hits), Label("account", a.name));
    for (const auto& a : s.accounts)
        m.Gauge("mega_account_held",
                "Messages due, waiting for their paused or rate-limited "
                "account.",
                double(a.held), Label("account", a.name));
}

void AddMessageLogMetrics(MetricsText& m, const Server::Snapshot& s) {
    m.Counter("mega_message_log_rows_written_total", "Rows the message-log writer wrote.",
              double(s.log_written));
    m.Counter("mega_message_log_dropped_total", "Message-log events dropped (MySQL slow or down).",
              double(s.log_dropped));
    m.Counter("mega_message_log_rejected_total",
              "Message-log rows MySQL refused, written without their body or dropped.",
              double(s.log_rejected));
    m.Gauge("mega_message_log_pending", "Message-log rows waiting to be written.",
            double(s.log_pending));
    AddReceiptMetrics(m, s.receipts);
    AddCallbackMetrics(m, s.callbacks);
}

// The standard process metrics of Prometheus clients, from /proc/self: resident memory, CPU
// seconds, open descriptors, start time. A few small reads per scrape.
void AddProcessMetrics(MetricsText& m) {
    std::ifstream stat("/proc/self/stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');  // the command name may hold spaces
    std::istringstream fields(close == std::string::npos ? "" : line.substr(close + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
    const double tick = double(::sysconf(_SC_CLK_TCK)), page = double(::sysconf(_SC_PAGESIZE));
    if (f.size() > 21) {  // fields from the 3rd: utime is the 14th, starttime the 22nd, rss 24th
        m.Counter(
            "process_cpu_seconds_total", "User and system CPU time spent in seconds.",
            (std::strtod(f[11].c_str(), nullptr) + std::strtod(f[12].c_str(), nullptr)) / tick);
        m.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                std::strtod(f[21].c_str(), nullptr) * page);
        std::ifstream uptime("/proc/uptime");
        double up = 0;
        uptime >> up;
        const double boot = double(NowMs()) / 1000 - up;
        m.Gauge("process_start_time_seconds", "Start time of the process since unix epoch.",
                boot + std::strtod(f[19].c_str(), nullptr) / tick);
    }
    size_t fds = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        fds++;
    m.Gauge("process_open_fds", "Number of open file descriptors.", double(fds));
}

void AddTaskMetrics(MetricsText& m, const std::vector<TaskInfo>& tasks) {
    std::map<std::string, uint64_t> by_status;
    uint64_t sent = 0, failed = 0;
    for (const TaskInfo& t : tasks) {
        by_status[t.status]++;
        sent += t.sent;
        failed += t.failed;
    }
    for (const auto& [status, n] : by_status)
        m.Gauge("mega_tasks", "Batch tasks by status.", double(n), Label("status", status));
    m.Gauge("mega_task_messages_sent", "Messages of the listed tasks sent.", double(sent));
    m.Gauge("mega_task_messages_failed", "Messages of the listed tasks failed.", double(failed));
}

HttpResponse MetricsReply(const Server::Snapshot& s, const std::vector<TaskInfo>& tasks) {
    MetricsText m;
    m.Gauge("mega_build_info", "Version and commit of this build (the value is 1).", 1,
            Label("version", MEGA_VERSION) + "," + Label("commit", MEGA_GIT_COMMIT));
    AddProcessMetrics(m);
    AddQueueMetrics(m, s);
    AddTaskMetrics(m, tasks);
    AddDeliveryMetrics(m, s);
    AddAccountMetrics(m, s);
    AddMessageLogMetrics(m, s);
    std::string text = std::move(m.text());
    const LatencyHistogram& latency = s.counters.latency;
    RenderHistogram("mega_send_latency_seconds", "Duration of template/send calls.",
                    LatencyHistogram::kBounds, latency.counts(), latency.sum(), &text);
    RenderHistogram("mega_queue_sync_seconds",
                    "Duration of the queue flusher's fdatasync rounds (what fsync = always "
                    "acknowledgements wait on).",
                    SyncTimes::kBounds, s.syncs.counts, s.syncs.sum_seconds, &text);
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = std::move(text);
    return r;
}

}  // namespace

void AddMetricsRoutes(RouteTable& routes, Server& server) {
    routes.Get("/metrics", [&server](HttpCall& call) {
        call.responder.Send(MetricsReply(server.Stats(), server.tasks().List()));
    });
}

}  // namespace mega
