#pragma once
// What runs on the broker besides the API: revocation of previous tokens, scheduled rotations of
// every account, and the accounts declared in the configuration (provisioned on their own thread,
// so they never hold up start).

#include <optional>

#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/broker/broker.h"
#include "daemon/config/config.h"
#include "daemon/declared/declared_accounts.h"
#include "daemon/rotation/broker_rotation.h"
#include "daemon/rotation/scheduler.h"

namespace kcred::app {

// Rotation worker threads: at least any cluster's max_in_flight (rotation::LimitsFor allows 16 at
// the most), so that the per-cluster limits, not the size of the pool, pace rotations.
inline constexpr int kRotationWorkers = 16;

// The sweeper deletes token Secrets no generation owns at start, and again this long after the
// token grace period (defaults.token.grace), by when a token issued by a rotation that was cut
// short just before start has outlived its grace.
inline constexpr absl::Duration kSecondSweepMargin = absl::Seconds(5);

class Engine {
 public:
  // Starts it all on `broker` for `config` (its clusters' rotation limits, token defaults and
  // declared accounts). Scheduling errors are logged, not returned: kcredd serves without them.
  // `clock` and `broker` must outlive the Engine.
  Engine(Clock& clock, broker::Broker& broker, const config::Config& config);
  // Stop(), then destroys the parts in reverse order.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Stops the declared accounts' thread, the scheduler (waiting for rotations in progress), the
  // revoker and the orphan sweeper. Call Broker::Shutdown first for a stop that does not wait on
  // the clusters. Idempotent.
  void Stop();

  rotation::BrokerRotation& rotation() { return rotation_; }
  rotation::Scheduler& scheduler() { return scheduler_; }
  declared::DeclaredAccountsReconciler& declared() { return declared_; }
  const declared::DeclaredAccountsReconciler& declared() const { return declared_; }

 private:
  broker::Broker& broker_;
  std::optional<rotation::Revoker> revoker_;        // woken by rotation_; reset by Stop
  std::optional<rotation::OrphanSweeper> sweeper_;  // reset by Stop
  rotation::BrokerRotation rotation_;
  rotation::Scheduler scheduler_;
  declared::DeclaredAccountsReconciler declared_;
};

}  // namespace kcred::app
