// Prometheus text exposition (format 0.0.4) for GET /metrics: counters and gauges line by
// line, histograms from bucket counts, label values escaped.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mega {

// Appends a Prometheus histogram: `counts` per bucket (not cumulative), one more than
// `bounds` (the last is +Inf).
void RenderHistogram(const std::string& name, const std::string& help,
                     std::span<const double> bounds, std::span<const uint64_t> counts, double sum,
                     std::string* out);

// One label, name="value", the value escaped (\\, \" and \n).
std::string Label(const char* name, std::string_view value);

// Builds the exposition text line by line: HELP and TYPE once per metric name, then one
// sample line per label set (samples of one name must be added one after the other).
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
