// JsonLogFormat: `[log] format = json` writes each log line as one JSON object, for log
// shippers: {"time":"2026-12-01T21:56:49.123+08:00","level":"info","logger":"mega","msg":"…"}.
// The message is escaped as JSON (quotes, backslashes, control characters), so no log
// line can break the framing whatever outside text it quotes.
#pragma once

#include <spdlog/formatter.h>

#include <memory>

namespace mega {

class JsonLogFormat final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
    std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace mega
