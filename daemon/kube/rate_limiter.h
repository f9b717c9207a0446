#pragma once
// A token bucket per API server: up to `burst` requests at once, then `qps` per second on average.
// Time comes from the Clock seam, so tests drive it with a simulated clock.

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace kcred::kube {

class TokenBucket {
 public:
  // `qps` > 0 and `burst` >= 1 (smaller values are raised to those minimums). The bucket starts
  // full. `clock` must outlive the bucket.
  TokenBucket(Clock& clock, double qps, int burst);

  // Takes one token, waiting (Clock::SleepUntil) until one is available. When it would be
  // available only after `deadline`, takes nothing and returns DeadlineExceeded at once.
  // Thread-safe: concurrent callers are served in the order they reserve.
  absl::Status Acquire(absl::Time deadline);

  // Takes one token when one is available now; never waits.
  bool TryAcquire();

  double qps() const { return qps_; }
  int burst() const { return burst_; }

 private:
  // Refills tokens_ for the time passed since last_; may leave tokens_ negative (reservations).
  void RefillLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  const double qps_;
  const int burst_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::kube
