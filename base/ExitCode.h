// Exit statuses of mega's programs (mega, mega-cli, mega-bench), defined once. Failures use
// the sysexits(3) values, so that a script or a service manager can tell a usage error
// (64) from a server that cannot be reached (69) or is busy (75); each program's --help
// lists the ones it uses (base/CommandLine.h).
#pragma once

#include <sysexits.h>

namespace mega::exit_code {

constexpr int kOk = 0;
constexpr int kUsage = EX_USAGE;              // 64: bad command line
constexpr int kDataError = EX_DATAERR;        // 65: the request was refused as invalid
constexpr int kNoInput = EX_NOINPUT;          // 66: an input file cannot be read
constexpr int kUnavailable = EX_UNAVAILABLE;  // 69: a server cannot be reached / started
constexpr int kSoftware = EX_SOFTWARE;        // 70: an answer that makes no sense (a bug)
constexpr int kOsError = EX_OSERR;            // 71: the system refused (fork, a limit)
constexpr int kIoError = EX_IOERR;            // 74: a file cannot be written
constexpr int kTempFail = EX_TEMPFAIL;        // 75: busy or too slow: try again later
constexpr int kNoPermission = EX_NOPERM;      // 77: the token was refused
constexpr int kConfig = EX_CONFIG;            // 78: the config file is invalid
constexpr int kInterrupted = 130;             // 128 + SIGINT, the shells' convention

}  // namespace mega::exit_code
