// `mega NAME start|stop|restart|status`: the pid file (held under an flock for the life of
// the server, so a stale file never fools us), daemonizing with a ready pipe (the parent
// exits 0 only once the child listens, or prints the child's error and exits 1), and the
// stop/status side that finds a running server through the same file.
#pragma once

#include <string>

#include "base/Status.h"
#include "config/Config.h"

namespace mega {

class PidFile {
  public:
    // Takes the lock; Invalid "already running (pid N)" if another server holds it.
    static Status Acquire(const std::string& path, PidFile* out);
    PidFile() = default;
    PidFile(PidFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
    PidFile& operator=(PidFile&& o) noexcept;
    ~PidFile();
    Status WritePid();  // after daemonizing: the pid that holds the lock

    // The pid of the running server, or 0 if none holds the lock.
    static int RunningPid(const std::string& path);

  private:
    int fd_ = -1;
    std::string path_;
};

// Forks into the background. Returns in the child (with the write end of the ready pipe
// in *ready_fd); the parent never returns: it waits for ReportReady/ReportFailure.
Status Daemonize(int* ready_fd);
void ReportReady(int ready_fd);
void ReportFailure(int ready_fd, const std::string& message);

// Sends SIGTERM and waits until the server has exited (its lock is free) or `timeout_ms`.
Status StopServer(const Config& config, int timeout_ms);

}  // namespace mega
