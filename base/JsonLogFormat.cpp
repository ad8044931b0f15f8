// JsonLogFormat: the time in local time with its UTC offset, milliseconds included.
#include "base/JsonLogFormat.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string_view>

namespace mega {
namespace {

void Append(spdlog::memory_buf_t& dest, std::string_view text) {
    dest.append(text.data(), text.data() + text.size());
}

void AppendJsonString(spdlog::memory_buf_t& dest, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    dest.push_back('"');
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            dest.push_back('\\');
            dest.push_back(ch);
        } else if (c == '\n') {
            Append(dest, "\\n");
        } else if (c < 0x20 || c == 0x7F) {
            const char e[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
            dest.append(e, e + 6);
        } else {
            dest.push_back(ch);
        }
    }
    dest.push_back('"');
}

void AppendTime(spdlog::memory_buf_t& dest, spdlog::log_clock::time_point t) {
    const std::time_t secs = spdlog::log_clock::to_time_t(t);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm local{};
    localtime_r(&secs, &local);
    char zone[8], text[48];
    std::strftime(zone, sizeof zone, "%z", &local);  // +0800
    const int n = std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%.3s:%.2s",
                                local.tm_year + 1900, local.tm_mon + 1, local.tm_mday,
                                local.tm_hour, local.tm_min, local.tm_sec, int(ms), zone, zone + 3);
    AppendJsonString(dest, std::string_view(text, size_t(n)));
}

}  // namespace

void JsonLogFormat::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    Append(dest, "{\"time\":");
    AppendTime(dest, msg.time);
    Append(dest, ",\"level\":");
    const auto level = spdlog::level::to_string_view(msg.level);
    AppendJsonString(dest, std::string_view(level.data(), level.size()));
    Append(dest, ",\"logger\":");
    AppendJsonString(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    Append(dest, ",\"msg\":");
    AppendJsonString(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    Append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> JsonLogFormat::clone() const {
    return std::make_unique<JsonLogFormat>();
}

}  // namespace mega
