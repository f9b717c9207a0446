#include "daemon/kube/retry_policy.h"

#include <random>

#include "gtest/gtest.h"

namespace kcred::kube {
namespace {

// The ceiling doubles from `initial` and stops at `max`.
TEST(BackoffTest, CeilingSequence) {
  BackoffPolicy policy{absl::Milliseconds(100), absl::Seconds(1), 2.0};
  EXPECT_EQ(BackoffCeiling(policy, 0), absl::Milliseconds(100));
  EXPECT_EQ(BackoffCeiling(policy, 1), absl::Milliseconds(200));
  EXPECT_EQ(BackoffCeiling(policy, 2), absl::Milliseconds(400));
  EXPECT_EQ(BackoffCeiling(policy, 3), absl::Milliseconds(800));
  EXPECT_EQ(BackoffCeiling(policy, 4), absl::Seconds(1));
  EXPECT_EQ(BackoffCeiling(policy, 500), absl::Seconds(1)) << "no overflow for large attempts";
}

// Full jitter: every delay lies in [0, ceiling] and the draws spread over that range.
TEST(BackoffTest, FullJitterStaysWithinCeilingAndSpreads) {
  BackoffPolicy policy{absl::Milliseconds(100), absl::Seconds(10), 2.0};
  std::mt19937 random(42);
  for (int attempt = 0; attempt < 6; ++attempt) {
    absl::Duration ceiling = BackoffCeiling(policy, attempt);
    absl::Duration low = ceiling, high = absl::ZeroDuration();
    for (int i = 0; i < 500; ++i) {
      absl::Duration d = BackoffDelay(policy, attempt, random);
      ASSERT_GE(d, absl::ZeroDuration());
      ASSERT_LE(d, ceiling);
      low = std::min(low, d);
      high = std::max(high, d);
    }
    EXPECT_LT(low, ceiling / 10) << "attempt " << attempt;
    EXPECT_GT(high, ceiling * 9 / 10) << "attempt " << attempt;
  }
}

// The retry rule of retry_policy.h, case by case.
TEST(RetryRuleTest, PostIsRetriedOnlyWhenNotApplied) {
  EXPECT_TRUE(IsRetryable("POST", AttemptOutcome::kNotSent, 0));
  EXPECT_TRUE(IsRetryable("POST", AttemptOutcome::kHttpStatus, 429));
  EXPECT_TRUE(IsRetryable("POST", AttemptOutcome::kHttpStatus, 503));
  EXPECT_FALSE(IsRetryable("POST", AttemptOutcome::kHttpStatus, 500));
  EXPECT_FALSE(IsRetryable("POST", AttemptOutcome::kHttpStatus, 502));
  EXPECT_FALSE(IsRetryable("POST", AttemptOutcome::kHttpStatus, 504));
  EXPECT_FALSE(IsRetryable("POST", AttemptOutcome::kMaybeSent, 0));
}

// GET, PUT and DELETE are retried on 500, 504 and 429, and when the request may have been sent.
TEST(RetryRuleTest, IdempotentMethodsAreRetriedOnServerErrors) {
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    EXPECT_TRUE(IsRetryable(method, AttemptOutcome::kHttpStatus, 500)) << method;
    EXPECT_TRUE(IsRetryable(method, AttemptOutcome::kHttpStatus, 504)) << method;
    EXPECT_TRUE(IsRetryable(method, AttemptOutcome::kMaybeSent, 0)) << method;
    EXPECT_TRUE(IsRetryable(method, AttemptOutcome::kHttpStatus, 429)) << method;
  }
}

// A GET is not retried on 400, 401, 403, 404, 409 or 422, nor after a never-retryable failure.
TEST(RetryRuleTest, ClientErrorsAndTlsFailuresAreNeverRetried) {
  for (int code : {400, 401, 403, 404, 409, 422}) {
    EXPECT_FALSE(IsRetryable("GET", AttemptOutcome::kHttpStatus, code)) << code;
  }
  EXPECT_FALSE(IsRetryable("GET", AttemptOutcome::kNeverRetryable, 0));
}

// Retry-After is read as seconds, spaces allowed; empty, negative and HTTP-date values give none.
TEST(RetryAfterTest, Parses) {
  EXPECT_EQ(ParseRetryAfter("3"), absl::Seconds(3));
  EXPECT_EQ(ParseRetryAfter(" 0 "), absl::ZeroDuration());
  EXPECT_FALSE(ParseRetryAfter("").has_value());
  EXPECT_FALSE(ParseRetryAfter("-1").has_value());
  EXPECT_FALSE(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
}

}  // namespace
}  // namespace kcred::kube
