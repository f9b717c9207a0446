#include "daemon/rotation/scheduler.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/simulated_clock.h"

namespace kcred::rotation {
namespace {

using ::testing::ElementsAre;

const absl::Time kStart = testing::SimulatedClock::kDefaultStart;
// A safety net against a hanging test, never a way to wait for simulated time.
const absl::Duration kRealTimeout = testing::SimulatedClock::kPatience;

RotationPolicy Exact(double fraction) {
  RotationPolicy p;
  p.fraction = fraction;
  p.jitter = 0;
  return p;
}

// Issues tokens of a fixed lifetime at the clock's time. Keys in `failing` fail; keys whose
// cluster prefix is in `blocked_clusters` block until Unblock.
class FakeExecutor : public Executor {
 public:
  FakeExecutor(Clock& clock, absl::Duration ttl) : clock_(clock), ttl_(ttl) {}

  absl::StatusOr<RotationOutcome> Rotate(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(key);
    ++running_;
    if (!running_keys_.insert(key).second) ++overlaps_;
    std::string cluster = key.substr(0, key.find('/'));
    auto unblocked = [this, &cluster]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return blocked_clusters_.count(cluster) == 0;
    };
    mu_.Await(absl::Condition(&unblocked));
    --running_;
    running_keys_.erase(key);
    if (failing_.count(key) > 0) {
      return absl::UnavailableError(absl::StrCat("cluster ", cluster, ": API server said 503"));
    }
    absl::Time now = clock_.Now();
    return RotationOutcome{now, now + ttl_};
  }

  void Fail(const std::string& key) {
    absl::MutexLock lock(&mu_);
    failing_.insert(key);
  }
  void Succeed(const std::string& key) {
    absl::MutexLock lock(&mu_);
    failing_.erase(key);
  }
  void Block(const std::string& cluster) {
    absl::MutexLock lock(&mu_);
    blocked_clusters_.insert(cluster);
  }
  void Unblock(const std::string& cluster) {
    absl::MutexLock lock(&mu_);
    blocked_clusters_.erase(cluster);
  }
  std::vector<std::string> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // Waits (real time, bounded) until `n` calls are blocked inside Rotate.
  bool AwaitRunning(int n) const {
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ >= n; };
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kRealTimeout);
  }
  int running() const {
    absl::MutexLock lock(&mu_);
    return running_;
  }
  // Calls that started while another call for the same key was still running.
  int overlaps() const {
    absl::MutexLock lock(&mu_);
    return overlaps_;
  }

 private:
  Clock& clock_;
  const absl::Duration ttl_;
  mutable absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> failing_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> blocked_clusters_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> running_keys_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int overlaps_ ABSL_GUARDED_BY(mu_) = 0;
};

class RecordingObserver : public RotationObserver {
 public:
  void OnRotation(const RotationReport& report) override {
    absl::MutexLock lock(&mu_);
    reports_.push_back(report);
  }
  std::vector<RotationReport> reports() const {
    absl::MutexLock lock(&mu_);
    return reports_;
  }
  // Waits (real time, bounded) until `n` reports arrived.
  bool AwaitReports(size_t n) const {
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return reports_.size() >= n; };
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kRealTimeout);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<RotationReport> reports_ ABSL_GUARDED_BY(mu_);
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerOptions Options(int workers) {
    SchedulerOptions options;
    options.workers = workers;
    return options;
  }

  testing::SimulatedClock clock_;
  FakeExecutor executor_{clock_, absl::Hours(1)};
  RecordingObserver observer_;
};

// Advancing simulated time to an account's due time runs its rotation on a worker, reports it, and
// reschedules the account from the new token; nothing runs before its time.
TEST_F(SchedulerTest, AdvancingTimeRunsDueRotations) {
  Scheduler scheduler(clock_, executor_, Options(2), &observer_);
  ASSERT_TRUE(scheduler.Upsert({"c/ns/a", "c", kStart, kStart + absl::Hours(1), Exact(0.5)}).ok());
  ASSERT_TRUE(scheduler.Upsert({"c/ns/b", "c", kStart, kStart + absl::Hours(1), Exact(0.8)}).ok());
  ASSERT_TRUE(scheduler.Start().ok());
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_EQ(clock_.EarliestDeadline(), kStart + absl::Minutes(30)) << "asleep until a is due";
  EXPECT_TRUE(executor_.calls().empty());

  clock_.AdvanceTo(kStart + absl::Minutes(30) - absl::Seconds(1));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_TRUE(executor_.calls().empty());

  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(observer_.AwaitReports(1));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_THAT(executor_.calls(), ElementsAre("c/ns/a"));
  RotationReport report = observer_.reports()[0];
  EXPECT_EQ(report.key, "c/ns/a");
  EXPECT_EQ(report.cluster, "c");
  EXPECT_TRUE(report.status.ok());
  EXPECT_EQ(report.started, kStart + absl::Minutes(30));
  EXPECT_EQ(report.duration, absl::ZeroDuration());
  ASSERT_TRUE(report.outcome.has_value());
  EXPECT_EQ(report.outcome->expiry, kStart + absl::Minutes(90));
  EXPECT_EQ(report.next_rotation, kStart + absl::Minutes(60));
  EXPECT_EQ(scheduler.Get("c/ns/a")->next_rotation, kStart + absl::Minutes(60));
  EXPECT_EQ(clock_.EarliestDeadline(), kStart + absl::Minutes(48)) << "now waiting for b";

  clock_.AdvanceTo(kStart + absl::Minutes(48));
  ASSERT_TRUE(observer_.AwaitReports(2));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  clock_.AdvanceTo(kStart + absl::Hours(1));
  ASSERT_TRUE(observer_.AwaitReports(3));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_THAT(executor_.calls(), ElementsAre("c/ns/a", "c/ns/b", "c/ns/a"));
  EXPECT_EQ(scheduler.completed(), 3);
  scheduler.Stop();
}

// An idle scheduler holding 1,000 accounts blocks in a single wait until the earliest deadline:
// advancing time short of it causes no wakeup, no clock wait and no executor call.
TEST_F(SchedulerTest, IdleSchedulerDoesNotWake) {
  Scheduler scheduler(clock_, executor_, Options(4), &observer_);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(scheduler
                    .Upsert({absl::StrCat("c", i % 7, "/ns/a", i), absl::StrCat("c", i % 7), kStart,
                             kStart + absl::Hours(2) + absl::Minutes(i), Exact(0.5)})
                    .ok());
  }
  ASSERT_TRUE(scheduler.Start().ok());
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_EQ(clock_.EarliestDeadline(), kStart + absl::Hours(1));
  int64_t wakeups = scheduler.wakeups();
  int64_t waits = clock_.waits();
  for (int minute = 1; minute < 60; ++minute) {
    clock_.Advance(absl::Minutes(1));
    ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  }
  EXPECT_EQ(scheduler.wakeups(), wakeups);
  EXPECT_EQ(clock_.waits(), waits);
  EXPECT_TRUE(executor_.calls().empty());

  // The deadline itself wakes it, once, and the first account rotates.
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(observer_.AwaitReports(1));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_GT(scheduler.wakeups(), wakeups);
  EXPECT_THAT(executor_.calls(), ElementsAre("c0/ns/a0"));
}

// Upsert and Remove after Start wake the dispatcher so it sleeps towards the new earliest
// deadline; a removed account is never rotated.
TEST_F(SchedulerTest, UpsertAndRemoveRescheduleTheSleep) {
  Scheduler scheduler(clock_, executor_, Options(2), &observer_);
  ASSERT_TRUE(scheduler.Start().ok());
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_EQ(clock_.EarliestDeadline(), absl::InfiniteFuture()) << "nothing scheduled";

  ASSERT_TRUE(
      scheduler.Upsert({"c/ns/late", "c", kStart, kStart + absl::Hours(10), Exact(0.8)}).ok());
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_EQ(clock_.EarliestDeadline(), kStart + absl::Hours(8));
  ASSERT_TRUE(
      scheduler.Upsert({"c/ns/soon", "c", kStart, kStart + absl::Hours(1), Exact(0.8)}).ok());
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_EQ(clock_.EarliestDeadline(), kStart + absl::Minutes(48));
  ASSERT_TRUE(scheduler.Remove("c/ns/soon").ok());
  EXPECT_EQ(scheduler.Remove("c/ns/soon").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_EQ(clock_.EarliestDeadline(), kStart + absl::Hours(8));

  clock_.AdvanceTo(kStart + absl::Hours(8));
  ASSERT_TRUE(observer_.AwaitReports(1));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_THAT(executor_.calls(), ElementsAre("c/ns/late"));
  EXPECT_EQ(scheduler.Upsert({"", "c", kStart, kStart + absl::Hours(1), Exact(0.8)}).code(),
            absl::StatusCode::kInvalidArgument);
}

// A failed rotation is reported with its error and retried after the backoff on a worker; the
// success afterwards clears the failure.
TEST_F(SchedulerTest, FailureIsReportedAndRetried) {
  Scheduler scheduler(clock_, executor_, Options(2), &observer_);
  ASSERT_TRUE(scheduler.Upsert({"c/ns/a", "c", kStart, kStart + absl::Hours(1), Exact(0.5)}).ok());
  executor_.Fail("c/ns/a");
  ASSERT_TRUE(scheduler.Start().ok());
  clock_.AdvanceTo(kStart + absl::Minutes(30));
  ASSERT_TRUE(observer_.AwaitReports(1));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  RotationReport failed = observer_.reports()[0];
  EXPECT_EQ(failed.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed.consecutive_failures, 1);
  EXPECT_FALSE(failed.outcome.has_value());
  EXPECT_GE(failed.next_rotation, clock_.Now());
  EXPECT_LE(failed.next_rotation, clock_.Now() + absl::Seconds(1));
  EntryStatus status = *scheduler.Get("c/ns/a");
  EXPECT_EQ(status.consecutive_failures, 1);
  EXPECT_EQ(status.last_error.message(), "cluster c: API server said 503");

  clock_.AdvanceTo(failed.next_rotation);
  ASSERT_TRUE(observer_.AwaitReports(2));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  RotationReport retry = observer_.reports()[1];
  EXPECT_EQ(retry.attempt, 1);
  EXPECT_EQ(retry.started, failed.next_rotation);
  EXPECT_EQ(retry.consecutive_failures, 2);
  EXPECT_LE(retry.next_rotation, retry.started + absl::Seconds(2));

  executor_.Succeed("c/ns/a");
  clock_.AdvanceTo(retry.next_rotation);
  ASSERT_TRUE(observer_.AwaitReports(3));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  RotationReport success = observer_.reports()[2];
  EXPECT_EQ(success.attempt, 2);
  EXPECT_TRUE(success.status.ok());
  EXPECT_EQ(success.consecutive_failures, 0);
  EXPECT_TRUE(scheduler.Get("c/ns/a")->last_error.ok());
  EXPECT_EQ(success.next_rotation, retry.next_rotation + absl::Minutes(30));
}

// A cluster whose API server hangs holds only its own max_in_flight workers; another cluster's
// rotations keep running on the rest of the pool, on time.
TEST_F(SchedulerTest, StuckClusterDoesNotDelayAnother) {
  Scheduler scheduler(clock_, executor_, Options(4), &observer_);
  ASSERT_TRUE(scheduler.SetClusterLimits("stuck", ClusterLimits{2, 100, 100}).ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(scheduler
                    .Upsert({absl::StrCat("stuck/ns/", i), "stuck", kStart, kStart + absl::Hours(1),
                             Exact(0.5)})
                    .ok());
    ASSERT_TRUE(scheduler
                    .Upsert({absl::StrCat("ok/ns/", i), "ok", kStart,
                             kStart + absl::Hours(1) + absl::Minutes(i), Exact(0.5)})
                    .ok());
  }
  executor_.Block("stuck");
  ASSERT_TRUE(scheduler.Start().ok());
  clock_.AdvanceTo(kStart + absl::Minutes(30));
  ASSERT_TRUE(executor_.AwaitRunning(2));
  // ok/ns/0 was due at 30m too; the others at 30m30s, 31m, ...: each runs at its time.
  for (int i = 0; i < 5; ++i) {
    clock_.AdvanceTo(kStart + absl::Minutes(30) + absl::Seconds(30 * i));
    ASSERT_TRUE(observer_.AwaitReports(i + 1)) << "ok/ns/" << i << " did not rotate";
    RotationReport report = observer_.reports()[i];
    EXPECT_EQ(report.key, absl::StrCat("ok/ns/", i));
    EXPECT_EQ(report.started, kStart + absl::Minutes(30) + absl::Seconds(30 * i));
    EXPECT_TRUE(report.status.ok());
  }
  EXPECT_EQ(executor_.running(), 2) << "the stuck cluster holds only its limit";

  executor_.Unblock("stuck");
  ASSERT_TRUE(observer_.AwaitReports(10));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  std::set<std::string> rotated;
  for (const RotationReport& r : observer_.reports()) rotated.insert(r.key);
  EXPECT_EQ(rotated.size(), 10u);
}

// Stop waits for a running rotation, records it, and joins; Start is refused afterwards.
TEST_F(SchedulerTest, StopFinishesRunningRotations) {
  Scheduler scheduler(clock_, executor_, Options(1), &observer_);
  ASSERT_TRUE(scheduler.Upsert({"c/ns/a", "c", kStart, kStart + absl::Hours(1), Exact(0.5)}).ok());
  executor_.Block("c");
  ASSERT_TRUE(scheduler.Start().ok());
  EXPECT_EQ(scheduler.Start().code(), absl::StatusCode::kFailedPrecondition);
  clock_.AdvanceTo(kStart + absl::Minutes(30));
  ASSERT_TRUE(executor_.AwaitRunning(1));
  std::thread stopper([&] { scheduler.Stop(); });
  executor_.Unblock("c");
  stopper.join();
  EXPECT_EQ(scheduler.completed(), 1);
  EXPECT_EQ(observer_.reports().size(), 1u);
  EXPECT_EQ(scheduler.Get("c/ns/a")->next_rotation, kStart + absl::Minutes(60));
  EXPECT_EQ(scheduler.Start().code(), absl::StatusCode::kFailedPrecondition);
}

// With the real clock: a change wakes a dispatcher that sleeps without deadline, and an overdue
// rotation runs at once (nothing here waits for time to pass).
TEST(SchedulerRealClockTest, OverdueRotationRunsAtOnce) {
  RealClock clock;
  FakeExecutor executor(clock, absl::Hours(3));
  RecordingObserver observer;
  SchedulerOptions options;
  options.workers = 2;
  Scheduler scheduler(clock, executor, options, &observer);
  ASSERT_TRUE(scheduler.Start().ok());
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  absl::Time now = clock.Now();
  // Issued 2h ago for 3h, rotation at 10%: overdue by 1h42m.
  ASSERT_TRUE(
      scheduler.Upsert({"c/ns/a", "c", now - absl::Hours(2), now + absl::Hours(1), Exact(0.1)})
          .ok());
  ASSERT_TRUE(observer.AwaitReports(1));
  ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  EXPECT_THAT(executor.calls(), ElementsAre("c/ns/a"));
  EXPECT_GT(scheduler.Get("c/ns/a")->next_rotation, now);
  scheduler.Stop();
}

// Upserts, removals and limit changes from several threads while rotations run and time moves:
// no account is ever rotated twice at once, and every account left rotates.
TEST_F(SchedulerTest, ConcurrentChangesWhileRotating) {
  Scheduler scheduler(clock_, executor_, Options(4), &observer_);
  ASSERT_TRUE(scheduler.Start().ok());
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string cluster = absl::StrCat("c", (t + i) % 3);
        std::string key = absl::StrCat(cluster, "/ns/", t, "-", i % 50);
        absl::Time issued = kStart - absl::Minutes(i % 40);
        EXPECT_TRUE(scheduler
                        .Upsert({key, cluster, issued, issued + absl::Hours(1),
                                 Exact(0.5 + 0.01 * (i % 10))})
                        .ok());
        if (i % 7 == 0) scheduler.Remove(key).IgnoreError();
        if (i % 50 == 0) {
          // The bucket is generous: time moves in whole minutes here, and a burst of 5 would
          // (rightly) leave most of a minute's due rotations for the next step.
          EXPECT_TRUE(scheduler.SetClusterLimits(cluster, {1 + i % 3, 1000, 1000}).ok());
        }
      }
    });
  }
  for (int minute = 0; minute < 120; ++minute) clock_.Advance(absl::Minutes(1));
  for (std::thread& w : writers) w.join();
  // Let every remaining account rotate at least once more.
  for (int minute = 0; minute < 120; ++minute) {
    clock_.Advance(absl::Minutes(1));
    ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout));
  }
  EXPECT_EQ(executor_.overlaps(), 0);
  std::set<std::string> rotated;
  for (const RotationReport& r : observer_.reports()) {
    EXPECT_TRUE(r.status.ok());
    rotated.insert(r.key);
  }
  int remaining = 0;
  for (int t = 0; t < 4; ++t) {
    for (int k = 0; k < 50; ++k) {
      for (int c = 0; c < 3; ++c) {
        std::string key = absl::StrCat("c", c, "/ns/", t, "-", k);
        std::optional<EntryStatus> status = scheduler.Get(key);
        if (!status.has_value()) continue;
        ++remaining;
        EXPECT_EQ(rotated.count(key), 1u) << key;
        EXPECT_GT(status->rotations, 0) << key;
        EXPECT_GT(status->next_rotation, clock_.Now()) << key;
      }
    }
  }
  EXPECT_GT(remaining, 100);
  scheduler.Stop();
}

// Issues tokens of per-account lifetimes and checks, on every call, that the token being replaced
// has not expired yet.
class LifetimeExecutor : public Executor {
 public:
  explicit LifetimeExecutor(Clock& clock) : clock_(clock) {}
  void Add(const std::string& key, absl::Duration ttl, absl::Time expiry) {
    absl::MutexLock lock(&mu_);
    ttl_[key] = ttl;
    expiry_[key] = expiry;
  }
  absl::StatusOr<RotationOutcome> Rotate(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    absl::Time now = clock_.Now();
    if (now >= expiry_.at(key)) late_.push_back(key);
    expiry_[key] = now + ttl_.at(key);
    ++calls_;
    return RotationOutcome{now, expiry_[key]};
  }
  std::vector<std::string> late() const {
    absl::MutexLock lock(&mu_);
    return late_;
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, absl::Duration> ttl_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> expiry_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> late_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// End to end on worker threads: 1,000 accounts (10 minutes to 24 hours) through a simulated day
// in 10-second steps; every rotation starts within one step of its due time, before its token
// expires, and every account keeps rotating.
TEST_F(SchedulerTest, ThousandAccountsThroughADayOnWorkers) {
  SchedulerOptions options = Options(8);
  options.schedule.seed = 7;
  options.schedule.default_limits = ClusterLimits{8, 100, 50};
  LifetimeExecutor executor(clock_);
  Scheduler scheduler(clock_, executor, options, &observer_);
  std::map<std::string, absl::Duration> ttl;
  for (int i = 0; i < 1000; ++i) {
    std::string cluster = absl::StrCat("c", i % 10);
    std::string key = absl::StrCat(cluster, "/ns/a", i);
    absl::Duration lifetime = absl::Minutes(10) + absl::Minutes((i * 7919) % (24 * 60 - 10 + 1));
    RotationPolicy policy;
    policy.fraction = 0.5 + 0.1 * (i % 5);
    policy.jitter = 0.05 * (i % 4);
    if (i % 6 == 0) policy.interval = lifetime / 2;
    absl::Time issued = kStart - absl::Seconds(i % 60);
    ttl[key] = lifetime;
    executor.Add(key, lifetime, issued + lifetime);
    ASSERT_TRUE(scheduler.Upsert({key, cluster, issued, issued + lifetime, policy}).ok());
  }
  ASSERT_TRUE(scheduler.Start().ok());
  const absl::Duration step = absl::Seconds(10);
  for (absl::Time t = kStart; t < kStart + absl::Hours(24); t += step) {
    clock_.AdvanceTo(t + step);
    ASSERT_TRUE(scheduler.AwaitIdle(kRealTimeout)) << "at " << t;
  }
  scheduler.Stop();

  EXPECT_THAT(executor.late(), ::testing::IsEmpty()) << "rotated after expiry";
  std::map<std::string, int> rotations;
  for (const RotationReport& r : observer_.reports()) {
    ASSERT_TRUE(r.status.ok()) << r.key;
    ASSERT_GE(r.started, r.due) << r.key;
    ASSERT_LE(r.started - r.due, step) << r.key;
    rotations[r.key]++;
  }
  EXPECT_EQ(static_cast<int>(observer_.reports().size()), executor.calls());
  ASSERT_EQ(rotations.size(), 1000u);
  for (const auto& [key, lifetime] : ttl) {
    EXPECT_GE(rotations[key], static_cast<int>(absl::Hours(24) / lifetime)) << key;
  }
}

}  // namespace
}  // namespace kcred::rotation
