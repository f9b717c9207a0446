#pragma once
// The broker: turns CredentialBroker requests into Kubernetes objects, tokens, store records and
// kubeconfigs. The gRPC service (daemon/server) validates nothing itself and calls in here; so do
// the rotation engine and the declared-accounts reconciler. How it works is described in
// docs/ARCHITECTURE.md and, where each behaviour lives, in the file comments of its parts:
//   account_table.h       accounts in memory; the per-account operation lock (LockedAccount)
//   cluster_registry.h    the configured clusters, replaceable at run time (UpdateClusters)
//   account_records.h     store records: keys, status and conditions, origin, CAS commit
//   served_credentials.h  the kubeconfig and token each account serves from memory
//   kube_objects.h        the Kubernetes objects kcred makes (names: object_names.h)
//   reconcile.h           plan, apply and rollback of an account's objects (Provision)
//   token_issue.h         issue of one token generation (bound, legacy), revoke of one
//   revocation.h          RevokeDue and SweepOrphans
//   doctor.h              the drift check (Doctor) and its repairs
//   provisioning.cc, rotation.cc, deletion.cc, queries.cc: the operations of those names
// Checks at entry: validation.h (requests), admission.h (cluster policy), ownership.h (origin).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/cluster_probes.h"
#include "daemon/broker/cluster_registry.h"
#include "daemon/broker/doctor.h"
#include "daemon/broker/token_issue.h"
#include "daemon/config/config.h"
#include "daemon/kube/kube_client.h"
#include "daemon/store/sealer.h"
#include "daemon/store/store.h"
#include "proto/kcred/v1/broker.pb.h"
#include "proto/kcred/v1/internal/records.pb.h"

namespace kcred::broker {

// A configured cluster and the client kcredd talks to it with. The broker shares each handle with
// the operations using it, so a handle replaced by UpdateClusters, and its client, live until the
// last of them has finished. (A client the caller must keep alive itself can be passed through a
// shared_ptr that does not own it.)
struct ClusterHandle {
  ClusterHandle() = default;  // no client: UpdateClusters refuses it until one is set
  ClusterHandle(config::ClusterConfig config, std::shared_ptr<kube::KubeClient> client);

  config::ClusterConfig config;
  std::shared_ptr<kube::KubeClient> client;
};

class Broker {
 public:
  // All references must outlive the Broker. Cluster names must be unique (see UpdateClusters).
  Broker(Clock& clock, store::Store& store, const store::Sealer& sealer,
         std::vector<ClusterHandle> clusters, config::TokenDefaults defaults);
  ~Broker();

  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Loads every account and its current token from the store (no Kubernetes calls) and renders
  // the kubeconfigs. Call once, before serving. An account whose token cannot be opened is loaded
  // without one (GetKubeconfig is UNAVAILABLE and says why) and is reported in the log; records
  // of clusters no longer configured are kept but not served, until UpdateClusters adds them.
  absl::Status Restore();

  // Replaces the configured clusters (names unique: InvalidArgument otherwise, and nothing
  // changes). Every listed cluster takes its new handle; operations already running finish with
  // the handle they started with (handles are shared, never freed under them). Served kubeconfigs
  // of the accounts of a changed cluster are re-rendered at once (server URL, CA, entry names)
  // without touching Kubernetes or the tokens. Accounts of a removed cluster are kept but not
  // served (GetKubeconfig: UNAVAILABLE, the cluster is no longer configured); those of an added
  // cluster that were unserved for that reason have their stored token opened and are served
  // again. No Kubernetes call; thread-safe, also against running operations.
  absl::Status UpdateClusters(std::vector<ClusterHandle> clusters);

  // Creates or updates an account to match the request's spec (apply semantics; reconcile.h says
  // what is reconciled and rolled back). A new account records `origin` (ORIGIN_API or
  // ORIGIN_CONFIG); an existing one of the other origin is FAILED_PRECONDITION. validate_only
  // previews show the origin the call would record. Other errors as documented on
  // CredentialBroker.ProvisionAccount.
  absl::StatusOr<v1::ProvisionAccountResponse> Provision(const v1::ProvisionAccountRequest& request,
                                                         v1::Origin origin = v1::ORIGIN_API);

  // The account (never a token), also when its cluster is no longer configured (then Ready is
  // false, reason ClusterNotConfigured). NOT_FOUND when absent. From memory.
  absl::StatusOr<v1::Account> GetAccount(const v1::AccountRef& ref);

  // Which accounts a caller may see (cluster, namespace, name); an empty filter shows all.
  using AccountFilter =
      std::function<bool(const std::string&, const std::string&, const std::string&)>;

  // Accounts matching the selector (and `visible`, when given), ordered by cluster, namespace,
  // name; pages are filled with visible accounts only. From memory.
  absl::StatusOr<v1::ListAccountsResponse> ListAccounts(const v1::ListAccountsRequest& request,
                                                        const AccountFilter& visible = {});

  // Every account as ListAccounts shows it, all pages: for kcredd's own passes over all accounts.
  absl::StatusOr<std::vector<v1::Account>> AllAccounts();

  // Revokes every token of the account and deletes what kcred created for it, tolerating objects
  // already gone; retrying after a partial failure finishes the job. The store record goes last.
  // With ORIGIN_CONFIG (pruning by the configuration), an API account is FAILED_PRECONDITION.
  absl::StatusOr<v1::DeleteAccountResponse> DeleteAccount(const v1::DeleteAccountRequest& request,
                                                          v1::Origin origin = v1::ORIGIN_API);

  // Issues generation g+1, commits it as current, then revokes g after the grace period (at once
  // when it is zero). `requester` is ORIGIN_API for API callers (an account declared in the
  // configuration then needs a grace above zero, and the grace is capped by the cluster's policy),
  // ORIGIN_UNSPECIFIED for kcredd's rotation schedule (see ownership.h).
  absl::StatusOr<v1::RotateTokenResponse> RotateToken(const v1::RotateTokenRequest& request,
                                                      v1::Origin requester = v1::ORIGIN_API);

  // The current kubeconfig / token, from memory: no Kubernetes call, no store read. UNAVAILABLE
  // when the account has no valid token (expired, unreadable, being deleted, cluster no longer
  // configured).
  absl::StatusOr<v1::GetKubeconfigResponse> GetKubeconfig(const v1::AccountRef& ref);
  absl::StatusOr<v1::GetTokenResponse> GetToken(const v1::AccountRef& ref);

  // Every configured cluster with its reachability, probed with GET /version (short deadline;
  // a result of the last few seconds is reused, and concurrent calls share one probe).
  absl::StatusOr<v1::ListClustersResponse> ListClusters();

  // Revokes the previous generations whose grace has passed (deleting their Secrets, tolerating
  // NotFound) and records it. Returns when the next revocation is due (nullopt: none pending).
  // When some revocations fail, the others still happen and the error names the failures; the
  // failed ones stay pending.
  absl::StatusOr<std::optional<absl::Time>> RevokeDue();

  // Deletes the token Secrets of loaded accounts that no recorded generation owns (left by a
  // crash between issuing a token and committing it), once they are older than the grace period.
  // Makes one List call per namespace holding accounts; meant for startup, after Restore, on a
  // thread of its own (it holds one account's lock at a time, never delaying RevokeDue for
  // long). Returns how many Secrets were deleted; failures on some accounts do not stop the
  // others and are reported together; CANCELLED once Shutdown was called.
  absl::StatusOr<int> SweepOrphans();

  // Compares the store with each selected cluster (request.cluster, or all; namespace and name
  // narrow it) and, with request.fix, repairs what can be repaired (doctor.h says what and how).
  // Only what `access` lets the caller see is checked and reported; a repair it does not allow is
  // reported as not made. A cluster that cannot be listed is reported in its DoctorCluster;
  // NOT_FOUND for an unknown cluster; CANCELLED once Shutdown was called. Holds an account's
  // lock only while repairing it.
  absl::StatusOr<v1::DoctorResponse> Doctor(const v1::DoctorRequest& request,
                                            const DoctorAccess& access = {});

  // For kcredd's stop: RevokeDue, SweepOrphans and Doctor return CANCELLED before their next
  // account, and every cluster's client is cancelled (kube::KubeClient::Cancel), so calls in
  // progress and later ones end at once with CANCELLED whatever the cluster does. Irreversible;
  // thread-safe.
  void Shutdown();

  // Receives account events (provisioned, updated, rotated, revoked, deleted, failed) as they
  // are committed, for WatchAccounts. Events carry the account (never a token) and no
  // resume_token (the watch hub numbers them). The listener is called synchronously, with the
  // account's operation lock held: it must return quickly and must not call Provision,
  // DeleteAccount, RotateToken, RevokeDue or SweepOrphans. Set it before serving; thread-safe.
  using EventListener = std::function<void(const v1::AccountEvent&)>;
  void SetEventListener(EventListener listener);

  // When the rotation engine will next rotate an account's token: its plan with the schedule's
  // jitter (or its retry after a failure), nullopt for an account it does not know. GetToken
  // reports this time rather than the unjittered plan, which a rotation may precede by up to a
  // tenth of the token's remaining lifetime: a client told the later time would keep the old
  // token past a short grace. Set before serving; cleared (nullptr) before the planner goes away,
  // which waits for calls in progress. Thread-safe.
  using RotationPlanner = std::function<std::optional<absl::Time>(const v1::AccountRef&)>;
  void SetRotationPlanner(RotationPlanner planner);

  // The rotation engine's next attempt after a failed rotation (InfinitePast once one succeeded):
  // the account's status.next_rotation_time shows it while it is later than the planned time.
  // Memory only; thread-safe.
  void NoteRotationRetry(const v1::AccountRef& ref, absl::Time at);

  // How many accounts are loaded, in all / of `cluster` (configured or not).
  size_t account_count() const;  // O(1)
  size_t account_count(const std::string& cluster) const;

 private:
  // Writes `record` for the locked account, expecting the revision it was read at
  // (compare-and-swap), and on success installs it (and `served`, when given, rendered for the
  // cluster as configured now) in memory. ABORTED after a lost race, with the stored version
  // reloaded. In account_records.cc, like the two below.
  absl::Status Commit(LockedAccount& account, internal::v1::AccountRecord record,
                      std::optional<Served> served);
  // Installs the stored record after a lost compare-and-swap.
  void ReloadAfterConflict(LockedAccount& account);
  // Records a failure on the account (last_error, Degraded) without changing anything else.
  void RecordFailure(LockedAccount& account, const absl::Status& error);

  // Rotates within the account's lock; used by RotateToken and by Provision on a mode change.
  // `record` is the account as read under the lock, and as committed on return.
  absl::Status RotateLocked(const ClusterHandle& cluster, LockedAccount& account,
                            internal::v1::AccountRecord& record,
                            std::optional<absl::Duration> grace_override,
                            int64_t* previous_generation, absl::Time* previous_revoke_time);

  // Revokes the due generations of the locked account (revocation.cc).
  absl::Status RevokeDueLocked(const ClusterHandle& cluster, LockedAccount& account);
  // Deletes the orphans among `secrets` (listed for the account's namespace, labelled for the
  // account) under the account's lock, counting them in `deleted` (revocation.cc).
  absl::Status SweepAccountLocked(const ClusterHandle& cluster, const AccountKey& key,
                                  const std::vector<const nlohmann::json*>& secrets, int& deleted);
  // The drift check of one cluster / one account, appending to `response` (doctor.cc).
  absl::Status DoctorCluster(const ClusterHandle& cluster, const v1::DoctorRequest& request,
                             const DoctorAccess& access, v1::DoctorResponse& response);
  void DoctorAccount(const ClusterHandle& cluster, const AccountKey& key,
                     const internal::v1::AccountRecord& record, bool fix,
                     const DoctorAccess& access, v1::DoctorCluster& report,
                     v1::DoctorResponse& response);
  // Repairs of one finding kind under the account's lock (doctor.cc).
  absl::Status RotateDeadToken(const ClusterHandle& cluster, const AccountKey& key,
                               int64_t generation);
  absl::Status RevokeOverdue(const ClusterHandle& cluster, const AccountKey& key);
  absl::Status DeleteOrphan(const ClusterHandle& cluster, kube::Resource resource,
                            const nlohmann::json& object, const AccountKey& key);

  // CANCELLED for a sweep cut short by Shutdown.
  absl::Status StoppedSweeping(int deleted) const;

  // A copy of the account's current credentials; NOT_FOUND or UNAVAILABLE (with the reason) when
  // there are none to serve. Memory only.
  // `spec`, when not null, receives the account's spec.
  absl::StatusOr<Served> CurrentCredentials(const v1::AccountRef& ref,
                                            v1::AccountSpec* spec = nullptr) const;

  // Sends an event about the account as it now is in memory (`state` must exist, or be given
  // as `account` when it no longer does).
  void Emit(v1::EventType type, const AccountState& state, absl::string_view message);
  void EmitAccount(v1::EventType type, v1::Account account, absl::string_view message);

  Clock& clock_;
  store::Store& store_;
  const store::Sealer& sealer_;
  const config::TokenDefaults defaults_;
  const TokenIssuer issuer_;

  ClusterRegistry clusters_;
  // Serializes UpdateClusters calls.
  absl::Mutex update_mu_;

  AccountTable accounts_;

  absl::Mutex listener_mu_;
  EventListener listener_ ABSL_GUARDED_BY(listener_mu_);

  absl::Mutex planner_mu_;
  RotationPlanner planner_ ABSL_GUARDED_BY(planner_mu_);

  // Reachability for ListClusters.
  ClusterProbes probes_;

  std::atomic<bool> stopping_{false};  // set by Shutdown
};

}  // namespace kcred::broker
