#pragma once
// The Clock seam: the only way kcred code reads the time or waits. RealClock is the one place that
// touches the system clock (IoDeadline, for real I/O, the other); tests use
// kcred::testing::SimulatedClock and advance it by hand.

#include <chrono>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kcred {

class Clock {
 public:
  virtual ~Clock() = default;
  // The current wall-clock time. Thread-safe.
  virtual absl::Time Now() const = 0;
  // Blocks the calling thread until Now() >= deadline. Thread-safe.
  virtual void SleepUntil(absl::Time deadline) = 0;
  void SleepFor(absl::Duration d) { SleepUntil(Now() + d); }
  // With `*mu` held by the caller: blocks until `cond` holds (returns true) or until Now() >=
  // deadline (returns false, `cond` false), releasing `*mu` while blocked and holding it again on
  // return. Whoever makes `cond` true must do so while holding `*mu`. Thread-safe. The default
  // waits in real time for deadline - Now(); a simulated clock overrides it to wait on its own
  // time.
  virtual bool WaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return mu->AwaitWithTimeout(cond, deadline - Now());
  }
  // A sleep that an event may cut short (a retry's backoff that a cancellation ends): like
  // WaitUntil, true when `cond` holds, false at the deadline; but a simulated clock counts it as
  // a sleep (in its instant mode it is over at once). Thread-safe.
  virtual bool InterruptibleSleepUntil(absl::Mutex* mu, const absl::Condition& cond,
                                       absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return WaitUntil(mu, cond, deadline);
  }
};

using ClockPtr = std::unique_ptr<Clock>;

// The deadline of a real I/O call `timeout` from now, for gRPC (a call's deadline, a shutdown's
// grace). Always on the system clock, whatever Clock the caller has: sockets do not run on a
// simulated clock, so a gRPC deadline taken from one would expire at once or never.
inline std::chrono::system_clock::time_point IoDeadline(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  void SleepUntil(absl::Time deadline) override {
    absl::Duration d = deadline - absl::Now();
    if (d > absl::ZeroDuration()) absl::SleepFor(d);
  }
  bool WaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return mu->AwaitWithDeadline(cond, deadline);
  }
};

}  // namespace kcred
