// Metrics text: HELP and TYPE once per metric name, then one sample line per label set.
#include "admin/Metrics.h"

#include <cstdio>

namespace mega {
namespace {

std::string Number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

}  // namespace

void RenderHistogram(const std::string& name, const std::string& help,
                     std::span<const double> bounds, std::span<const uint64_t> counts, double sum,
                     std::string* out) {
    *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); i++) {
        cumulative += counts[i];
        char le[32];
        std::snprintf(le, sizeof le, "%g", bounds[i]);  // 0.005, not 0.0050000000000000001
        *out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    cumulative += counts[bounds.size()];
    *out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    *out += name + "_sum " + Number(sum) + "\n";
    *out += name + "_count " + std::to_string(cumulative) + "\n";
}

std::string Label(const char* name, std::string_view value) {
    std::string v;
    for (char c : value) {
        if (c == '\\' || c == '"') v += '\\';
        if (c == '\n') {
            v += "\\n";
            continue;
        }
        v += c;
    }
    return std::string(name) + "=\"" + v + "\"";
}

void MetricsText::Line(const char* type, const char* name, const char* help, double value,
                       const std::string& labels) {
    if (last_name_ != name) {
        out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        last_name_ = name;
    }
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + Number(value) + "\n";
}

void MetricsText::Counter(const char* name, const char* help, double value,
                          const std::string& labels) {
    Line("counter", name, help, value, labels);
}

void MetricsText::Gauge(const char* name, const char* help, double value,
                        const std::string& labels) {
    Line("gauge", name, help, value, labels);
}

}  // namespace mega
