// The version line of mega's programs (`--version`): "PROGRAM 0.9.0 (commit abc1234)", from
// the header CMake generates (project version, git commit at configure time). A program
// compiled by hand without CMake (tools/bench/compare's fallback for mega-bench) has no
// such header and says "version unknown".
#pragma once

#include <string>

#if __has_include("mega_version.h")
#include "mega_version.h"
#else
#define MEGA_VERSION "(version unknown: compiled without CMake)"
#define MEGA_GIT_COMMIT ""
#endif

namespace mega {

inline std::string VersionLine(const std::string& program) {
    std::string line = program + " " + MEGA_VERSION;
    if (MEGA_GIT_COMMIT[0] != '\0') line += std::string(" (commit ") + MEGA_GIT_COMMIT + ")";
    return line;
}

}  // namespace mega
