#include "tests/unit/daemon/rotation/simulated_clock.h"

#include <algorithm>

namespace kcred::testing {

SimulatedClock::SimulatedClock(absl::Time start) : now_(start) {}

absl::Time SimulatedClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void SimulatedClock::SleepUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (now_ >= deadline) return;
  auto waiter = std::make_shared<Waiter>();
  waiter->deadline = deadline;
  waiters_.push_back(waiter);
  ++waits_;
  auto reached = [this, deadline]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return now_ >= deadline; };
  mu_.Await(absl::Condition(&reached));
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), waiter));
}

bool SimulatedClock::WaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) {
  if (cond.Eval()) return true;
  auto waiter = std::make_shared<Waiter>();
  waiter->mu = mu;
  waiter->deadline = deadline;
  {
    absl::MutexLock lock(&mu_);
    if (now_ >= deadline) return false;
    waiters_.push_back(waiter);
    ++waits_;
  }
  // `fired` is set by Advance while holding *mu, so Await re-evaluates this when it changes.
  struct Args {
    const absl::Condition* cond;
    const Waiter* waiter;
  };
  Args args{&cond, waiter.get()};
  mu->Await(absl::Condition(
      +[](Args* a) { return a->waiter->fired || a->cond->Eval(); }, &args));
  Remove(waiter.get());
  return cond.Eval();
}

void SimulatedClock::Remove(const Waiter* waiter) {
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(waiters_.begin(), waiters_.end(),
                         [waiter](const std::shared_ptr<Waiter>& w) { return w.get() == waiter; });
  if (it != waiters_.end()) waiters_.erase(it);
}

void SimulatedClock::Advance(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  std::vector<std::shared_ptr<Waiter>> due;
  {
    absl::MutexLock lock(&mu_);
    now_ += d;
    for (const std::shared_ptr<Waiter>& w : waiters_) {
      if (w->mu != nullptr && w->deadline <= now_ && !w->fired) due.push_back(w);
    }
  }
  // Outside our mutex: a waiter holds its own mutex while it takes ours (lock order).
  for (const std::shared_ptr<Waiter>& w : due) {
    absl::MutexLock lock(w->mu);
    w->fired = true;
  }
}

void SimulatedClock::AdvanceTo(absl::Time t) { Advance(t - Now()); }

int SimulatedClock::blocked() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiters_.size());
}

bool SimulatedClock::AwaitBlocked(int n, absl::Duration timeout) const {
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(waiters_.size()) >= n;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::optional<absl::Time> SimulatedClock::EarliestDeadline() const {
  absl::MutexLock lock(&mu_);
  std::optional<absl::Time> earliest;
  for (const std::shared_ptr<Waiter>& w : waiters_) {
    if (!earliest.has_value() || w->deadline < *earliest) earliest = w->deadline;
  }
  return earliest;
}

int64_t SimulatedClock::waits() const {
  absl::MutexLock lock(&mu_);
  return waits_;
}

}  // namespace kcred::testing
