#pragma once
// Declared accounts: the accounts listed under `accounts:` in kcredd's configuration, kept in step
// with the broker GitOps-style. Each declared account is provisioned (or reconciled to its spec)
// with origin ORIGIN_CONFIG at start and after every reload. An account that was declared and no
// longer is gets deprovisioned only when the configuration says `prune: true`; otherwise it is
// kept (and still rotated). Accounts provisioned through the API are never modified or pruned from
// here: declaring one is reported as a conflict.
//
// Passes run on the reconciler's own thread, so a slow or unreachable cluster never holds up start
// or reload. Declared accounts that failed (a cluster down at start, say) are retried with
// exponential backoff until they succeed or the next Apply replaces the declaration.

#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/broker/broker.h"
#include "daemon/config/config.h"

namespace kcred::declared {

// Checks every declared account as the broker would at provisioning (names, access, scope, token
// policy against its cluster's limits, labels), so that a configuration that cannot work is refused
// at start, by check-config and on reload. InvalidArgument naming the item's position and key path.
absl::Status ValidateDeclaredAccounts(const config::Config& config);

// What one pass did.
struct PassReport {
  int declared = 0;   // accounts in the configuration
  int created = 0;    // provisioned for the first time
  int updated = 0;    // brought back to their declared spec
  int unchanged = 0;  // already as declared
  int pruned = 0;     // no longer declared, deleted (prune: true)
  int kept = 0;       // no longer declared, kept (prune: false)
  // "cluster/namespace/name: what went wrong", for each account that failed in this pass.
  std::vector<std::string> failures;

  // "3 declared: 1 created, 2 unchanged, 1 pruned; 1 failed". Used in the log and sd_notify STATUS.
  std::string Summary() const;
};

struct ReconcilerOptions {
  absl::Duration min_retry = absl::Seconds(5);
  absl::Duration max_retry = absl::Minutes(5);
};

class DeclaredAccountsReconciler {
 public:
  // `clock` and `broker` must outlive the reconciler. Nothing runs before Start.
  DeclaredAccountsReconciler(Clock& clock, broker::Broker& broker, ReconcilerOptions options = {});
  // Stops the thread (waits for a pass in progress).
  ~DeclaredAccountsReconciler();
  DeclaredAccountsReconciler(const DeclaredAccountsReconciler&) = delete;
  DeclaredAccountsReconciler& operator=(const DeclaredAccountsReconciler&) = delete;

  // Starts the thread; the first pass runs once Apply has been called.
  void Start();
  void Stop();

  // Sets the declaration and asks for a full pass (every declared account, and pruning).
  // Thread-safe; returns at once.
  void Apply(config::DeclaredAccounts accounts);

  // One full pass over `accounts`, on the calling thread. The thread uses it; so can tests.
  PassReport Reconcile(const config::DeclaredAccounts& accounts);

  // The report of the last finished pass (nullopt before the first). Thread-safe.
  std::optional<PassReport> last_report() const;
  // How many passes have finished. Thread-safe.
  int passes() const;

 private:
  void Run();
  // Reconciles the declared accounts named in `only` (all when null).
  PassReport Pass(const config::DeclaredAccounts& accounts, const std::set<std::string>* only,
                  std::set<std::string>* failed);

  Clock& clock_;
  broker::Broker& broker_;
  const ReconcilerOptions options_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool full_pass_wanted_ ABSL_GUARDED_BY(mu_) = false;
  config::DeclaredAccounts accounts_ ABSL_GUARDED_BY(mu_);
  std::optional<PassReport> last_report_ ABSL_GUARDED_BY(mu_);
  int passes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace kcred::declared
