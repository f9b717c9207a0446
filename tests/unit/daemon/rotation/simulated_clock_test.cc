#include "tests/unit/daemon/rotation/simulated_clock.h"

#include <thread>

#include "gtest/gtest.h"

namespace kcred::testing {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1767225600);

// WaitUntil blocks until simulated time reaches the deadline, not before, and reports a timeout.
TEST(SimulatedClockTest, WaitUntilWakesAtTheSimulatedDeadline) {
  SimulatedClock clock(kStart);
  absl::Mutex mu;
  bool flag = false;
  bool returned = false;
  bool result = true;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.WaitUntil(&mu, absl::Condition(&flag), kStart + absl::Minutes(5));
    returned = true;
  });
  ASSERT_TRUE(clock.AwaitBlocked(1));
  EXPECT_EQ(clock.EarliestDeadline(), kStart + absl::Minutes(5));
  clock.Advance(absl::Minutes(4));
  {
    absl::MutexLock lock(&mu);
    EXPECT_FALSE(returned);
  }
  clock.Advance(absl::Minutes(1));
  waiter.join();
  EXPECT_TRUE(returned);
  EXPECT_FALSE(result);
  EXPECT_EQ(clock.blocked(), 0);
  EXPECT_EQ(clock.waits(), 1);
}

// A condition made true under the caller's mutex ends the wait early with true; an expired
// deadline returns at once without blocking.
TEST(SimulatedClockTest, WaitUntilReturnsWhenTheConditionHolds) {
  SimulatedClock clock(kStart);
  absl::Mutex mu;
  bool flag = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.WaitUntil(&mu, absl::Condition(&flag), absl::InfiniteFuture());
  });
  ASSERT_TRUE(clock.AwaitBlocked(1));
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
  EXPECT_EQ(clock.Now(), kStart);

  absl::MutexLock lock(&mu);
  bool never = false;
  EXPECT_FALSE(clock.WaitUntil(&mu, absl::Condition(&never), kStart));
  EXPECT_EQ(clock.waits(), 1) << "an expired deadline does not block";
}

// SleepUntil blocks until Advance reaches the deadline.
TEST(SimulatedClockTest, SleepUntilBlocksUntilAdvanced) {
  SimulatedClock clock(kStart);
  std::thread sleeper([&] { clock.SleepUntil(kStart + absl::Seconds(10)); });
  ASSERT_TRUE(clock.AwaitBlocked(1));
  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(clock.blocked(), 1);
  clock.AdvanceTo(kStart + absl::Seconds(10));
  sleeper.join();
  EXPECT_EQ(clock.blocked(), 0);
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(10));
}

}  // namespace
}  // namespace kcred::testing
