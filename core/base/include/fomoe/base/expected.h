// Expected<T> / Status: the error tier for IO, config and protocol boundaries.
// Bugs use FOMOE_ASSERT (abort); compute code may throw c10::Error, caught at the run loop.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace fomoe {

enum class ErrorCode {
  InvalidArgument,  // bad user input: config, CLI flags, residency sets
  NotFound,         // missing file, run, agent
  Io,               // read/write failure, full disk
  Corrupt,          // bytes that do not parse: database, checkpoint, token file
  Protocol,         // malformed or hostile wire message
  Unauthorized,     // unknown agent key
  Timeout,
  Busy,             // locked database, machine already running
  Unsupported,      // schema too new, unknown version
  Internal,
};

const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;  // says what went wrong, where, and what to do next
};

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}              // NOLINT: implicit by design
  Expected(Error error) : v_(std::move(error)) {}          // NOLINT
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  void check() const {
    if (!has_value()) {
      std::fprintf(stderr, "fomoe: Expected::value() on error: %s\n", std::get<1>(v_).message.c_str());
      std::abort();
    }
  }
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT
  static Status ok() { return Status(); }
  bool is_ok() const { return !error_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace fomoe

#define FOMOE_ASSERT(cond, msg)                                                              \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: FOMOE_ASSERT(%s) failed: %s\n", __FILE__, __LINE__, #cond, \
                   std::string(msg).c_str());                                                \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
