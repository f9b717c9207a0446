#pragma once
// The kill test: many accounts with short tokens rotating on kcred-devcluster while kcredd is
// killed with SIGKILL, at random moments and at chosen ones (while the accounts are provisioned,
// during a burst of rotations, at a revocation, and right after READY while the start-up orphan
// sweep runs), and restarted at once. Observers run throughout: clients that poll GetToken and
// GetKubeconfig, a poller of ListAccounts, and a Kubernetes watch on kcred's Secrets. The final
// checks say whether kcred kept its crash-safety promises. One implementation for the short CI
// test (tests/integration/rotation) and the full benchmark (bench/kill-test).
//
// What is measured, precisely:
// - Expired served: a GetToken or GetKubeconfig answer whose expire_time, or whose token's exp
//   claim, is not after the moment the answer was received.
// - Generations: every (account, generation) kcredd exposes (status.generation, pending
//   revocations, GetToken and GetKubeconfig answers) is recorded with its token fingerprint. A
//   gap is a generation between 1 and the final one that was never observed, neither in an
//   answer nor as its anchor Secret's creation in the cluster watch; a conflict is a
//   generation seen with two fingerprints; a regression is a current generation lower than one
//   seen before for the same account.
// - Revocation lag of a generation: the local receipt time of the watch's DELETED event for its
//   anchor Secret minus the revoke_time kcredd recorded for it (status.pending_revocations, i.e.
//   the successor's commit time + grace; when no poll caught it pending, the successor's
//   issue_time + grace, which is never later). After the last restart: generations whose Secret was
//   deleted after kcredd's last start, measured from max(revoke_time, that start); a generation
//   still present `lag_bound` after that is overdue.
// - Orphans: labelled objects (app.kubernetes.io/managed-by=kcred) that no account lists in
//   status.managed_objects, older than grace + 6 s (the start-up sweep runs again grace + 5 s
//   after each start) when checked, once the last start is `settle` behind. `kcred doctor` must
//   agree: no drift left (asked up to ten times, as rotations keep going).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/kcred_env.h"

namespace kcred::testing {

struct KillTestOptions {
  int accounts = 200;
  int kills = 20;
  absl::Duration ttl = absl::Seconds(20);
  double rotate_fraction = 0.5;
  absl::Duration grace = absl::Seconds(1);
  // The span over which the kills after provisioning are spread.
  absl::Duration duration = absl::Seconds(30);
  // The largest revocation lag allowed after the last restart.
  absl::Duration lag_bound = absl::Seconds(5);
  uint32_t seed = 42;
  int provision_concurrency = 8;
  int pollers = 2;
};

// p50/p99/max of a set of durations.
struct LagStats {
  int count = 0;
  absl::Duration p50, p99, max;
};

struct KillTestReport {
  absl::Duration total, provisioning, settle;
  int kills = 0;
  std::map<std::string, int> kills_by_moment;  // "provisioning", "random", "rotation", ...
  absl::Duration slowest_restart;              // start to READY
  int accounts = 0;
  int accounts_lost = 0;       // absent from the final ListAccounts
  int provision_failures = 0;  // ProvisionAccount never succeeded
  int vanished = 0;            // NOT_FOUND for an account already provisioned
  int64_t served = 0;          // tokens and kubeconfigs received by the pollers
  int64_t unavailable = 0;     // calls refused or failed while kcredd was down
  int expired_served = 0;
  int generation_gaps = 0;
  int fingerprint_conflicts = 0;
  int generation_regressions = 0;
  int64_t generations_observed = 0;
  int orphans = 0;
  int doctor_findings = -1;  // of the last `kcred doctor`; -1 when its answer was not JSON
  int doctor_runs = 0;       // a finding still under way is asked again, up to 10 runs
  std::string doctor_last;   // the last answer with findings, cut short
  std::vector<std::string> orphan_examples;
  int token_review_failures = 0;
  LagStats lag_all, lag_after_last_restart;
  int revocations_overdue = 0;     // still present lag_bound after due, after the last start
  int deletions_unobserved = 0;    // gone, but the watch saw no DELETED (not a promise)
  int revoke_times_estimated = 0;  // no poll saw it pending: successor's issue time + grace
  absl::Duration lag_bound;

  // The promises broken, one line each; empty when every promise held.
  std::vector<std::string> Broken() const;
  // The report, several lines.
  std::string Format() const;
};

// A ProvisionAccount request for a rotating account: get and list on pods in its namespace
// (created when missing), tokens of `ttl` rotated at `fraction` of it.
v1::ProvisionAccountRequest RotatingAccountRequest(const v1::AccountRef& ref, absl::Duration ttl,
                                                   double fraction);
// Every account, a page of 1000 at a time; `status` is the first failure, if any.
std::vector<v1::Account> ListAllAccounts(v1::CredentialBroker::Stub& stub, grpc::Status& status);

// Runs the kill test in `env` (which must be fresh: it starts the cluster and kcredd).
KillTestReport RunKillTest(KcredEnv& env, const KillTestOptions& options);

}  // namespace kcred::testing
