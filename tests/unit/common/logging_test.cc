#include "common/logging.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace kcred {
namespace {

// SetupLogging changes the level and format of a logger already made, which stays the same logger:
// below the level nothing is written, and JSON and journal lines carry the logger's name.
TEST(LoggingTest, ReconfiguringChangesLevelsAndFormatOfExistingLoggers) {
  SetupLogging(LogOptions{spdlog::level::info, LogFormat::kText});
  auto log = Logger("logging-test");
  EXPECT_EQ(log->level(), spdlog::level::info);

  SetupLogging(LogOptions{spdlog::level::warn, LogFormat::kJson});
  EXPECT_EQ(log->level(), spdlog::level::warn);
  EXPECT_EQ(Logger("logging-test"), log);

  testing::internal::CaptureStderr();
  log->info("hidden at warn");
  log->warn("shown as json");
  log->flush();
  const std::string json = testing::internal::GetCapturedStderr();
  EXPECT_EQ(json.find("hidden at warn"), std::string::npos);
  EXPECT_NE(json.find(R"("msg":"shown as json")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("logger":"logging-test")"), std::string::npos) << json;

  SetupLogging(LogOptions{spdlog::level::info, LogFormat::kJournal});
  testing::internal::CaptureStderr();
  log->info("now journal");
  log->flush();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "<6>logging-test: now journal\n");
}

// Switching formats 200 times while another thread logs is safe, and that thread's lines get out.
TEST(LoggingTest, ReconfiguringWhileOtherThreadsLogIsSafe) {
  SetupLogging(LogOptions{spdlog::level::info, LogFormat::kText});
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  testing::internal::CaptureStderr();
  std::thread writer([&] {
    auto log = Logger("logging-race");
    while (!stop.load()) {
      log->info("line {}", written.fetch_add(1));
    }
  });
  for (int i = 0; i < 200; ++i) {
    SetupLogging(LogOptions{spdlog::level::info, i % 2 == 0 ? LogFormat::kJson : LogFormat::kText});
  }
  while (written.load() < 100) std::this_thread::yield();
  stop = true;
  writer.join();
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("line 99"), std::string::npos);
  SetupLogging(LogOptions{});
}

// Writes `message` in `format` and returns what reached stderr.
std::string LogOnce(LogFormat format, const std::string& message) {
  SetupLogging(LogOptions{spdlog::level::info, format});
  auto log = Logger("logging-escape");
  testing::internal::CaptureStderr();
  log->info("name={}", message);
  log->flush();
  std::string out = testing::internal::GetCapturedStderr();
  SetupLogging(LogOptions{});
  return out;
}

constexpr char kForged[] = "x\n2026-01-01T00:00:00.000Z info  broker: forged\r\t\x1b[31m\x7f";

// A message carrying a newline, CR, tab, ESC and DEL stays one text line, escaped.
TEST(LoggingTest, TextFormatEscapesControlCharacters) {
  const std::string out = LogOnce(LogFormat::kText, kForged);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(
      out.find(
          R"(logging-escape: name=x\n2026-01-01T00:00:00.000Z info  broker: forged\r\t\x1b[31m\x7f)"),
      std::string::npos)
      << out;
}

// The journal format escapes the same way: journald would start a new entry at the newline.
TEST(LoggingTest, JournalFormatEscapesControlCharacters) {
  EXPECT_EQ(LogOnce(LogFormat::kJournal, kForged),
            "<6>logging-escape: name=x\\n2026-01-01T00:00:00.000Z info  broker: "
            "forged\\r\\t\\x1b[31m\\x7f\n");
}

// The JSON format keeps the message on one line and gives it back unchanged when parsed.
TEST(LoggingTest, JsonFormatKeepsMessageOnOneLine) {
  const std::string out = LogOnce(LogFormat::kJson, kForged);
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["msg"], std::string("name=") + kForged);
}

}  // namespace
}  // namespace kcred
