// The simulated clock of the tests: time moves only when the test advances it, waits never end on
// a real timer, and the Await* helpers tell the test when another thread has gone to sleep.
#include "tests/support/simulated_clock.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kcred::testing {
namespace {

using ::testing::ElementsAre;

const absl::Time kStart = SimulatedClock::kDefaultStart;

// WaitUntil blocks until simulated time reaches the deadline, not before, and reports a timeout.
TEST(SimulatedClockTest, WaitUntilWakesAtTheSimulatedDeadline) {
  SimulatedClock clock;
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

// Real time passing does not end a wait whose simulated deadline is a millisecond away.
TEST(SimulatedClockTest, WaitUntilIgnoresRealTime) {
  SimulatedClock clock;
  absl::Mutex mu;
  bool flag = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    EXPECT_FALSE(clock.WaitUntil(&mu, absl::Condition(&flag), kStart + absl::Milliseconds(1)));
  });
  ASSERT_TRUE(clock.AwaitBlocked(1));
  EXPECT_FALSE(clock.AwaitBlocked(2, absl::Milliseconds(50))) << "nobody else waits";
  EXPECT_EQ(clock.blocked(), 1) << "50ms of real time passed; the simulated deadline did not";
  clock.Advance(absl::Milliseconds(1));
  waiter.join();
}

// A condition made true under the caller's mutex ends the wait early with true; an expired
// deadline returns at once without blocking.
TEST(SimulatedClockTest, WaitUntilReturnsWhenTheConditionHolds) {
  SimulatedClock clock;
  absl::Mutex mu;
  bool flag = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.WaitUntil(&mu, absl::Condition(&flag), absl::InfiniteFuture());
  });
  ASSERT_TRUE(clock.AwaitBlockedUntil(absl::InfiniteFuture()));
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
  EXPECT_EQ(clock.Now(), kStart);
  EXPECT_EQ(clock.blocked(), 0);

  absl::MutexLock lock(&mu);
  bool never = false;
  EXPECT_FALSE(clock.WaitUntil(&mu, absl::Condition(&never), kStart));
  EXPECT_EQ(clock.waits(), 1) << "an expired deadline does not block";
}

// SleepUntil blocks until Advance reaches the deadline, and is recorded.
TEST(SimulatedClockTest, SleepUntilBlocksUntilAdvanced) {
  SimulatedClock clock;
  std::thread sleeper([&] { clock.SleepUntil(kStart + absl::Seconds(10)); });
  ASSERT_TRUE(clock.AwaitBlockedUntil(kStart + absl::Seconds(10)));
  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(clock.blocked(), 1);
  clock.AdvanceTo(kStart + absl::Seconds(10));
  EXPECT_EQ(clock.blocked(), 0) << "Advance forgets whom it woke";
  sleeper.join();
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(10));
  EXPECT_THAT(clock.sleeps(), ElementsAre(absl::Seconds(10)));
  clock.AdvanceTo(kStart);  // the past: ignored
  clock.Advance(-absl::Seconds(1));
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(10));
}

// A thread that sleeps in a loop is seen blocked again only after it went round: AwaitBlocked
// after each Advance marks exactly one more round, so the test and the thread move in lockstep.
TEST(SimulatedClockTest, AwaitBlockedAfterAdvanceWaitsForTheNextRound) {
  SimulatedClock clock;
  absl::Mutex mu;
  std::vector<absl::Time> woke;  // guarded by mu
  bool stop = false;
  std::thread ticker([&] {
    absl::MutexLock lock(&mu);
    while (!clock.WaitUntil(&mu, absl::Condition(&stop), clock.Now() + absl::Seconds(30))) {
      woke.push_back(clock.Now());
    }
  });
  for (int round = 1; round <= 5; ++round) {
    ASSERT_TRUE(clock.AwaitBlockedUntil(kStart + absl::Seconds(30) * round));
    clock.Advance(absl::Seconds(30));
  }
  ASSERT_TRUE(clock.AwaitBlocked(1));
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(woke.size(), 5u);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(woke[i], kStart + absl::Seconds(30) * (i + 1));
    stop = true;
  }
  ticker.join();
}

// Several sleepers wake each at its own deadline, however far one Advance moves.
TEST(SimulatedClockTest, AdvanceWakesOnlyTheThreadsDue) {
  SimulatedClock clock;
  std::vector<std::thread> sleepers;
  for (int s : {30, 10, 20}) {
    sleepers.emplace_back([&clock, s] { clock.SleepUntil(kStart + absl::Seconds(s)); });
  }
  ASSERT_TRUE(clock.AwaitBlocked(3));
  EXPECT_EQ(clock.EarliestDeadline(), kStart + absl::Seconds(10));
  clock.Advance(absl::Seconds(20));
  EXPECT_EQ(clock.blocked(), 1);
  EXPECT_EQ(clock.EarliestDeadline(), kStart + absl::Seconds(30));
  clock.Advance(absl::Hours(1));
  for (std::thread& t : sleepers) t.join();
  EXPECT_EQ(clock.EarliestDeadline(), std::nullopt);
  EXPECT_EQ(clock.waits(), 3);
}

// kInstant: SleepUntil moves time itself and returns, records what it asked for, and wakes a
// WaitUntil whose deadline it passes.
TEST(SimulatedClockTest, InstantSleepAdvancesTime) {
  SimulatedClock clock(SimulatedClock::SleepMode::kInstant);
  absl::Mutex mu;
  bool flag = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    EXPECT_FALSE(clock.WaitUntil(&mu, absl::Condition(&flag), kStart + absl::Seconds(2)));
  });
  ASSERT_TRUE(clock.AwaitBlocked(1));
  clock.SleepFor(absl::Seconds(1));
  EXPECT_EQ(clock.blocked(), 1);
  clock.SleepUntil(kStart + absl::Seconds(3));
  waiter.join();
  clock.SleepUntil(kStart);  // already past: returns, recorded as a negative wait
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(3));
  EXPECT_THAT(clock.sleeps(), ElementsAre(absl::Seconds(1), absl::Seconds(2), -absl::Seconds(3)));
  EXPECT_EQ(clock.waits(), 1) << "instant sleeps never block";
}

// Many threads sleeping on periods of their own while the test steps time: each wakes exactly at
// each of its deadlines, never between, in every run.
TEST(SimulatedClockTest, PeriodicSleepersWakeExactlyOnTime) {
  SimulatedClock clock;
  constexpr int kThreads = 6;
  constexpr int kSteps = 60;
  std::vector<std::vector<absl::Time>> woke(kThreads);  // each only by its thread until joined
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&clock, &woke, t] {
      const absl::Duration period = absl::Seconds(t + 1);
      for (absl::Time next = kStart + period; next <= kStart + absl::Seconds(kSteps);
           next += period) {
        clock.SleepUntil(next);
        woke[t].push_back(clock.Now());
      }
    });
  }
  for (int step = 1; step <= kSteps; ++step) {
    // Every thread sleeps again before time moves on (kSteps is a multiple of every period, so
    // all of them run to the last step).
    ASSERT_TRUE(clock.AwaitBlocked(kThreads)) << "step " << step;
    clock.Advance(absl::Seconds(1));
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(static_cast<int>(woke[t].size()), kSteps / (t + 1)) << "thread " << t;
    for (size_t i = 0; i < woke[t].size(); ++i) {
      EXPECT_EQ(woke[t][i], kStart + absl::Seconds((t + 1) * static_cast<int>(i + 1)));
    }
  }
}

}  // namespace
}  // namespace kcred::testing
