#include "daemon/kube/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/random/distributions.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace kcred::kube {

absl::Duration BackoffCeiling(const BackoffPolicy& policy, int attempt) {
  double factor = std::pow(std::max(policy.multiplier, 1.0), std::max(attempt, 0));
  double seconds = absl::ToDoubleSeconds(policy.initial) * factor;
  double max_seconds = absl::ToDoubleSeconds(policy.max);
  if (!std::isfinite(seconds) || seconds > max_seconds) return policy.max;
  return absl::Seconds(seconds);
}

absl::Duration BackoffDelay(const BackoffPolicy& policy, int attempt, absl::BitGenRef random) {
  int64_t ceiling_us = absl::ToInt64Microseconds(BackoffCeiling(policy, attempt));
  if (ceiling_us <= 0) return absl::ZeroDuration();
  return absl::Microseconds(absl::Uniform<int64_t>(absl::IntervalClosed, random, 0, ceiling_us));
}

bool IsRetryable(absl::string_view method, AttemptOutcome outcome, int http_status) {
  bool idempotent = method == "GET" || method == "PUT" || method == "DELETE" || method == "HEAD";
  switch (outcome) {
    case AttemptOutcome::kNotSent:
      return true;
    case AttemptOutcome::kMaybeSent:
      return idempotent;
    case AttemptOutcome::kNeverRetryable:
      return false;
    case AttemptOutcome::kHttpStatus:
      if (http_status == 429 || http_status == 503) return true;
      if (http_status >= 500) return idempotent;
      return false;
  }
  return false;
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  int64_t seconds = 0;
  if (value.empty() || !absl::SimpleAtoi(value, &seconds) || seconds < 0) return std::nullopt;
  return absl::Seconds(std::min<int64_t>(seconds, 24 * 3600));
}

}  // namespace kcred::kube
