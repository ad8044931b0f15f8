// Prometheus text exposition (format 0.0.4) of the server's counters and gauges, for
// GET /metrics, and the send-latency histogram the dispatcher fills.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace mega {

// Appends a Prometheus histogram: `counts` per bucket (not cumulative), one more than
// `bounds` (the last is +Inf).
void RenderHistogram(const std::string& name, const std::string& help, std::span<const double> bounds,
                     std::span<const uint64_t> counts, double sum, std::string* out);

class LatencyHistogram {
public:
    static constexpr std::array<double, 12> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                       0.5,   1,    2.5,   5,    10,   30};
    void Observe(double seconds) {
        size_t i = 0;
        while (i < kBounds.size() && seconds > kBounds[i]) i++;
        counts_[i]++;
        sum_ += seconds;
    }
    // Appends the histogram's lines under `name`.
    void Render(const std::string& name, const std::string& help, std::string* out) const;

private:
    std::array<uint64_t, kBounds.size() + 1> counts_{};
    double sum_ = 0;
};

// Builds the exposition text line by line.
class MetricsText {
public:
    void Counter(const char* name, const char* help, double value, const std::string& labels = {});
    void Gauge(const char* name, const char* help, double value, const std::string& labels = {});
    std::string& text() { return out_; }

private:
    void Line(const char* type, const char* name, const char* help, double value,
              const std::string& labels);
    std::string out_, last_name_;
};

}  // namespace mega
