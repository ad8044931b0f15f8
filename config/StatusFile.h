// The status file of a running server, <queue_file_path>/status: Server::WriteStatusFile
// rewrites it each second, one "name value" pair a line (pid, counters, `admin PORT` and one
// `port PORT` per listen[] address, in order). Tools read it to reach a server whose config
// says port 0: the OS picked the port at start and only the status file knows it.
#pragma once

#include <string>
#include <vector>

#include "base/Status.h"
#include "config/Config.h"

namespace mega {

struct ServerStatus {
    int pid = 0;
    int admin_port = 0;      // 0: no admin API
    std::vector<int> ports;  // one per listen[] address, in the config's order

    // Reads <queue_file_path>/status. Unavailable if it is missing or names a process that
    // no longer runs (the file outlives its server).
    static Status Read(const std::string& queue_file_path, ServerStatus* out);
};

// host:port with the port replaced by `port` (IPv6 hosts stay in brackets).
std::string WithPort(const std::string& address, int port);

// The address a client connects to for the config's first listen[] address: as written, or,
// when it says port 0, with the port the running server got.
Status ResolveListenAddress(const Config& config, std::string* address);

}  // namespace mega
