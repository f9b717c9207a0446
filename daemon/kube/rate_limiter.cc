#include "daemon/kube/rate_limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kcred::kube {

TokenBucket::TokenBucket(Clock& clock, double qps, int burst)
    : clock_(clock),
      qps_(qps > 0 ? qps : 1e-9),
      burst_(std::max(burst, 1)),
      tokens_(burst_),
      last_(clock.Now()) {}

void TokenBucket::RefillLocked(absl::Time now) {
  if (now <= last_) return;
  tokens_ = std::min<double>(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * qps_);
  last_ = now;
}

absl::Status TokenBucket::Acquire(absl::Time deadline) {
  absl::Time ready;
  {
    absl::MutexLock lock(&mu_);
    absl::Time now = clock_.Now();
    RefillLocked(now);
    // Reserve: the token we take is the (1 - tokens_)-th still to come when tokens_ < 1.
    ready = tokens_ >= 1 ? now : now + absl::Seconds((1 - tokens_) / qps_);
    if (ready > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "rate limit (", qps_, " qps, burst ", burst_,
          "): no request slot before the deadline; raise qps/burst for this cluster or "
          "retry later"));
    }
    tokens_ -= 1;
  }
  if (ready > clock_.Now()) clock_.SleepUntil(ready);
  return absl::OkStatus();
}

bool TokenBucket::TryAcquire() {
  absl::MutexLock lock(&mu_);
  RefillLocked(clock_.Now());
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

}  // namespace kcred::kube
