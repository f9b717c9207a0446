#include "daemon/rotation/scheduler.h"

#include <algorithm>
#include <utility>

namespace kcred::rotation {

Scheduler::Scheduler(Clock& clock, Executor& executor, SchedulerOptions options,
                     RotationObserver* observer)
    : clock_(clock),
      executor_(executor),
      observer_(observer),
      worker_count_(std::max(options.workers, 1)),
      schedule_(std::move(options.schedule)) {}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::Start() {
  absl::MutexLock threads_lock(&threads_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) {
      return absl::FailedPreconditionError(
          "rotation scheduler: Start called twice or after Stop; create a new Scheduler");
    }
    started_ = true;
  }
  for (int i = 0; i < worker_count_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  return absl::OkStatus();
}

void Scheduler::Stop() {
  absl::MutexLock threads_lock(&threads_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  // Jobs dispatched but never started go back to the schedule, keeping their due times.
  absl::MutexLock lock(&mu_);
  for (const RotationJob& job : queue_) schedule_.Release(job.key).IgnoreError();
  queue_.clear();
}

absl::Status Scheduler::Upsert(const ScheduleEntry& entry) {
  absl::MutexLock lock(&mu_);
  absl::Status status = schedule_.Upsert(entry);
  changed_ = true;
  return status;
}

absl::Status Scheduler::Remove(const std::string& key) {
  absl::MutexLock lock(&mu_);
  absl::Status status = schedule_.Remove(key);
  changed_ = true;
  return status;
}

absl::Status Scheduler::SetClusterLimits(const std::string& cluster, const ClusterLimits& limits) {
  absl::MutexLock lock(&mu_);
  absl::Status status = schedule_.SetClusterLimits(cluster, limits);
  changed_ = true;
  return status;
}

std::optional<EntryStatus> Scheduler::Get(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  return schedule_.Get(key);
}

bool Scheduler::AwaitIdle(absl::Duration timeout) const {
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // The last clause catches a dispatcher whose deadline has passed but that has not run yet.
    return dispatcher_waiting_ && !changed_ && queue_.empty() && idle_workers_ == worker_count_ &&
           schedule_.NextDeadline() > clock_.Now();
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

int64_t Scheduler::wakeups() const {
  absl::MutexLock lock(&mu_);
  return wakeups_;
}

int64_t Scheduler::completed() const {
  absl::MutexLock lock(&mu_);
  return completed_;
}

void Scheduler::DispatchLoop() {
  absl::MutexLock lock(&mu_);
  auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return changed_ || stopping_; };
  while (!stopping_) {
    ++wakeups_;
    changed_ = false;
    // Hand out no more than there are idle workers, so a job is never stuck behind a busy pool
    // while holding its cluster's slot.
    int free_workers = idle_workers_ - static_cast<int>(queue_.size());
    if (free_workers > 0) {
      for (RotationJob& job : schedule_.TakeDue(clock_.Now(), free_workers)) {
        queue_.push_back(std::move(job));
      }
    }
    // With every worker busy, only a finished rotation (which sets changed_) can let more start.
    absl::Time deadline = idle_workers_ > static_cast<int>(queue_.size()) ? schedule_.NextDeadline()
                                                                          : absl::InfiniteFuture();
    dispatcher_waiting_ = true;
    clock_.WaitUntil(&mu_, absl::Condition(&woken), deadline);
    dispatcher_waiting_ = false;
  }
}

void Scheduler::WorkerLoop() {
  auto has_work = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
  absl::MutexLock lock(&mu_);
  while (true) {
    ++idle_workers_;
    changed_ = true;  // a free worker may let the dispatcher hand out more
    mu_.Await(absl::Condition(&has_work));
    --idle_workers_;
    if (stopping_) return;
    RotationJob job = std::move(queue_.front());
    queue_.pop_front();

    mu_.Unlock();
    absl::Time started = clock_.Now();
    absl::StatusOr<RotationOutcome> result = executor_.Rotate(job.key);
    absl::Time finished = clock_.Now();
    mu_.Lock();

    absl::StatusOr<TokenTimes> times =
        result.ok() ? absl::StatusOr<TokenTimes>(TokenTimes{result->issued, result->expiry})
                    : absl::StatusOr<TokenTimes>(result.status());
    schedule_.Complete(job.key, times, finished).IgnoreError();  // the job is ours: in flight
    ++completed_;
    changed_ = true;
    if (observer_ == nullptr) continue;

    RotationReport report;
    report.key = job.key;
    report.cluster = job.cluster;
    report.attempt = job.attempt;
    report.due = job.due;
    report.started = started;
    report.duration = finished - started;
    report.status = result.status();
    if (result.ok()) report.outcome = *result;
    if (std::optional<EntryStatus> status = schedule_.Get(job.key); status.has_value()) {
      report.next_rotation = status->next_rotation;
      report.consecutive_failures = status->consecutive_failures;
      if (result.ok() && !status->last_error.ok()) report.status = status->last_error;
    } else {
      report.next_rotation = absl::InfiniteFuture();  // removed while rotating
    }
    mu_.Unlock();
    observer_->OnRotation(report);
    mu_.Lock();
  }
}

}  // namespace kcred::rotation
