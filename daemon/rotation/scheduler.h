#pragma once
// The rotation runner: a dispatcher thread that sleeps on the Clock until the Schedule's next
// deadline (or until an Upsert, Remove, SetClusterLimits, a finished rotation or Stop changes
// what is due), and a pool of worker threads that run the due rotations through the Executor.
// There is no polling: an idle Scheduler with thousands of accounts blocks in one
// Clock::WaitUntil until the earliest of them is due.
//
// Workers vs. cluster limits: a cluster whose API server hangs holds at most its max_in_flight
// workers; give the pool more workers than any one cluster's max_in_flight so the other clusters
// keep rotating.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/rotation/executor.h"
#include "daemon/rotation/schedule.h"

namespace kcred::rotation {

struct SchedulerOptions {
  int workers = 8;  // >= 1
  ScheduleOptions schedule;
};

class Scheduler {
 public:
  // `clock`, `executor` and `observer` (optional) must outlive the Scheduler. Options are
  // clamped like Schedule's (workers to >= 1); validate them first with Schedule::Validate.
  Scheduler(Clock& clock, Executor& executor, SchedulerOptions options,
            RotationObserver* observer = nullptr);
  // Stops (see Stop).
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the dispatcher and the workers. FAILED_PRECONDITION when already started or stopped.
  // Entries may be added before or after Start.
  absl::Status Start();

  // Stops dispatching, waits for rotations already running to finish (their results are
  // recorded and reported), and joins every thread. Idempotent; thread-safe.
  void Stop();

  // Schedule::Upsert / Remove / SetClusterLimits, then wakes the dispatcher. Thread-safe.
  absl::Status Upsert(const ScheduleEntry& entry);
  absl::Status Remove(const std::string& key);
  absl::Status SetClusterLimits(const std::string& cluster, const ClusterLimits& limits);

  // The schedule's view of one account (next rotation, last error, ...); nullopt when unknown.
  // Thread-safe.
  std::optional<EntryStatus> Get(const std::string& key) const;

  // Blocks until the scheduler is quiescent: every worker idle, nothing dispatched, no change
  // pending, and the dispatcher asleep until the schedule's next deadline. Returns false if that
  // does not happen within `timeout` (real time). For tests and orderly drains. Thread-safe.
  bool AwaitIdle(absl::Duration timeout) const;

  // How many times the dispatcher woke up (one per pass over the schedule). For tests and
  // metrics: an idle scheduler's count does not grow. Thread-safe.
  int64_t wakeups() const;
  // Rotations finished (successfully or not). Thread-safe.
  int64_t completed() const;

 private:
  void DispatchLoop();
  void WorkerLoop();

  Clock& clock_;
  Executor& executor_;
  RotationObserver* const observer_;
  const int worker_count_;

  mutable absl::Mutex mu_;
  Schedule schedule_ ABSL_GUARDED_BY(mu_);
  std::deque<RotationJob> queue_ ABSL_GUARDED_BY(mu_);  // taken by TakeDue, not yet started
  int idle_workers_ ABSL_GUARDED_BY(mu_) = 0;
  bool changed_ ABSL_GUARDED_BY(mu_) = false;  // the schedule changed since the last pass
  bool dispatcher_waiting_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex threads_mu_;  // serializes Start and Stop
  std::thread dispatcher_ ABSL_GUARDED_BY(threads_mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(threads_mu_);
};

}  // namespace kcred::rotation
