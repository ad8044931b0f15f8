// LogFile: a base_sink around spdlog's file_helper, whose reopen() is the whole trick.
#include "base/LogFile.h"

namespace mega {

LogFile::LogFile(const std::string& path) {
    file_.open(path, false);
}

bool LogFile::Reopen(std::string* error) {
    std::lock_guard lock(mutex_);
    try {
        file_.flush();
        file_.reopen(false);
        return true;
    } catch (const spdlog::spdlog_ex& e) {
        *error = e.what();
        return false;
    }
}

void LogFile::sink_it_(const spdlog::details::log_msg& msg) {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    file_.write(line);
    if (msg.time - flushed_at_ >= std::chrono::milliseconds(200)) flush_();
}

void LogFile::flush_() {
    file_.flush();
    flushed_at_ = spdlog::log_clock::now();
}

}  // namespace mega
