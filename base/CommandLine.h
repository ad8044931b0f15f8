// The frame shared by the command lines of mega, mega-cli and mega-bench (CLI11, header
// only so that mega-bench still compiles by hand): -h/--help on every command and
// subcommand and --version, on stdout with exit 0; a usage error on stderr with exit 64;
// "Commands:" instead of CLI11's "Subcommands:"; the --help footer listing exit statuses.
#pragma once

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/ExitCode.h"
#include "base/Version.h"

namespace mega {

// One line of the "Exit status" footer.
struct ExitStatusLine {
    int code;
    const char* meaning;
};

inline std::string ExitStatusFooter(std::initializer_list<ExitStatusLine> lines) {
    std::string out = "Exit status:\n";
    for (const ExitStatusLine& line : lines) {
        char code[16];
        std::snprintf(code, sizeof code, "  %-5d", line.code);
        out += code;
        out += line.meaning;
        out += '\n';
    }
    return out;
}

// CLI11's formatter, without the blank line it leaves after the last option group when a
// later group is hidden (options in the group "").
class HelpFormatter : public CLI::Formatter {
  public:
    std::string make_help(const CLI::App* app, std::string name,
                          CLI::AppFormatMode mode) const override {
        std::string out = CLI::Formatter::make_help(app, std::move(name), mode);
        for (size_t at; (at = out.find("\n\n\n")) != std::string::npos;) out.erase(at, 1);
        return out;
    }
};

// Help, version, labels and footer of a program's top-level app. Call it before adding
// subcommands: they inherit the footer, the group name and the help flag.
inline void SetUpCommandLine(CLI::App* app, const std::string& footer) {
    app->formatter(std::make_shared<HelpFormatter>());
    app->set_help_flag("-h,--help", "print this help and exit");
    app->set_version_flag("--version", VersionLine(app->get_name()), "print the version and exit");
    app->get_formatter()->label("SUBCOMMAND", "COMMAND");
    app->get_formatter()->label("SUBCOMMANDS", "COMMANDS");
    app->get_formatter()->column_width(34);
    app->group("Commands");
    app->footer(footer);
}

// A validator: a number from `lo` (above it when `above_lo`) to `hi`. A bad value reads
// "--window: wants a number from 1 to 100000, not '0'".
inline CLI::Validator NumberIn(double lo, double hi, bool above_lo = false) {
    auto check = [lo, hi, above_lo](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(text.c_str(), &end);
        if (!text.empty() && *end == '\0' && errno == 0 && std::isfinite(v) &&
            (above_lo ? v > lo : v >= lo) && v <= hi)
            return {};
        char range[96];
        std::snprintf(range, sizeof range, above_lo ? "above %g, at most %g" : "from %g to %g", lo,
                      hi);
        return std::string("wants a number ") + range + ", not '" + text + "'";
    };
    return CLI::Validator(check, "");
}

// "mega-cli account pause": the program and the subcommands the parse went into.
inline std::string CommandPath(const CLI::App& app) {
    std::string path = app.get_name();
    const CLI::App* at = &app;
    while (!at->get_subcommands().empty()) {
        at = at->get_subcommands().front();
        path += " " + at->get_name();
    }
    return path;
}

// "push, send, tset": the names of the subcommands of `app`.
inline std::string CommandNames(const CLI::App& app) {
    std::string out;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        out += (out.empty() ? "" : ", ") + sub->get_name();
    return out;
}

// A usage error: the problem and where to find help on stderr; returns 64 (EX_USAGE).
inline int UsageError(const CLI::App& app, const std::string& problem) {
    const std::string path = CommandPath(app);
    std::fprintf(stderr, "%s: %s\n(%s --help for usage)\n", app.get_name().c_str(), problem.c_str(),
                 path.c_str());
    return exit_code::kUsage;
}

// Parses argv; nullopt to go on, else the exit status to stop with now: 0 after --help or
// --version (printed on stdout), 64 after a usage error (printed on stderr).
inline std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
        return std::nullopt;
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) {
            app.exit(e, std::cout, std::cerr);
            std::cout.flush();
            return exit_code::kOk;
        }
        return UsageError(app, e.what());
    }
}

}  // namespace mega
