// Shows that per-caller and total limits count calls and streams while they are held, release them
// when done, and rate secret reads per caller with a refilling bucket.
#include "daemon/authz/limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "tests/support/simulated_clock.h"

namespace kcred::authz {
namespace {

using ::testing::HasSubstr;

config::LimitsConfig Small() {
  config::LimitsConfig limits;
  limits.calls_per_caller = 2;
  limits.watches_per_caller = 2;
  limits.watches_total = 3;
  limits.secret_reads_per_second = 1;
  limits.secret_reads_burst = 2;
  return limits;
}

// A caller at its limit of calls is refused with the config key; others are not affected, and a
// released slot can be taken again.
TEST(CallLimitsTest, CallsPerCaller) {
  testing::SimulatedClock clock;
  CallLimits limits(clock, Small());
  std::vector<CallLimits::Slot> held;
  for (int i = 0; i < 2; ++i) {
    auto slot = limits.EnterCall("unix:uid:1000");
    ASSERT_TRUE(slot.ok());
    held.push_back(*std::move(slot));
  }
  auto refused = limits.EnterCall("unix:uid:1000");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("limits.calls_per_caller"));
  EXPECT_TRUE(limits.EnterCall("unix:uid:1001").ok());
  held.pop_back();
  EXPECT_TRUE(limits.EnterCall("unix:uid:1000").ok());
}

// Watch streams are capped per caller and in total.
TEST(CallLimitsTest, WatchesPerCallerAndTotal) {
  testing::SimulatedClock clock;
  CallLimits limits(clock, Small());
  std::vector<CallLimits::Slot> held;
  for (const char* caller : {"a", "a", "b"}) {
    auto slot = limits.EnterWatch(caller);
    ASSERT_TRUE(slot.ok()) << slot.status();
    held.push_back(*std::move(slot));
  }
  EXPECT_EQ(limits.watches(), 3);
  auto per_caller = limits.EnterWatch("a");
  EXPECT_THAT(per_caller.status().message(), HasSubstr("limits.watches_per_caller"));
  auto total = limits.EnterWatch("c");
  EXPECT_THAT(total.status().message(), HasSubstr("limits.watches_total"));
  held.clear();
  EXPECT_EQ(limits.watches(), 0);
  EXPECT_TRUE(limits.EnterWatch("c").ok());
}

// Secret reads spend a burst, then come at the configured rate; each caller has its own bucket.
TEST(CallLimitsTest, SecretReadRate) {
  testing::SimulatedClock clock;
  CallLimits limits(clock, Small());
  EXPECT_TRUE(limits.TakeSecretRead("a").ok());
  EXPECT_TRUE(limits.TakeSecretRead("a").ok());
  absl::Status third = limits.TakeSecretRead("a");
  ASSERT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.message(), HasSubstr("limits.secret_reads_per_second"));
  EXPECT_THAT(third.message(), HasSubstr("retry in 1s"));
  EXPECT_TRUE(limits.TakeSecretRead("b").ok());
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(limits.TakeSecretRead("a").ok());
  EXPECT_FALSE(limits.TakeSecretRead("a").ok());
}

// A reload's new limits apply to the next call; slots already held stay counted.
TEST(CallLimitsTest, ReconfigureKeepsHeldSlots) {
  testing::SimulatedClock clock;
  CallLimits limits(clock, Small());
  auto first = limits.EnterCall("a");
  ASSERT_TRUE(first.ok());
  config::LimitsConfig one = Small();
  one.calls_per_caller = 1;
  limits.Reconfigure(one);
  EXPECT_FALSE(limits.EnterCall("a").ok());
}

}  // namespace
}  // namespace kcred::authz
