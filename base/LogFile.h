// LogFile: the log file sink, which can be reopened. After logrotate has moved the file away,
// SIGHUP or SIGUSR1 makes the server reopen it by name, so lines go to the new file and none
// are lost (what was written before the reopen is in the moved file). Thread-safe: the
// async logger's thread writes while the loop thread reopens. Lines reach the file within a
// second: a write flushes when 200 ms passed since the last flush, and spdlog's periodic
// flush (every second) takes the rest.
#pragma once

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>

#include <mutex>
#include <string>

namespace mega {

class LogFile final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit LogFile(const std::string& path);  // opens (appends); throws spdlog_ex on failure
    // Closes the file and opens its path again (a new file if it was moved). False, with the
    // old file kept, if the path cannot be opened now.
    bool Reopen(std::string* error);

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override;

  private:
    spdlog::details::file_helper file_;
    spdlog::log_clock::time_point flushed_at_{};
};

}  // namespace mega
