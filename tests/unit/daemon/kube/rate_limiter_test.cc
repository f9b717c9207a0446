#include "daemon/kube/rate_limiter.h"

#include "gtest/gtest.h"
#include "tests/support/simulated_clock.h"

namespace kcred::kube {
namespace {

using ::kcred::testing::SimulatedClock;

// Acquire sleeps on the test's thread: each sleep moves simulated time at once.
constexpr SimulatedClock::SleepMode kInstant = SimulatedClock::SleepMode::kInstant;

// A full bucket serves `burst` requests without waiting, then one per 1/qps.
TEST(TokenBucketTest, BurstThenQps) {
  SimulatedClock clock(kInstant);
  TokenBucket bucket(clock, /*qps=*/5, /*burst=*/3);
  const absl::Time start = clock.Now();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(bucket.Acquire(absl::InfiniteFuture()).ok());
  EXPECT_EQ(clock.Now(), start) << "the burst must not wait";
  EXPECT_TRUE(clock.sleeps().empty());

  ASSERT_TRUE(bucket.Acquire(absl::InfiniteFuture()).ok());
  EXPECT_EQ(clock.Now() - start, absl::Milliseconds(200));
  ASSERT_TRUE(bucket.Acquire(absl::InfiniteFuture()).ok());
  EXPECT_EQ(clock.Now() - start, absl::Milliseconds(400));
}

// Idle time refills the bucket, but never beyond the burst.
TEST(TokenBucketTest, RefillIsCappedAtBurst) {
  SimulatedClock clock(kInstant);
  TokenBucket bucket(clock, /*qps=*/10, /*burst=*/2);
  ASSERT_TRUE(bucket.TryAcquire());
  ASSERT_TRUE(bucket.TryAcquire());
  EXPECT_FALSE(bucket.TryAcquire());
  clock.Advance(absl::Seconds(60));
  EXPECT_TRUE(bucket.TryAcquire());
  EXPECT_TRUE(bucket.TryAcquire());
  EXPECT_FALSE(bucket.TryAcquire()) << "an hour of idling still holds only `burst` tokens";
  clock.Advance(absl::Milliseconds(100));
  EXPECT_TRUE(bucket.TryAcquire());
}

// A wait that would end after the deadline fails at once and takes no token.
TEST(TokenBucketTest, DeadlineRefusesWithoutWaitingOrConsuming) {
  SimulatedClock clock(kInstant);
  TokenBucket bucket(clock, /*qps=*/1, /*burst=*/1);
  ASSERT_TRUE(bucket.Acquire(absl::InfiniteFuture()).ok());
  const absl::Time before = clock.Now();
  absl::Status status = bucket.Acquire(before + absl::Milliseconds(500));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(status.message().find("qps"), absl::string_view::npos) << status;
  EXPECT_EQ(clock.Now(), before);
  // The refused call reserved nothing: the next token is due at +1s, not +2s.
  ASSERT_TRUE(bucket.Acquire(before + absl::Seconds(1)).ok());
  EXPECT_EQ(clock.Now() - before, absl::Seconds(1));
}

// Concurrent reservations queue up: n waiters past the burst end at n/qps.
TEST(TokenBucketTest, ReservationsQueue) {
  SimulatedClock clock(kInstant);
  TokenBucket bucket(clock, /*qps=*/2, /*burst=*/1);
  const absl::Time start = clock.Now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(bucket.Acquire(absl::InfiniteFuture()).ok());
  EXPECT_EQ(clock.Now() - start, absl::Seconds(2));
  std::vector<absl::Duration> sleeps = clock.sleeps();
  ASSERT_EQ(sleeps.size(), 4u);
  for (absl::Duration d : sleeps) EXPECT_EQ(d, absl::Milliseconds(500));
}

}  // namespace
}  // namespace kcred::kube
