#include "common/logging.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

namespace kcred {
namespace {

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

}  // namespace
}  // namespace kcred
