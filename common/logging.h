#pragma once
// Logging setup shared by kcred's binaries: one spdlog logger per component, all writing to stderr
// in the chosen format. Call SetupLogging in main() (and again to reconfigure, e.g. on reload),
// then Logger("component") anywhere. Every format keeps one message on one line: control
// characters in a message are escaped (common/escape.h; in JSON, by JSON's own escapes), so text
// that came with a request cannot forge a log line.

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Debian's Abseil keeps its own string_view type; let log calls format it like any string.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

namespace kcred {

enum class LogFormat {
  kAuto,     // journal when stderr is connected to the journal, else text
  kText,     // human format (colour on a terminal)
  kJson,     // one JSON object per line
  kJournal,  // "<N>message" lines that journald maps to priorities; no timestamps
};

struct LogOptions {
  spdlog::level::level_enum level = spdlog::level::info;
  LogFormat format = LogFormat::kAuto;
};

// Parses "trace|debug|info|warn|error|critical|off"; InvalidArgument naming the choices otherwise.
absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(absl::string_view text);
// Parses "auto|text|json|journal".
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text);

// (Re)configures every component logger. Safe to call again (e.g. on reload).
void SetupLogging(const LogOptions& options);

// The logger of `component` (created on first use with the current setup). Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

}  // namespace kcred
