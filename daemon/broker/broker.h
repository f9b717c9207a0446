#pragma once
// The broker: turns CredentialBroker requests into Kubernetes objects, tokens, store records and
// kubeconfigs. The gRPC service (daemon/server) validates nothing itself and calls in here.
//
// What kcred creates for account <cluster>/<ns>/<name> (see object_names.h):
//   ServiceAccount      <ns>/<name>                (not for token_only: that one must exist)
//   Role, RoleBinding   <ns>/<name>                (rules; role_ref binds with the RoleBinding)
//   ClusterRole,
//   ClusterRoleBinding  kcred:<ns>:<name>          (cluster scope; unique across namespaces)
//   Secret              <ns>/<name>-kcred-<g>      (one per live token generation g: the anchor
//                                                   of a bound token, or the legacy token Secret)
// Every one carries app.kubernetes.io/managed-by=kcred, kcred.io/cluster, kcred.io/namespace,
// kcred.io/account (values longer than 63 characters are shortened with a hash), the spec's labels
// and annotations, and the Secrets kcred.io/generation. Objects lacking managed-by=kcred, or
// labelled for another account, are never modified or deleted unless the spec says adopt.
//
// Namespaces: created only when the spec says create_namespace, labelled
// app.kubernetes.io/managed-by=kcred and kcred.io/created-for=<account>; they are never deleted by
// kcred (other workloads may live there by then), so DeleteAccount leaves them in place.
//
// Spec changes: rules, role_ref, scope, labels and annotations are reconciled by ProvisionAccount
// (a binding whose roleRef must change is deleted and re-created, since roleRef is immutable);
// the ServiceAccount and its valid token stay. A changed token mode rotates at once; a changed
// ttl, audiences, rotation point or grace takes effect with the next rotation.
//
// Adopted objects become kcred's: they are labelled, kept in line with the spec, and deleted with
// the account. A role named by role_ref and a token_only ServiceAccount are never modified or
// deleted. A new account whose provisioning fails part-way is rolled back; an existing one keeps
// what was done (labelled, so DeleteAccount finds it) and records the error in its status.
//
// Store: one record per account under accounts/<cluster>/<ns>/<name>
// (proto/kcred/v1/internal/records.proto): spec, status, the objects kcred manages, and every live
// token generation with its token sealed under the associated data
// "accounts/<cluster>/<ns>/<name>#generation=<g>". Writes are compare-and-swap on the record's
// revision. A rotation commits the new generation (current) before the previous one's Secret is
// deleted; superseded generations stay in the record, with their revoke time, until RevokeDue
// has deleted their Secrets, so revocations survive a restart.
//
// Origin: an account records where it is declared, ORIGIN_API (ProvisionAccount) or ORIGIN_CONFIG
// (the accounts: section of kcredd's configuration, applied by Provision with that origin). Neither
// side takes over the other's accounts (ownership.h): each is provisioned and deleted only by its
// own origin, and the API rotates a declared account only with a grace above zero. Records stored
// without an origin are API accounts.
//
// Admission (admission.h): every provision, and every RotateToken grace, is checked against the
// cluster's policy (clusters[].policy) before Kubernetes is touched, whoever asks.
//
// Clusters: the configured set can be replaced while the broker runs (UpdateClusters, on a config
// reload). Operations hold a shared reference to the handle they started with and finish with it;
// served kubeconfigs follow the new configuration at once. Accounts of a cluster that is no longer
// configured stay loaded (and in the store) but are not served, until the cluster comes back.
//
// Concurrency: operations on one account are serialized by a per-account mutex held across its
// Kubernetes calls; different accounts proceed in parallel. Reads (GetAccount, ListAccounts,
// GetKubeconfig, GetToken) take only short locks and are answered from memory. Lock order:
// an account's mu, then the cluster list's; the broker's account map, then an account's mu.

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/secret.h"
#include "daemon/broker/cluster_probes.h"
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

  // Creates or updates an account to match the request's spec (apply semantics; see the file
  // comment). A new account records `origin` (ORIGIN_API or ORIGIN_CONFIG); an existing one of the
  // other origin is FAILED_PRECONDITION. validate_only previews show the origin the call would
  // record. Other errors as documented on CredentialBroker.ProvisionAccount.
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
  // Makes one List call per account; meant for startup, after Restore. Returns how many Secrets
  // were deleted; failures on some accounts do not stop the others and are reported together.
  absl::StatusOr<int> SweepOrphans();

  // Receives account events (provisioned, updated, rotated, revoked, deleted, failed) as they
  // are committed, for WatchAccounts. Events carry the account (never a token) and no
  // resume_token (the watch hub numbers them). The listener is called synchronously, with the
  // account's operation lock held: it must return quickly and must not call Provision,
  // DeleteAccount, RotateToken, RevokeDue or SweepOrphans. Set it before serving; thread-safe.
  using EventListener = std::function<void(const v1::AccountEvent&)>;
  void SetEventListener(EventListener listener);

  // The rotation engine's next attempt after a failed rotation (InfinitePast once one succeeded):
  // the account's status.next_rotation_time shows it while it is later than the planned time.
  // Memory only; thread-safe.
  void NoteRotationRetry(const v1::AccountRef& ref, absl::Time at);

  // How many accounts are loaded, in all / of `cluster` (configured or not).
  size_t account_count() const;  // O(1)
  size_t account_count(const std::string& cluster) const;

 private:
  struct Served;
  struct AccountState;
  struct Reconcile;
  using AccountKey = std::tuple<std::string, std::string, std::string>;  // cluster, ns, name
  using StatePtr = std::shared_ptr<AccountState>;
  using ClusterPtr = std::shared_ptr<const ClusterHandle>;

  // The state of `key`, created when missing, with its operation mutex held by the caller
  // afterwards (see LockedAccount in broker.cc).
  StatePtr AcquireAccount(const AccountKey& key);
  void ReleaseAccount(const AccountKey& key, const StatePtr& state);
  StatePtr FindAccount(const AccountKey& key) const;

  // The current handle of a configured cluster; NOT_FOUND naming the known ones otherwise. The
  // caller keeps it for the whole operation.
  absl::StatusOr<ClusterPtr> FindCluster(const std::string& name) const;
  // The current handle, or null when `name` is not configured.
  ClusterPtr LookupCluster(const std::string& name) const;

  // Writes `record` for `key` expecting `state`'s last revision, and on success installs it (and
  // `served`, when given) in memory.
  absl::Status Commit(const AccountKey& key, AccountState& state,
                      internal::v1::AccountRecord record, std::optional<Served> served);

  // Issues token generation `generation` in `mode` for the account; the result is not committed.
  absl::StatusOr<internal::v1::GenerationRecord> IssueGeneration(
      const ClusterHandle& cluster, const AccountKey& key, const v1::AccountSpec& spec,
      int64_t generation, v1::TokenMode mode, SecretString* token);

  // Deletes the Secret of a superseded generation (NotFound and a changed uid count as done).
  absl::Status RevokeGeneration(const ClusterHandle& cluster, const AccountKey& key,
                                const internal::v1::GenerationRecord& generation);

  // The account as readers see it now (Ready false when its token has expired or its cluster is
  // not configured). Requires state.mu.
  v1::Account Observed(const AccountState& state) const;

  // A copy of the account's current credentials; NOT_FOUND or UNAVAILABLE (with the reason) when
  // there are none to serve. Memory only.
  absl::StatusOr<Served> CurrentCredentials(const v1::AccountRef& ref) const;

  // Builds the in-memory served credentials of the record's current generation.
  absl::StatusOr<Served> MakeServed(const ClusterHandle& cluster, const AccountKey& key,
                                    const internal::v1::GenerationRecord& generation,
                                    const SecretString& token) const;

  // The served credentials of a stored record (its current token opened from the store's sealed
  // copy), or nullopt with the reason in `unserved`. No Kubernetes call.
  std::optional<Served> OpenServed(const ClusterHandle& cluster, const AccountKey& key,
                                   const internal::v1::AccountRecord& record,
                                   std::string* unserved) const;

  // Renders `served`'s kubeconfig (its token, the cluster's server, CA and entry names); returns
  // false when it was already rendered so.
  static bool Render(const config::ClusterConfig& cluster, const AccountKey& key, Served& served);

  // Rotates within the account's lock; used by RotateToken and by Provision on a mode change.
  absl::Status RotateLocked(const ClusterHandle& cluster, const AccountKey& key,
                            AccountState& state, internal::v1::AccountRecord& record,
                            std::optional<absl::Duration> grace_override,
                            std::optional<Served>* served, int64_t* previous_generation,
                            absl::Time* previous_revoke_time);

  // Revokes the due generations of one account (lock held).
  absl::Status RevokeDueLocked(const ClusterHandle& cluster, const AccountKey& key,
                               AccountState& state);

  // Installs the stored record of `store_key` after a lost compare-and-swap.
  void ReloadAfterConflict(const std::string& store_key, AccountState& state);

  // Sets state.exists (state.mu held) and keeps existing_ in step.
  void SetExists(AccountState& state, bool exists);

  // Sends an event about the account as it now is in memory (`state` must exist, or be given
  // as `account` when it no longer does).
  void Emit(v1::EventType type, const AccountState& state, absl::string_view message);
  void EmitAccount(v1::EventType type, v1::Account account, absl::string_view message);

  // Records a failure on the account (last_error, Degraded) without changing anything else.
  void RecordFailure(const AccountKey& key, AccountState& state, const absl::Status& error);

  Clock& clock_;
  store::Store& store_;
  const store::Sealer& sealer_;
  const config::TokenDefaults defaults_;

  // Serializes UpdateClusters calls.
  absl::Mutex update_mu_;
  mutable absl::Mutex clusters_mu_;
  std::vector<ClusterPtr> clusters_ ABSL_GUARDED_BY(clusters_mu_);

  absl::Mutex listener_mu_;
  EventListener listener_ ABSL_GUARDED_BY(listener_mu_);

  mutable absl::Mutex mu_;
  std::map<AccountKey, StatePtr> accounts_ ABSL_GUARDED_BY(mu_);
  // How many of them exist (account_count() is read every few seconds for the STATUS line).
  std::atomic<size_t> existing_{0};

  // Reachability for ListClusters.
  ClusterProbes probes_;
};

}  // namespace kcred::broker
