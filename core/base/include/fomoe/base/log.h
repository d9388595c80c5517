// Logging: levels, one global sink the host sets (stderr by default), lazy macros.
// Metrics are not logs: they travel as MetricPoint events (see metric_names.h).
#pragma once

#include <string>

namespace fomoe {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

using LogSink = void (*)(LogLevel level, const char* module, const char* message, void* user_data);

/// Replaces the sink; nullptr restores the default (stderr with time, level letter and module).
void set_log_sink(LogSink sink, void* user_data);
void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, const char* module, const std::string& message);
std::string format_log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace fomoe

#define FOMOE_LOG_(lvl, module, ...)                                        \
  do {                                                                      \
    if (static_cast<int>(lvl) >= static_cast<int>(::fomoe::log_level()))    \
      ::fomoe::log_message(lvl, module, ::fomoe::format_log(__VA_ARGS__));  \
  } while (0)
#define FOMOE_LOG_DEBUG(module, ...) FOMOE_LOG_(::fomoe::LogLevel::Debug, module, __VA_ARGS__)
#define FOMOE_LOG_INFO(module, ...) FOMOE_LOG_(::fomoe::LogLevel::Info, module, __VA_ARGS__)
#define FOMOE_LOG_WARN(module, ...) FOMOE_LOG_(::fomoe::LogLevel::Warn, module, __VA_ARGS__)
#define FOMOE_LOG_ERROR(module, ...) FOMOE_LOG_(::fomoe::LogLevel::Error, module, __VA_ARGS__)
