// TempDir: a fresh directory under /tmp for one unit test, removed with everything in it at
// scope exit. Shared by the tests that need files (queue, backend, config, status file).
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace mega::testing {

class TempDir {
  public:
    explicit TempDir(const std::string& name = "dir") {
        std::string tmpl = "/tmp/mega-unit-" + name + "-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

}  // namespace mega::testing
