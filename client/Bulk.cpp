// The bulk run: a first pass counts and checks the openid lines (for the progress total),
// a second streams them into the client's window. Replies are matched by the client;
// AckedPrefix turns out-of-order acknowledgements into the resumable line count that is
// saved (write temp + fsync + rename) every ~0.5 s and at the end.
#include "client/Bulk.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "base/UniqueFd.h"

namespace mega::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kRejectionsKept = 5;
constexpr int kPumpSliceMs = 100;        // the loop wakes this often to redraw and save
constexpr int kInterruptDrainMs = 5000;  // after a stop request: wait this long for replies
constexpr double kTtyRedrawSeconds = 0.1;
constexpr double kPlainLineSeconds = 5.0;

double SecondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string_view TrimWhitespace(std::string_view s) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

// Reads the openid lines of a file: one per line, blank lines and #-comments skipped.
class OpenidReader {
  public:
    Status Open(const std::string& path) {
        path_ = path;
        in_.open(path, std::ios::in | std::ios::binary);
        if (!in_) return Status::IoError(path + ": " + std::strerror(errno));
        return Status::Ok();
    }

    // The next openid (false at the end or on error(); then status() tells which).
    bool Next(std::string_view* openid) {
        while (std::getline(in_, line_)) {
            ++line_no_;
            std::string_view word = TrimWhitespace(line_);
            if (word.empty() || word.front() == '#') continue;
            for (char c : word) {
                if (static_cast<unsigned char>(c) <= ' ') {
                    status_ = Status::Invalid(path_ + ":" + std::to_string(line_no_) + ": '" +
                                              std::string(word) +
                                              "' is not one openid (it contains whitespace)");
                    return false;
                }
            }
            *openid = word;
            return true;
        }
        if (in_.bad()) status_ = Status::IoError(path_ + ": read error");
        return false;
    }

    const Status& status() const { return status_; }
    uint64_t line_no() const { return line_no_; }

  private:
    std::string path_;
    std::ifstream in_;
    std::string line_;
    uint64_t line_no_ = 0;
    Status status_;
};

std::string FormatDuration(double seconds) {
    if (!(seconds >= 0) || seconds > 360000) return "--:--";
    const auto s = static_cast<uint64_t>(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(
            buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
            static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
    else
        std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(s / 60),
                      static_cast<unsigned long long>(s % 60));
    return buf;
}

// The progress bar on stderr: redrawn in place (\r) at most 10 times a second on a
// terminal, else one plain line every few seconds so that logs stay readable.
class ProgressDisplay {
  public:
    ProgressDisplay(std::FILE* out, bool tty, uint64_t total)
        : out_(out), tty_(tty), total_(total) {}

    // `done`: lines answered so far (all runs); `answered_now`: by this run, over `elapsed`.
    void Update(uint64_t done, uint64_t answered_now, double elapsed, bool force = false) {
        if (out_ == nullptr) return;
        const double since = elapsed - last_draw_;
        if (!force && drawn_ && since < (tty_ ? kTtyRedrawSeconds : kPlainLineSeconds)) return;
        if (!force && !drawn_ && !tty_ && elapsed < kPlainLineSeconds) return;
        last_draw_ = elapsed;
        drawn_ = true;
        const double fraction = total_ == 0 ? 1.0 : double(done) / double(total_);
        const double rate = elapsed > 0 ? double(answered_now) / elapsed : 0.0;
        const double eta = rate > 0 ? double(total_ - std::min(done, total_)) / rate : -1;
        char line[160];
        if (tty_) {
            constexpr int kWidth = 30;
            char bar[kWidth + 1];
            const int filled = std::clamp(int(fraction * kWidth), 0, kWidth);
            for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '-';
            bar[kWidth] = '\0';
            std::snprintf(line, sizeof line, "\r[%s] %5.1f%%  %llu/%llu  %.0f/s  ETA %s\x1b[K", bar,
                          fraction * 100, static_cast<unsigned long long>(done),
                          static_cast<unsigned long long>(total_), rate,
                          FormatDuration(eta).c_str());
        } else {
            std::snprintf(line, sizeof line, "bulk: %.1f%%  %llu/%llu  %.0f/s  ETA %s\n",
                          fraction * 100, static_cast<unsigned long long>(done),
                          static_cast<unsigned long long>(total_), rate,
                          FormatDuration(eta).c_str());
        }
        std::fputs(line, out_);
        std::fflush(out_);
    }

    void Finish(uint64_t done, uint64_t answered_now, double elapsed) {
        if (out_ == nullptr || !tty_) return;
        Update(done, answered_now, elapsed, true);
        std::fputc('\n', out_);
        std::fflush(out_);
    }

  private:
    std::FILE* out_;
    bool tty_;
    uint64_t total_;
    double last_draw_ = 0;
    bool drawn_ = false;
};

// What the reply callbacks update while the run loop pumps.
struct RunState {
    BulkReport* report;
    AckedPrefix acks;
    bool stop_submitting = false;
    bool server_error = false;
    Clock::time_point last_reply;
};

}  // namespace

void AckedPrefix::Ack(uint64_t line) {
    if (line < prefix_ || line >= next_) return;
    acked_[line - prefix_] = true;
    while (!acked_.empty() && acked_.front()) {
        acked_.pop_front();
        ++prefix_;
    }
}

std::string ProgressPath(const std::string& openids_path) {
    return openids_path + ".progress";
}

Status LoadProgress(const std::string& path, uint64_t* acknowledged) {
    *acknowledged = 0;
    std::ifstream in(path, std::ios::in | std::ios::binary);
    if (!in) {
        if (errno == ENOENT) return Status::Ok();
        return Status::IoError(path + ": " + std::strerror(errno));
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string_view digits = TrimWhitespace(text);
    uint64_t value = 0;
    bool good = !digits.empty() && digits.size() <= 19;
    for (char c : digits) {
        if (c < '0' || c > '9')
            good = false;
        else
            value = value * 10 + uint64_t(c - '0');
    }
    if (!good)
        return Status::Invalid(path + " does not hold a line count ('" +
                               std::string(digits.substr(0, 40)) +
                               "'); delete it or use --restart");
    *acknowledged = value;
    return Status::Ok();
}

Status SaveProgress(const std::string& path, uint64_t acknowledged) {
    const std::string temp = path + ".tmp";
    const std::string text = std::to_string(acknowledged) + "\n";
    {
        UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd) return Status::IoError(temp + ": " + std::strerror(errno));
        size_t written = 0;
        while (written < text.size()) {
            ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return Status::IoError(temp + ": " + std::strerror(errno));
            written += size_t(n);
        }
        if (::fsync(fd.get()) != 0) return Status::IoError(temp + ": " + std::strerror(errno));
    }
    if (::rename(temp.c_str(), path.c_str()) != 0)
        return Status::IoError("rename " + temp + " to " + path + ": " + std::strerror(errno));
    return Status::Ok();
}

Status RunBulk(MegaClient* client, const BulkJob& job, BulkReport* report) {
    *report = BulkReport{};
    const std::string progress_path = ProgressPath(job.openids_path);

    // Pass 1: count (and check) the openid lines, for the progress total.
    {
        OpenidReader counter;
        Status s = counter.Open(job.openids_path);
        if (!s.ok()) return s;
        std::string_view openid;
        while (counter.Next(&openid)) ++report->total;
        if (!counter.status().ok()) return counter.status();
    }
    uint64_t start = 0;
    if (!job.restart) {
        Status s = LoadProgress(progress_path, &start);
        if (!s.ok()) return s;
        if (start > report->total)
            return Status::Invalid(progress_path + " counts " + std::to_string(start) +
                                   " lines done but " + job.openids_path + " has only " +
                                   std::to_string(report->total) + "; use --restart");
    }
    report->resumed_from = start;
    report->acknowledged = start;
    // Written now so that an unwritable directory is found before anything is sent.
    if (Status w = SaveProgress(progress_path, start); !w.ok()) return w;

    // Pass 2: stream the lines after the acknowledged prefix.
    OpenidReader reader;
    Status s = reader.Open(job.openids_path);
    if (!s.ok()) return s;
    std::string_view openid;
    for (uint64_t skipped = 0; skipped < start; ++skipped) {
        if (!reader.Next(&openid))
            return reader.status().ok() ? Status::IoError(job.openids_path + " changed while read")
                                        : reader.status();
    }

    const auto started = Clock::now();
    RunState state{report, AckedPrefix(start), false, false, started};
    ProgressDisplay display(job.progress_out, job.progress_is_tty, report->total);
    auto last_save = started;
    uint64_t saved = start;
    bool at_end = false, interrupted = false, transport_error = false;
    bool draining = false;
    Clock::time_point drain_deadline;
    Status file_error;
    auto answered = [report] { return report->ok + report->rejected + report->errors; };

    while (true) {
        if (job.stop_requested && job.stop_requested()) {
            if (draining && interrupted) break;  // asked twice: stop at once
            interrupted = true;
            state.stop_submitting = true;
        }
        while (!state.stop_submitting && !at_end && client->CanSubmit()) {
            if (!reader.Next(&openid)) {
                at_end = true;
                if (!reader.status().ok()) {
                    file_error = reader.status();
                    state.stop_submitting = true;
                }
                break;
            }
            const uint64_t line = state.acks.Add();
            auto on_reply = [&state, line, who = std::string(openid)](const Status& status,
                                                                      const Reply& reply) {
                BulkReport& r = *state.report;
                state.last_reply = Clock::now();
                if (!status.ok()) {
                    ++r.errors;
                    return;
                }
                if (reply.code == 200 || reply.code == 400) {
                    state.acks.Ack(line);
                    if (reply.code == 200) {
                        ++r.ok;
                    } else {
                        ++r.rejected;
                        if (r.first_rejections.size() < kRejectionsKept)
                            r.first_rejections.push_back(who + ": " + reply.message);
                    }
                    return;
                }
                ++r.errors;
                state.stop_submitting = true;
                if (!state.server_error) {
                    state.server_error = true;
                    r.error = "server answered " + std::to_string(reply.code) + " " +
                              reply.message + " (openid " + who + ")";
                }
            };
            Status sub = client->Submit(job.command, openid, job.key, job.data_json, job.options,
                                        std::move(on_reply));
            if (!sub.ok()) {
                if (report->error.empty()) report->error = sub.message();
                transport_error = true;
                state.stop_submitting = true;
                break;
            }
            ++report->sent;
            if (report->sent == 1) state.last_reply = Clock::now();
        }
        if (client->in_flight() == 0) break;  // all answered, or stopped and drained

        if (state.stop_submitting && !draining) {
            draining = true;
            const int grace = state.server_error
                                  ? job.reply_timeout_ms
                                  : std::min(job.reply_timeout_ms, kInterruptDrainMs);
            drain_deadline = Clock::now() + std::chrono::milliseconds(grace);
        }
        if (draining && Clock::now() >= drain_deadline) break;
        if (SecondsSince(state.last_reply) * 1000 > job.reply_timeout_ms) {
            if (report->error.empty())
                report->error = "no reply for " + std::to_string(job.reply_timeout_ms / 1000) +
                                " s with " + std::to_string(client->in_flight()) +
                                " requests in flight";
            transport_error = true;
            break;
        }

        Status pumped = client->Pump(kPumpSliceMs);
        if (!pumped.ok()) {
            // After a 500 the server closes the connection: that is no news.
            if (!state.server_error && report->error.empty()) report->error = pumped.message();
            transport_error = true;
            break;
        }

        const double elapsed = SecondsSince(started);
        if (SecondsSince(last_save) * 1000 >= job.progress_interval_ms &&
            state.acks.prefix() != saved) {
            Status w = SaveProgress(progress_path, state.acks.prefix());
            if (!w.ok()) {
                file_error = w;
                break;
            }
            saved = state.acks.prefix();
            last_save = Clock::now();
        }
        display.Update(start + answered(), answered(), elapsed);
    }
    // Whatever is still in flight will not be waited for: fail it (its callbacks count
    // the errors) so that no callback outlives this frame.
    if (client->in_flight() > 0) client->Close();

    report->acknowledged = state.acks.prefix();
    report->seconds = SecondsSince(started);
    Status w = SaveProgress(progress_path, report->acknowledged);
    display.Finish(start + answered(), answered(), report->seconds);

    if (state.server_error)
        report->outcome = BulkReport::Outcome::kServerError;
    else if (interrupted)
        report->outcome = BulkReport::Outcome::kInterrupted;
    else if (transport_error || report->acknowledged < report->total)
        report->outcome = BulkReport::Outcome::kTransportError;
    if (report->outcome == BulkReport::Outcome::kInterrupted && report->error.empty())
        report->error = "interrupted";
    if (report->outcome == BulkReport::Outcome::kTransportError && report->error.empty())
        report->error = "connection lost";
    if (!file_error.ok()) return file_error;
    return w;
}

std::string FormatBulkSummary(const BulkReport& report) {
    char line[200];
    const double rate =
        report.seconds > 0 ? double(report.ok + report.rejected) / report.seconds : 0.0;
    std::snprintf(line, sizeof line,
                  "bulk: %llu sent, %llu ok, %llu rejected (400), %llu errors, %.1f s, %.1f msg/s",
                  static_cast<unsigned long long>(report.sent),
                  static_cast<unsigned long long>(report.ok),
                  static_cast<unsigned long long>(report.rejected),
                  static_cast<unsigned long long>(report.errors), report.seconds, rate);
    std::string out = line;
    for (const std::string& rejection : report.first_rejections) out += "\n  400 " + rejection;
    if (report.rejected > report.first_rejections.size())
        out += "\n  ... and " + std::to_string(report.rejected - report.first_rejections.size()) +
               " more 400s";
    return out;
}

}  // namespace mega::client
