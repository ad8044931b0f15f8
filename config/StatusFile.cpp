// Reading the status file a running server writes (see StatusFile.h).
#include "config/StatusFile.h"

#include <signal.h>

#include <cerrno>
#include <fstream>

namespace mega {

namespace {

bool ProcessRuns(int pid) {
    return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

}  // namespace

Status ServerStatus::Read(const std::string& queue_file_path, ServerStatus* out) {
    const std::string path = queue_file_path + "/status";
    std::ifstream in(path);
    if (!in) return Status::Unavailable("no status file " + path + " (is the server running?)");
    ServerStatus s;
    std::string name;
    long long value = 0;
    // The server rewrites the file in place and then truncates it: a reader can see the old
    // tail after the new text, so only the first pid and admin line count, and the port
    // lines only up to the first line that is not one.
    bool ports_done = false, have_pid = false, have_admin = false;
    while (in >> name >> value) {
        if (name == "pid" && !have_pid) {
            s.pid = int(value), have_pid = true;
        } else if (name == "admin" && !have_admin) {
            s.admin_port = int(value), have_admin = true;
        } else if (name == "port" && !ports_done) {
            s.ports.push_back(int(value));
            continue;
        }
        ports_done = ports_done || !s.ports.empty();
    }
    if (!ProcessRuns(s.pid))
        return Status::Unavailable("the server of " + path + " (pid " + std::to_string(s.pid) +
                                   ") is not running");
    *out = std::move(s);
    return Status::Ok();
}

std::string WithPort(const std::string& address, int port) {
    const size_t colon = address.rfind(':');
    return address.substr(0, colon) + ":" + std::to_string(port);
}

Status ResolveListenAddress(const Config& config, std::string* address) {
    if (config.listen.empty()) return Status::Invalid(config.source_path + ": no listen[] address");
    const std::string& first = config.listen.front();
    if (first.substr(first.rfind(':') + 1) != "0") {
        *address = first;
        return Status::Ok();
    }
    ServerStatus status;
    Status s = ServerStatus::Read(config.queue_file_path, &status);
    if (!s.ok()) return s;
    if (status.ports.empty() || status.ports.front() <= 0)
        return Status::Unavailable("listen[] " + first + ": the running server's port is not in " +
                                   config.queue_file_path + "/status yet");
    *address = WithPort(first, status.ports.front());
    return Status::Ok();
}

}  // namespace mega
