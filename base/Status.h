// Status: the result of an operation that can fail in an expected way (bad input, a full
// disk, an unreachable database). Modelled on LevelDB's: cheap when OK, a message when not.
// Unexpected failures (bugs) are not Statuses; expected ones always are.
#pragma once

#include <string>
#include <utility>

namespace mega {

class Status {
  public:
    enum class Code { kOk, kInvalid, kNotFound, kIoError, kFull, kUnavailable };

    Status() = default;
    static Status Ok() { return {}; }
    static Status Invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
    static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
    static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
    static Status Full(std::string m) { return {Code::kFull, std::move(m)}; }
    static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }

    bool ok() const { return code_ == Code::kOk; }
    Code code() const { return code_; }
    const std::string& message() const { return message_; }
    std::string ToString() const { return ok() ? "OK" : message_; }

  private:
    Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
    Code code_ = Code::kOk;
    std::string message_;
};

}  // namespace mega
