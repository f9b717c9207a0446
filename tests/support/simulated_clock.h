#pragma once
// The one simulated time of kcred's tests (STYLE.md rule 3): a Clock whose time stands still until
// the test moves it with Advance or AdvanceTo. Nothing here waits for real time to pass; only the
// Await* helpers wait in real time, bounded, for another thread to reach a wait (an event, never a
// delay).
//
// How SleepUntil behaves is chosen at construction:
//  - SleepMode::kBlock (the default): SleepUntil blocks until an Advance brings time to its
//    deadline. For code that sleeps on a thread of its own (schedulers, reconcilers, persisters,
//    watchdogs) while the test drives time: the test waits with AwaitBlocked/AwaitBlockedUntil for
//    the thread to sleep, checks what happened so far, then advances.
//  - SleepMode::kInstant: SleepUntil moves time to its deadline itself and returns at once, waking
//    whoever that makes due. For code that sleeps on the test's own thread (rate limiters, retry
//    backoff inside a call), where nobody else could advance time; sleeps() tells what was waited.
// In both modes WaitUntil waits on simulated time: it returns when its condition holds, or when an
// Advance (the test's, or a kInstant sleeper's) reaches its deadline.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace kcred::testing {

class SimulatedClock : public Clock {
 public:
  enum class SleepMode { kBlock, kInstant };

  // 2026-01-01T00:00:00Z: a fixed start, so times in test output are the same on every run.
  static constexpr absl::Time kDefaultStart = absl::FromUnixSeconds(1767225600);
  // How long the Await* helpers wait (real time) for another thread before they give up.
  static constexpr absl::Duration kPatience = absl::Seconds(20);

  explicit SimulatedClock(absl::Time start = kDefaultStart, SleepMode mode = SleepMode::kBlock);
  explicit SimulatedClock(SleepMode mode) : SimulatedClock(kDefaultStart, mode) {}

  // Simulated now. Thread-safe.
  absl::Time Now() const override;
  // kBlock: blocks until an Advance brings Now() to `deadline`. kInstant: advances to `deadline`
  // (like AdvanceTo) and returns. Either way returns at once when `deadline` has passed, and is
  // recorded in sleeps(). A kInstant sleeper must not hold the mutex of a thread in WaitUntil.
  // Thread-safe.
  void SleepUntil(absl::Time deadline) override;
  // Blocks until `cond` holds (true) or an Advance brings Now() to `deadline` (false); never on
  // a real timer. Thread-safe.
  bool WaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // A sleep (recorded in sleeps()) that `cond` cuts short: kBlock waits like WaitUntil;
  // kInstant, when `cond` does not hold, releases `*mu` and sleeps like SleepUntil. Thread-safe.
  bool InterruptibleSleepUntil(absl::Mutex* mu, const absl::Condition& cond,
                               absl::Time deadline) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Moves time forward by `d` (to `t`; earlier times and negative durations are ignored) and
  // wakes every thread whose deadline has come. When it returns, those threads no longer count
  // as blocked, so a following AwaitBlocked sees them only once they wait again. Must not be
  // called holding the mutex of a thread in WaitUntil. Thread-safe.
  void Advance(absl::Duration d);
  void AdvanceTo(absl::Time t);

  // Threads blocked in SleepUntil or WaitUntil right now. Thread-safe.
  int blocked() const;
  // Waits (real time, at most `patience`) until at least `n` threads are blocked here. A thread
  // that a condition (not an Advance) woke counts until it has left WaitUntil. Thread-safe.
  bool AwaitBlocked(int n, absl::Duration patience = kPatience) const;
  // Waits (real time, at most `patience`) until a thread is blocked here with exactly `deadline`
  // (absl::InfiniteFuture() for a wait without one). Thread-safe.
  bool AwaitBlockedUntil(absl::Time deadline, absl::Duration patience = kPatience) const;
  // The earliest deadline among blocked threads; nullopt when none is blocked. Thread-safe.
  std::optional<absl::Time> EarliestDeadline() const;
  // How many times a thread blocked in SleepUntil or WaitUntil since construction. Thread-safe.
  int64_t waits() const;
  // Every SleepUntil call, as the time it asked for (deadline - Now() at the call; zero or less
  // when the deadline had passed). Thread-safe.
  std::vector<absl::Duration> sleeps() const;

 private:
  struct Waiter {
    absl::Mutex* mu = nullptr;  // the caller's mutex for WaitUntil; null for SleepUntil
    absl::Time deadline;
    bool fired = false;  // WaitUntil only: set by an Advance, under *mu
  };
  // Moves now_ to `t` (if later), forgets the waiters now due, and returns those of WaitUntil,
  // which Fire wakes once mu_ is released (a waiter holds its mutex while taking ours).
  std::vector<std::shared_ptr<Waiter>> MoveTo(absl::Time t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Fire(const std::vector<std::shared_ptr<Waiter>>& due);
  void Forget(const Waiter* waiter);

  const SleepMode mode_;
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);  // blocked right now
  int64_t waits_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Duration> sleeps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::testing
