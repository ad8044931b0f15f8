// PauseFile: a few text lines through std::fstream; small enough to write on every change.
#include "queue/PauseFile.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace mega {

std::string PauseFileName(std::string_view account) {
    if (account == kDefaultAccount) return "pause";
    const bool plain = std::all_of(account.begin(), account.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    if (plain && !account.empty()) return "pause." + std::string(account);
    static const char kHex[] = "0123456789abcdef";
    std::string name = "pause.x";
    for (unsigned char c : account) name += {kHex[c >> 4], kHex[c & 15]};
    return name;
}

Status SavePauseFile(const std::string& path, const PauseState& state) {
    const std::string fresh = path + ".new";
    {
        std::ofstream out(fresh, std::ios::trunc);
        std::string reason = state.reason;
        for (char& c : reason)
            if (c == '\n' || c == '\r') c = ' ';
        out << "paused " << (state.paused ? 1 : 0) << "\nby_operator "
            << (state.by_operator ? 1 : 0) << "\nsince_ms " << state.since_ms << "\nuntil_ms "
            << state.until_ms << "\nreason " << reason << "\n";
        if (!out.flush()) return Status::IoError("cannot write " + fresh);
    }
    if (std::rename(fresh.c_str(), path.c_str()) != 0)
        return Status::IoError("cannot rename " + fresh + " to " + path);
    return Status::Ok();
}

Status LoadPauseFile(const std::string& path, PauseState* state) {
    std::ifstream in(path);
    if (!in) return Status::NotFound("no pause file " + path);
    *state = PauseState{};
    std::string line;
    while (std::getline(in, line)) {
        const size_t sp = line.find(' ');
        const std::string name = line.substr(0, sp);
        const std::string value = sp == std::string::npos ? "" : line.substr(sp + 1);
        std::istringstream v(value);
        if (name == "paused")
            v >> state->paused;
        else if (name == "by_operator")
            v >> state->by_operator;
        else if (name == "since_ms")
            v >> state->since_ms;
        else if (name == "until_ms")
            v >> state->until_ms;
        else if (name == "reason")
            state->reason = value;
        if (v.fail()) return Status::Invalid(path + ": bad line: " + line);
    }
    return Status::Ok();
}

}  // namespace mega
