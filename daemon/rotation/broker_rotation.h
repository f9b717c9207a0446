#pragma once
// Connects the rotation engine to the broker. BrokerRotation is the Scheduler's Executor (it
// rotates through Broker::RotateToken) and observer (one log line per rotation), and the
// AccountListener that keeps the schedule in step with API changes. Revoker deletes previous
// generations once their grace has passed, sleeping until the next one is due; OrphanSweeper
// deletes the token Secrets a crash left behind, on a thread of its own so that it never holds up
// a due revocation.

#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/broker/account_listener.h"
#include "daemon/broker/broker.h"
#include "daemon/config/config.h"
#include "daemon/rotation/executor.h"
#include "daemon/rotation/scheduler.h"

namespace kcred::rotation {

// Sleeps until the broker's next pending revocation (or until woken) and revokes what is due.
class Revoker {
 public:
  // Starts the thread. `clock` and `broker` must outlive the Revoker.
  Revoker(Clock& clock, broker::Broker& broker);
  // Stops the thread (waits for a revocation in progress).
  ~Revoker();
  Revoker(const Revoker&) = delete;
  Revoker& operator=(const Revoker&) = delete;

  // A rotation may have scheduled a revocation sooner than the one waited for. Thread-safe.
  void Wake();

 private:
  void Run();

  Clock& clock_;
  broker::Broker& broker_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Sweeps token Secrets that no committed generation owns (left by a crash between issuing and
// committing a token; Broker::SweepOrphans): at start, and once more when the youngest of them
// has outlived the grace period (`sweep_again_after`). A failed first sweep is retried by the
// second; after that, the next start sweeps.
class OrphanSweeper {
 public:
  // Starts the thread. `clock` and `broker` must outlive the OrphanSweeper.
  OrphanSweeper(Clock& clock, broker::Broker& broker, absl::Duration sweep_again_after);
  // Stops the thread; a sweep in progress stops at its next account once Broker::Shutdown was
  // called, else it is finished first.
  ~OrphanSweeper();
  OrphanSweeper(const OrphanSweeper&) = delete;
  OrphanSweeper& operator=(const OrphanSweeper&) = delete;

  // How many sweeps have finished (successful or not). Thread-safe.
  int sweeps() const;

 private:
  void Run(absl::Duration sweep_again_after);

  Clock& clock_;
  broker::Broker& broker_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int sweeps_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

class BrokerRotation final : public Executor,
                             public RotationObserver,
                             public broker::AccountListener {
 public:
  // `broker` must outlive this object; `revoker` (optional) is woken after every rotation.
  BrokerRotation(broker::Broker& broker, config::TokenDefaults defaults, Revoker* revoker);

  // The scheduler to keep in step (set once, before Seed). Not owned.
  void Attach(Scheduler* scheduler) { scheduler_ = scheduler; }

  // Puts every account the broker holds into the schedule; overdue ones run first, spread by the
  // per-cluster limits. Returns how many were scheduled.
  absl::StatusOr<int> Seed();

  // The schedule entry of an account; nullopt when it has no token to rotate yet.
  static std::optional<ScheduleEntry> EntryFor(const v1::Account& account,
                                               const config::TokenDefaults& defaults);
  // "cluster/namespace/name".
  static std::string KeyOf(const v1::AccountRef& ref);

  // Executor: rotates through the broker (reason "scheduled").
  absl::StatusOr<RotationOutcome> Rotate(const std::string& key) override;
  // RotationObserver: one log line per rotation (account, generation, fingerprint, duration).
  void OnRotation(const RotationReport& report) override;
  // AccountListener.
  void AccountChanged(const v1::Account& account) override;
  void AccountDeleted(const v1::AccountRef& ref) override;

 private:
  broker::Broker& broker_;
  const config::TokenDefaults defaults_;
  Revoker* revoker_;
  Scheduler* scheduler_ = nullptr;
};

// Per-cluster rotation limits derived from the cluster's API budget: a rotation makes about four
// API calls, so rotations may start at a quarter of the cluster's QPS, and a quarter of its burst
// (between 2 and 16) may be in flight at once.
ClusterLimits LimitsFor(const config::ClusterConfig& cluster);

}  // namespace kcred::rotation
