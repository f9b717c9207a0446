#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/escape.h"

namespace kcred {
namespace {

// One JSON object per line: {"time":...,"level":...,"logger":...,"msg":...}. nlohmann escapes
// control characters in "msg" and replaces invalid UTF-8, so a message stays on its line.
class JsonStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    nlohmann::json line;
    line["time"] =
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(msg.time), absl::UTCTimeZone());
    line["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                                spdlog::level::to_string_view(msg.level).size());
    line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(out.data(), 1, out.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

// sd-daemon priority prefixes ("<3>" error ... "<7>" debug); journald stamps the time itself.
class JournalStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    int priority = 6;
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        priority = 7;
        break;
      case spdlog::level::info:
        priority = 6;
        break;
      case spdlog::level::warn:
        priority = 4;
        break;
      case spdlog::level::err:
        priority = 3;
        break;
      case spdlog::level::critical:
        priority = 2;
        break;
      default:
        break;
    }
    // journald starts a new entry at every newline: escaping keeps a message one entry.
    std::string out = absl::StrCat(
        "<", priority, ">", absl::string_view(msg.logger_name.data(), msg.logger_name.size()), ": ",
        EscapeControl(absl::string_view(msg.payload.data(), msg.payload.size())), "\n");
    std::fwrite(out.data(), 1, out.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

// Forwards to `inner` with control characters in the message escaped: text from a request (an
// account name, a rotation reason) cannot start what looks like a line of its own.
class EscapingSink final : public spdlog::sinks::sink {
 public:
  explicit EscapingSink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    if (!HasControl(payload)) {
      inner_->log(msg);
      return;
    }
    const std::string escaped = EscapeControl(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  const spdlog::sink_ptr inner_;
};

// True when systemd connected stderr to the journal ($JOURNAL_STREAM names stderr's device:inode).
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  std::vector<std::string> parts = absl::StrSplit(stream, ':');
  if (parts.size() != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return parts[0] == std::to_string(st.st_dev) && parts[1] == std::to_string(st.st_ino);
}

std::mutex g_mu;
LogOptions g_options;
// Every logger writes to this one sink; SetupLogging swaps what it forwards to (under the sink's
// own mutex), so reconfiguring is safe while other threads log.
std::shared_ptr<spdlog::sinks::dist_sink_mt> g_sink;

spdlog::sink_ptr MakeSink(LogFormat format) {
  if (format == LogFormat::kAuto)
    format = StderrIsJournal() ? LogFormat::kJournal : LogFormat::kText;
  switch (format) {
    case LogFormat::kJson:
      return std::make_shared<JsonStderrSink>();
    case LogFormat::kJournal:
      return std::make_shared<JournalStderrSink>();
    default: {
      auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
      sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
          "%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %n: %v", spdlog::pattern_time_type::utc));
      return std::make_shared<EscapingSink>(std::move(sink));
    }
  }
}

}  // namespace

absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(absl::string_view text) {
  static const std::pair<const char*, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off}};
  for (const auto& [name, level] : kLevels) {
    if (text == name) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level \"", text,
                   "\"; use one of trace, debug, info, warn, error, critical, off"));
}

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text) {
  if (text == "auto") return LogFormat::kAuto;
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  if (text == "journal") return LogFormat::kJournal;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log format \"", text, "\"; use one of auto, text, json, journal"));
}

// The shared sink, created on first use (g_mu held).
const std::shared_ptr<spdlog::sinks::dist_sink_mt>& SharedSink() {
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::dist_sink_mt>();
    g_sink->set_sinks({MakeSink(g_options.format)});
  }
  return g_sink;
}

void SetupLogging(const LogOptions& options) {
  std::lock_guard<std::mutex> lock(g_mu);
  const bool first = !g_sink;
  const bool format_changed = first || options.format != g_options.format;
  g_options = options;
  if (format_changed) SharedSink()->set_sinks({MakeSink(options.format)});
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    // Loggers made before the first setup (spdlog's default one) are pointed at the shared sink
    // once, before other threads use them; afterwards only levels change.
    if (first && (logger->sinks().size() != 1 || logger->sinks()[0] != g_sink)) {
      logger->sinks().clear();
      logger->sinks().push_back(g_sink);
    }
    logger->set_level(options.level);
  });
  spdlog::flush_on(spdlog::level::info);
}

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = std::make_shared<spdlog::logger>(component, SharedSink());
  logger->set_level(g_options.level);
  logger->flush_on(spdlog::level::info);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace kcred
