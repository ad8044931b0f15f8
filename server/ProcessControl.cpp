// Process control. The lock is flock(2) on the pid file: it is released by the kernel when
// the server dies, however it dies, so `status` and `start` are never misled by a stale pid.
#include "server/ProcessControl.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "base/ExitCode.h"

namespace mega {

PidFile& PidFile::operator=(PidFile&& o) noexcept {
    std::swap(fd_, o.fd_);
    std::swap(path_, o.path_);
    return *this;
}

PidFile::~PidFile() {
    if (fd_ >= 0) ::close(fd_);
}

Status PidFile::Acquire(const std::string& path, PidFile* out) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return Status::IoError("cannot open pid file " + path + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return Status::Invalid("already running (pid " + std::to_string(RunningPid(path)) + ")");
    }
    out->fd_ = fd;
    out->path_ = path;
    return Status::Ok();
}

Status PidFile::WritePid() {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%d\n", int(::getpid()));
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, buf, size_t(n), 0) != n)
        return Status::IoError("cannot write pid file " + path_);
    return Status::Ok();
}

int PidFile::RunningPid(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int pid = 0;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {  // somebody holds it: read who
        char buf[32] = {};
        if (::pread(fd, buf, sizeof buf - 1, 0) > 0) pid = std::atoi(buf);
        if (pid <= 0) pid = -1;  // running, pid not written yet
    }
    ::close(fd);
    return pid;
}

Status Daemonize(int* ready_fd) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return Status::IoError("pipe: " + std::string(std::strerror(errno)));
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return Status::IoError("fork: " + std::string(std::strerror(errno)));
    if (pid > 0) {
        ::close(fds[1]);
        std::string msg;
        char buf[512];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0) msg.append(buf, size_t(n));
        if (msg.rfind("OK", 0) == 0) {
            std::printf("mega started (pid %s)\n", msg.c_str() + 3);
            std::exit(0);
        }
        if (msg.empty()) msg = "the server exited during start-up (see its log)";
        std::fprintf(stderr, "mega: %s\n", msg.c_str());
        std::exit(exit_code::kUnavailable);
    }
    ::close(fds[0]);
    ::setsid();
    // Second fork: the daemon is not a session leader, so it can never get a terminal.
    pid = ::fork();
    if (pid < 0) std::_Exit(1);
    if (pid > 0) std::_Exit(0);
    ::umask(022);
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        if (null > 2) ::close(null);
    }
    *ready_fd = fds[1];
    return Status::Ok();
}

void ReportReady(int ready_fd) {
    if (ready_fd < 0) return;
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "OK %d", int(::getpid()));
    (void)!::write(ready_fd, buf, size_t(n));
    ::close(ready_fd);
}

void ReportFailure(int ready_fd, const std::string& message) {
    if (ready_fd < 0) return;
    (void)!::write(ready_fd, message.data(), message.size());
    ::close(ready_fd);
}

Status StopServer(const Config& config, int timeout_ms) {
    int pid = PidFile::RunningPid(config.pid_file);
    if (pid == 0) return Status::NotFound("not running");
    if (pid < 0) return Status::Unavailable("starting up; try again");
    if (::kill(pid, SIGTERM) != 0)
        return Status::IoError("cannot signal pid " + std::to_string(pid) + ": " +
                               std::strerror(errno));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (PidFile::RunningPid(config.pid_file) != 0) {
        if (std::chrono::steady_clock::now() > deadline)
            return Status::Unavailable("pid " + std::to_string(pid) + " did not stop in time");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Status::Ok();
}

}  // namespace mega
