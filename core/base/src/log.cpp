#include "fomoe/base/log.h"

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "fomoe/base/expected.h"

namespace fomoe {
namespace {

std::mutex g_sink_mutex;
LogSink g_sink = nullptr;
void* g_user_data = nullptr;
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};

void default_sink(LogLevel level, const char* module, const char* message, void*) {
  static const char kLetters[] = {'D', 'I', 'W', 'E'};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::fprintf(stderr, "%s %c [%s] %s\n", stamp, kLetters[static_cast<int>(level)], module, message);
}

}  // namespace

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid argument";
    case ErrorCode::NotFound: return "not found";
    case ErrorCode::Io: return "i/o error";
    case ErrorCode::Corrupt: return "corrupt data";
    case ErrorCode::Protocol: return "protocol error";
    case ErrorCode::Unauthorized: return "unauthorized";
    case ErrorCode::Timeout: return "timeout";
    case ErrorCode::Busy: return "busy";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::Internal: return "internal error";
  }
  return "error";
}

void set_log_sink(LogSink sink, void* user_data) {
  std::lock_guard<std::mutex> lock(g_sink_mutex);
  g_sink = sink;
  g_user_data = user_data;
}

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void log_message(LogLevel level, const char* module, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_sink_mutex);
  if (g_sink)
    g_sink(level, module, message.c_str(), g_user_data);
  else
    default_sink(level, module, message.c_str(), nullptr);
}

std::string format_log(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  va_end(args);
  return out;
}

}  // namespace fomoe

#include "fomoe/base/run_events.h"

namespace fomoe {
const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::Running: return "running";
    case RunStatus::Finished: return "finished";
    case RunStatus::Failed: return "failed";
    case RunStatus::Interrupted: return "interrupted";
    case RunStatus::Cancelled: return "cancelled";
    case RunStatus::Stopped: return "stopped";
  }
  return "unknown";
}
}  // namespace fomoe
