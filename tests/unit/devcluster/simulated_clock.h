#pragma once
// A Clock whose time moves only when a test advances it.

#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace kcred::devcluster::testing {

class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::FromUnixSeconds(1767225600))  // 2026-01-01
      : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  // Sleeping advances simulated time at once, so code that waits never blocks a test.
  void SleepUntil(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    if (deadline > now_) now_ = deadline;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::devcluster::testing
