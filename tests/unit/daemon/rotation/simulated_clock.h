#pragma once
// A Clock whose time moves only when a test advances it. Unlike a clock whose SleepUntil jumps
// ahead, threads that sleep or wait here really block until the test's Advance reaches their
// deadline (or, for WaitUntil, until their condition holds), so tests can check that code waits
// for the right time and wakes up exactly then.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace kcred::testing {

class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::FromUnixSeconds(1767225600));  // 2026-01-01

  // Simulated now. Thread-safe.
  absl::Time Now() const override;
  // Blocks until Advance brings Now() to `deadline`. Thread-safe.
  void SleepUntil(absl::Time deadline) override;
  // Blocks until `cond` holds (true) or Advance brings Now() to `deadline` (false). Thread-safe.
  bool WaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Moves time forward (negative durations are ignored) and wakes every sleeper and waiter whose
  // deadline has come. Must not be called with any waiter's mutex held. Thread-safe.
  void Advance(absl::Duration d);
  void AdvanceTo(absl::Time t);

  // Threads blocked in SleepUntil or WaitUntil right now. Thread-safe.
  int blocked() const;
  // Blocks (real time, at most `timeout`) until at least `n` threads are blocked here.
  bool AwaitBlocked(int n, absl::Duration timeout = absl::Seconds(10)) const;
  // The earliest deadline among blocked threads; nullopt when none is blocked. Thread-safe.
  std::optional<absl::Time> EarliestDeadline() const;
  // How many times a thread blocked in SleepUntil or WaitUntil since construction. Thread-safe.
  int64_t waits() const;

 private:
  struct Waiter {
    absl::Mutex* mu = nullptr;  // the caller's mutex for WaitUntil; null for SleepUntil
    absl::Time deadline;
    bool fired = false;  // guarded by *mu (WaitUntil) or by the clock's mutex (SleepUntil)
  };
  void Remove(const Waiter* waiter);

  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
  int64_t waits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kcred::testing
