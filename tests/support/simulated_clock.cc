#include "tests/support/simulated_clock.h"

#include <algorithm>

namespace kcred::testing {

SimulatedClock::SimulatedClock(absl::Time start, SleepMode mode) : mode_(mode), now_(start) {}

absl::Time SimulatedClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void SimulatedClock::SleepUntil(absl::Time deadline) {
  std::vector<std::shared_ptr<Waiter>> due;
  {
    absl::MutexLock lock(&mu_);
    sleeps_.push_back(deadline - now_);
    if (now_ >= deadline) return;
    if (mode_ == SleepMode::kInstant) {
      due = MoveTo(deadline);
    } else {
      auto waiter = std::make_shared<Waiter>();
      waiter->deadline = deadline;
      waiters_.push_back(waiter);
      ++waits_;
      // The Advance that makes this true also forgets the waiter.
      auto reached = [this, deadline]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return now_ >= deadline; };
      mu_.Await(absl::Condition(&reached));
    }
  }
  Fire(due);
}

bool SimulatedClock::InterruptibleSleepUntil(absl::Mutex* mu, const absl::Condition& cond,
                                             absl::Time deadline) {
  if (cond.Eval()) return true;
  if (mode_ == SleepMode::kInstant) {
    // SleepUntil may wake WaitUntil callers, which take their own mutexes: not while holding one.
    mu->Unlock();
    SleepUntil(deadline);
    mu->Lock();
    return cond.Eval();
  }
  {
    absl::MutexLock lock(&mu_);
    sleeps_.push_back(deadline - now_);
  }
  return WaitUntil(mu, cond, deadline);
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
  // `fired` changes under *mu, so Await evaluates this again when an Advance sets it.
  struct Args {
    const absl::Condition* cond;
    const Waiter* waiter;
  };
  Args args{&cond, waiter.get()};
  mu->Await(absl::Condition(
      +[](Args* a) { return a->waiter->fired || a->cond->Eval(); }, &args));
  if (!waiter->fired) Forget(waiter.get());  // the condition, not an Advance, ended the wait
  return cond.Eval();
}

void SimulatedClock::Advance(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  std::vector<std::shared_ptr<Waiter>> due;
  {
    absl::MutexLock lock(&mu_);
    due = MoveTo(now_ + d);
  }
  Fire(due);
}

void SimulatedClock::AdvanceTo(absl::Time t) {
  std::vector<std::shared_ptr<Waiter>> due;
  {
    absl::MutexLock lock(&mu_);
    due = MoveTo(t);
  }
  Fire(due);
}

std::vector<std::shared_ptr<SimulatedClock::Waiter>> SimulatedClock::MoveTo(absl::Time t) {
  std::vector<std::shared_ptr<Waiter>> due;
  if (t <= now_) return due;
  now_ = t;
  auto still_waiting =
      std::stable_partition(waiters_.begin(), waiters_.end(),
                            [this](const std::shared_ptr<Waiter>& w)
                                ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return w->deadline > now_; });
  for (auto it = still_waiting; it != waiters_.end(); ++it) {
    if ((*it)->mu != nullptr) due.push_back(*it);  // sleepers wake on now_ itself
  }
  waiters_.erase(still_waiting, waiters_.end());
  return due;
}

void SimulatedClock::Fire(const std::vector<std::shared_ptr<Waiter>>& due) {
  for (const std::shared_ptr<Waiter>& w : due) {
    absl::MutexLock lock(w->mu);
    w->fired = true;
  }
}

void SimulatedClock::Forget(const Waiter* waiter) {
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(waiters_.begin(), waiters_.end(),
                         [waiter](const std::shared_ptr<Waiter>& w) { return w.get() == waiter; });
  if (it != waiters_.end()) waiters_.erase(it);
}

int SimulatedClock::blocked() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiters_.size());
}

bool SimulatedClock::AwaitBlocked(int n, absl::Duration patience) const {
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(waiters_.size()) >= n;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&enough), patience);
}

bool SimulatedClock::AwaitBlockedUntil(absl::Time deadline, absl::Duration patience) const {
  auto waiting = [this, deadline]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::any_of(
        waiters_.begin(), waiters_.end(),
        [deadline](const std::shared_ptr<Waiter>& w) { return w->deadline == deadline; });
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&waiting), patience);
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

std::vector<absl::Duration> SimulatedClock::sleeps() const {
  absl::MutexLock lock(&mu_);
  return sleeps_;
}

}  // namespace kcred::testing
