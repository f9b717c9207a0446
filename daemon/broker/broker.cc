#include "daemon/broker/broker.h"

#include <algorithm>
#include <functional>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/kubeconfig.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/uuid.h"
#include "daemon/broker/account_selector.h"
#include "daemon/broker/admission.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/ownership.h"
#include "daemon/broker/validation.h"
#include "daemon/kube/kube_status.h"
#include "google/protobuf/util/message_differencer.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::GenerationRecord;
using internal::v1::ManagedObject;
using kube::Resource;
using nlohmann::json;

namespace {

constexpr char kKeyPrefix[] = "accounts/";
constexpr char kPageTokenMagic[] = "kcred.v1.accounts.page";
constexpr char kLegacyTokenType[] = "kubernetes.io/service-account-token";
constexpr char kServiceAccountNameAnnotation[] = "kubernetes.io/service-account.name";
constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Deadline of one Kubernetes call (the client retries within it).
constexpr absl::Duration kKubeCallTimeout = absl::Seconds(30);
constexpr absl::Duration kProbeTimeout = absl::Seconds(3);
// How long a cluster's reachability is answered from the last probe.
constexpr absl::Duration kProbeFreshFor = absl::Seconds(2);
constexpr absl::Duration kLegacyPollInterval = absl::Milliseconds(500);

std::string RefString(absl::string_view cluster, absl::string_view ns, absl::string_view name) {
  return absl::StrCat(cluster, "/", ns, "/", name);
}

std::string StoreKey(absl::string_view cluster, absl::string_view ns, absl::string_view name) {
  return absl::StrCat(kKeyPrefix, cluster, "/", ns, "/", name);
}

std::string SealingContext(absl::string_view store_key, int64_t generation) {
  return absl::StrCat(store_key, "#generation=", generation);
}

std::string KindOf(Resource resource) { return std::string(kube::Describe(resource).kind); }

absl::StatusOr<Resource> ResourceOfKind(absl::string_view kind) {
  for (Resource r :
       {Resource::kNamespace, Resource::kServiceAccount, Resource::kSecret, Resource::kRole,
        Resource::kClusterRole, Resource::kRoleBinding, Resource::kClusterRoleBinding}) {
    if (kube::Describe(r).kind == kind) return r;
  }
  return absl::DataLossError(absl::StrCat("stored record names unknown kind \"", kind, "\""));
}

// Why the accounts of a cluster missing from the configuration are not served.
std::string ClusterGoneReason(absl::string_view cluster) {
  return absl::StrCat("cluster \"", cluster,
                      "\" is no longer configured; add it back to kcredd's configuration to serve "
                      "the account again");
}

std::string ObjectString(Resource resource, absl::string_view ns, absl::string_view name) {
  if (ns.empty()) return absl::StrCat(KindOf(resource), " ", name);
  return absl::StrCat(KindOf(resource), " ", ns, "/", name);
}

// Keeps the Kubernetes error's code, prefixed with what kcred was doing.
absl::Status Wrap(const absl::Status& status, absl::string_view doing) {
  if (status.ok()) return status;
  absl::Status wrapped(status.code(), absl::StrCat(doing, ": ", status.message()));
  // Keep the payloads, e.g. the server's reason (kube::KubeReason).
  status.ForEachPayload([&wrapped](absl::string_view type_url, const absl::Cord& payload) {
    wrapped.SetPayload(type_url, payload);
  });
  return wrapped;
}

std::string MetaString(const json& object, const char* key) {
  if (!object.is_object() || !object.contains("metadata")) return "";
  const json& metadata = object["metadata"];
  if (!metadata.is_object() || !metadata.contains(key) || !metadata[key].is_string()) return "";
  return metadata[key].get<std::string>();
}

json RulesJson(const v1::RuleSet& rules) {
  json out = json::array();
  for (const v1::PolicyRule& rule : rules.rules()) {
    json r = json::object();
    auto list = [](const google::protobuf::RepeatedPtrField<std::string>& items) {
      return json(std::vector<std::string>(items.begin(), items.end()));
    };
    r["verbs"] = list(rule.verbs());
    if (!rule.resources().empty()) {
      r["apiGroups"] =
          rule.api_groups().empty() ? json(std::vector<std::string>{""}) : list(rule.api_groups());
      r["resources"] = list(rule.resources());
      if (!rule.resource_names().empty()) r["resourceNames"] = list(rule.resource_names());
    } else {
      r["nonResourceURLs"] = list(rule.non_resource_urls());
    }
    out.push_back(std::move(r));
  }
  return out;
}

v1::ObjectReference MakeRef(Resource resource, const std::string& ns, const std::string& name,
                            const std::string& uid) {
  v1::ObjectReference ref;
  ref.set_api_version(kube::ApiVersion(resource));
  ref.set_kind(KindOf(resource));
  ref.set_namespace_(ns);
  ref.set_name(name);
  ref.set_uid(uid);
  return ref;
}

// What a ProvisionAccount plans to do to one object.
struct Step {
  enum class Action { kKeep, kCreate, kUpdate, kAdopt, kRecreate, kDelete };
  Action action = Action::kKeep;
  Resource resource = Resource::kServiceAccount;
  std::string ns;
  std::string name;
  json object;          // the object to create or the updated object to write
  std::string uid;      // of the existing object
  bool managed = true;  // recorded in the account's objects (false for token_only's SA)
};

}  // namespace

struct Broker::Served {
  SecretString token;
  int64_t generation = 0;
  std::string fingerprint;
  absl::Time issue_time;
  absl::Time expire_time = absl::InfiniteFuture();
  absl::Time next_rotation_time;
  SecretString kubeconfig;  // holds the token
  KubeconfigEntry entry;    // names, server and CA; the token field is left empty
};

struct Broker::AccountState {
  // Held for the whole of an operation that changes the account (Kubernetes calls included).
  absl::Mutex op_mu;
  // Guards the fields below; held only briefly.
  mutable absl::Mutex mu;
  bool exists ABSL_GUARDED_BY(mu) = false;
  AccountRecord record ABSL_GUARDED_BY(mu);
  store::Revision revision ABSL_GUARDED_BY(mu) = 0;
  std::optional<Served> served ABSL_GUARDED_BY(mu);
  std::string unserved_reason ABSL_GUARDED_BY(mu);
  // Unserved because its cluster is not configured (since then); served again when the cluster
  // comes back.
  bool cluster_missing ABSL_GUARDED_BY(mu) = false;
  absl::Time cluster_missing_since ABSL_GUARDED_BY(mu);
  // When the rotation engine tries again after a failed rotation (InfinitePast: no retry pending).
  absl::Time retry_time ABSL_GUARDED_BY(mu) = absl::InfinitePast();
};

namespace {

// Runs a function when the scope ends (releases an account's operation mutex).
class ScopeExit {
 public:
  explicit ScopeExit(std::function<void()> fn) : fn_(std::move(fn)) {}
  ~ScopeExit() { fn_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  std::function<void()> fn_;
};

}  // namespace

ClusterHandle::ClusterHandle(config::ClusterConfig config, std::shared_ptr<kube::KubeClient> client)
    : config(std::move(config)), client(std::move(client)) {}

Broker::Broker(Clock& clock, store::Store& store, const store::Sealer& sealer,
               std::vector<ClusterHandle> clusters, config::TokenDefaults defaults)
    : clock_(clock),
      store_(store),
      sealer_(sealer),
      defaults_(defaults),
      probes_(clock, kProbeTimeout, kProbeFreshFor) {
  for (ClusterHandle& cluster : clusters) {
    clusters_.push_back(std::make_shared<const ClusterHandle>(std::move(cluster)));
  }
}

Broker::~Broker() = default;

Broker::StatePtr Broker::AcquireAccount(const AccountKey& key) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (;;) {
    StatePtr state;
    {
      absl::MutexLock lock(&mu_);
      StatePtr& slot = accounts_[key];
      if (slot == nullptr) slot = std::make_shared<AccountState>();
      state = slot;
    }
    state->op_mu.Lock();
    {
      absl::MutexLock lock(&mu_);
      auto it = accounts_.find(key);
      if (it != accounts_.end() && it->second == state) return state;
    }
    // The account was removed while we waited: start over with the current state.
    state->op_mu.Unlock();
  }
}

void Broker::ReleaseAccount(const AccountKey& key,
                            const StatePtr& state) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  bool exists;
  {
    absl::MutexLock lock(&state->mu);
    exists = state->exists;
  }
  if (!exists) {
    absl::MutexLock lock(&mu_);
    auto it = accounts_.find(key);
    if (it != accounts_.end() && it->second == state) accounts_.erase(it);
  }
  state->op_mu.Unlock();
}

Broker::StatePtr Broker::FindAccount(const AccountKey& key) const {
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(key);
  return it == accounts_.end() ? nullptr : it->second;
}

Broker::ClusterPtr Broker::LookupCluster(const std::string& name) const {
  absl::MutexLock lock(&clusters_mu_);
  for (const ClusterPtr& cluster : clusters_) {
    if (cluster->config.name == name) return cluster;
  }
  return nullptr;
}

absl::StatusOr<Broker::ClusterPtr> Broker::FindCluster(const std::string& name) const {
  if (name.empty()) {
    return absl::InvalidArgumentError("ref.cluster: required: the cluster ID from kcredd's config");
  }
  std::vector<std::string> known;
  {
    absl::MutexLock lock(&clusters_mu_);
    for (const ClusterPtr& cluster : clusters_) {
      if (cluster->config.name == name) return cluster;
      known.push_back(cluster->config.name);
    }
  }
  return absl::NotFoundError(
      absl::StrCat("cluster \"", name, "\" is not configured; known clusters: ",
                   known.empty() ? std::string("(none)") : absl::StrJoin(known, ", ")));
}

size_t Broker::account_count() const { return existing_.load(); }

// Called with state.mu held (AccountState is private to this file, so the header cannot say so).
void Broker::SetExists(AccountState& state, bool exists) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (state.exists == exists) return;
  state.exists = exists;
  if (exists) {
    existing_.fetch_add(1);
  } else {
    existing_.fetch_sub(1);
  }
}

size_t Broker::account_count(const std::string& cluster) const {
  absl::MutexLock lock(&mu_);
  size_t count = 0;
  for (auto it = accounts_.lower_bound(AccountKey{cluster, "", ""});
       it != accounts_.end() && std::get<0>(it->first) == cluster; ++it) {
    absl::MutexLock state_lock(&it->second->mu);
    if (it->second->exists) ++count;
  }
  return count;
}

// ----- clusters ------------------------------------------------------------------------------

namespace {

std::string ListOrNone(const std::vector<std::string>& names) {
  return names.empty() ? std::string("none") : absl::StrJoin(names, ", ");
}

}  // namespace

absl::Status Broker::UpdateClusters(std::vector<ClusterHandle> clusters) {
  std::map<std::string, ClusterPtr> fresh;
  std::vector<ClusterPtr> ordered;
  for (ClusterHandle& cluster : clusters) {
    const std::string name = cluster.config.name;
    if (name.empty() || cluster.client == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cluster \"", name, "\": a cluster needs a name and a client; nothing was changed"));
    }
    auto handle = std::make_shared<const ClusterHandle>(std::move(cluster));
    if (!fresh.emplace(name, handle).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster \"", name,
                       "\" is listed twice; cluster names must be unique; nothing was changed"));
    }
    ordered.push_back(std::move(handle));
  }

  absl::MutexLock update(&update_mu_);
  // The previous handles stay referenced until this call returns, so that none is destroyed
  // (with its client) while a lock is held; running operations hold their own references.
  std::vector<ClusterPtr> previous;
  {
    absl::MutexLock lock(&clusters_mu_);
    previous = std::move(clusters_);
    clusters_ = std::move(ordered);
  }
  std::vector<std::string> added, changed, removed;
  std::set<std::string> previous_names;
  for (const ClusterPtr& old : previous) {
    previous_names.insert(old->config.name);
    auto it = fresh.find(old->config.name);
    if (it == fresh.end()) {
      removed.push_back(old->config.name);
    } else if (old->config != it->second->config) {
      changed.push_back(old->config.name);
    }
  }
  for (const auto& [name, handle] : fresh) {
    if (previous_names.count(name) == 0) added.push_back(name);
  }

  // Then the accounts, each under its short lock (never its operation lock: an operation may be
  // in a long Kubernetes call). Commit looks the cluster up again under the same lock, so an
  // operation that finishes after this pass installs credentials rendered for the new set.
  std::vector<std::pair<AccountKey, StatePtr>> accounts;
  {
    absl::MutexLock lock(&mu_);
    accounts.assign(accounts_.begin(), accounts_.end());
  }
  size_t rerendered = 0, unserved = 0, served_again = 0;
  auto log = Logger("broker");
  for (const auto& [key, state] : accounts) {
    const std::string& cluster_name = std::get<0>(key);
    auto it = fresh.find(cluster_name);
    absl::MutexLock lock(&state->mu);
    if (!state->exists) continue;
    if (it == fresh.end()) {
      if (state->cluster_missing) continue;
      state->served.reset();
      state->cluster_missing = true;
      state->cluster_missing_since = clock_.Now();
      state->unserved_reason = ClusterGoneReason(cluster_name);
      ++unserved;
      continue;
    }
    if (state->cluster_missing) {
      // Its token was never opened, or was dropped with the cluster: open the stored one.
      std::string reason;
      state->served = OpenServed(*it->second, key, state->record, &reason);
      state->unserved_reason = reason;
      state->cluster_missing = false;
      if (state->served.has_value()) {
        ++served_again;
      } else {
        log->warn(
            "account {}: cluster \"{}\" is configured again, but the account is not served: {}",
            RefString(cluster_name, std::get<1>(key), std::get<2>(key)), cluster_name, reason);
      }
      continue;
    }
    if (state->served.has_value() && Render(it->second->config, key, *state->served)) {
      ++rerendered;
    }
  }
  log->info(
      "clusters updated: added {}; changed {}; removed {}. Accounts: {} kubeconfigs re-rendered, "
      "{} no longer served, {} served again",
      ListOrNone(added), ListOrNone(changed), ListOrNone(removed), rerendered, unserved,
      served_again);
  return absl::OkStatus();
}

// ----- status and commit ---------------------------------------------------------------------

namespace {

const GenerationRecord* CurrentGeneration(const AccountRecord& record) {
  for (const GenerationRecord& g : record.generations()) {
    if (!g.has_revoke_time()) return &g;
  }
  return nullptr;
}

// Records written before accounts had an origin were all provisioned through the API.
void NormalizeOrigin(AccountRecord& record) {
  if (record.account().origin() == v1::ORIGIN_UNSPECIFIED) {
    record.mutable_account()->set_origin(v1::ORIGIN_API);
  }
}

void SetCondition(v1::AccountStatus& status, const v1::AccountStatus& previous,
                  v1::ConditionType type, bool holds, absl::string_view reason,
                  absl::string_view message, absl::Time now) {
  v1::Condition* condition = status.add_conditions();
  condition->set_type(type);
  condition->set_status(holds ? v1::CONDITION_STATUS_TRUE : v1::CONDITION_STATUS_FALSE);
  condition->set_reason(std::string(reason));
  condition->set_message(std::string(message));
  *condition->mutable_last_transition_time() = ToProto(now);
  for (const v1::Condition& old : previous.conditions()) {
    if (old.type() == type && old.status() == condition->status()) {
      *condition->mutable_last_transition_time() = old.last_transition_time();
    }
  }
}

// Recomputes the derived parts of record.account (status, etag) after a change.
void RefreshStatus(AccountRecord& record, const TokenPolicy& policy, absl::Time now) {
  v1::Account& account = *record.mutable_account();
  const v1::AccountStatus previous = account.status();
  v1::AccountStatus& status = *account.mutable_status();
  status.clear_generation();
  status.clear_token_fingerprint();
  status.clear_issue_time();
  status.clear_expire_time();
  status.clear_next_rotation_time();
  status.clear_conditions();
  status.clear_managed_objects();
  status.clear_pending_revocations();
  const GenerationRecord* current = CurrentGeneration(record);
  if (current != nullptr) {
    status.set_generation(current->generation());
    status.set_token_fingerprint(current->token_fingerprint());
    *status.mutable_issue_time() = current->issue_time();
    absl::Time expire = absl::InfiniteFuture();
    if (current->has_expire_time()) {
      *status.mutable_expire_time() = current->expire_time();
      expire = FromProto(current->expire_time());
    }
    *status.mutable_next_rotation_time() =
        ToProto(NextRotationTime(policy, FromProto(current->issue_time()), expire));
  }
  const std::string& ns = account.ref().namespace_();
  for (const ManagedObject& object : record.objects()) {
    absl::StatusOr<Resource> resource = ResourceOfKind(object.kind());
    if (!resource.ok()) continue;
    *status.add_managed_objects() =
        MakeRef(*resource, object.namespace_(), object.name(), object.uid());
  }
  for (const GenerationRecord& g : record.generations()) {
    *status.add_managed_objects() = MakeRef(Resource::kSecret, ns, g.secret_name(), g.secret_uid());
    if (g.has_revoke_time()) {
      v1::PendingRevocation* pending = status.add_pending_revocations();
      pending->set_generation(g.generation());
      pending->set_token_fingerprint(g.token_fingerprint());
      *pending->mutable_revoke_time() = g.revoke_time();
    }
  }
  const bool failed = !status.last_error().empty();
  const bool token_valid = current != nullptr &&
                           (!current->has_expire_time() || FromProto(current->expire_time()) > now);
  if (record.deleting()) {
    SetCondition(status, previous, v1::CONDITION_TYPE_READY, false, "Deleting",
                 "DeleteAccount has started; call it again to finish", now);
  } else if (token_valid && !failed) {
    SetCondition(status, previous, v1::CONDITION_TYPE_READY, true, "Provisioned",
                 absl::StrCat("generation ", current->generation(), " is current"), now);
  } else {
    SetCondition(status, previous, v1::CONDITION_TYPE_READY, false,
                 token_valid ? "Degraded" : "NoValidToken",
                 failed ? status.last_error() : "no valid token", now);
  }
  SetCondition(status, previous, v1::CONDITION_TYPE_DEGRADED, failed,
               failed ? "OperationFailed" : "AsExpected", failed ? status.last_error() : "", now);
  record.set_sequence(record.sequence() + 1);
  account.set_etag(absl::StrCat(account.uid().substr(0, 8), "-", record.sequence()));
}

}  // namespace

absl::Status Broker::Commit(const AccountKey& key, AccountState& state, AccountRecord record,
                            std::optional<Served> served) {
  const std::string& cluster_name = std::get<0>(key);
  const std::string& ns = std::get<1>(key);
  const std::string& name = std::get<2>(key);
  absl::StatusOr<ClusterPtr> cluster = FindCluster(cluster_name);
  const config::ClusterConfig fallback;
  TokenPolicy policy = ResolvePolicy(record.account().spec(),
                                     cluster.ok() ? (*cluster)->config : fallback, defaults_);
  RefreshStatus(record, policy, clock_.Now());
  if (served.has_value()) {
    served->next_rotation_time = FromProto(record.account().status().next_rotation_time());
  }
  std::string bytes;
  if (!record.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat("serializing the record of account ", RefString(cluster_name, ns, name)));
  }
  bool exists;
  store::Revision revision;
  {
    absl::MutexLock lock(&state.mu);
    exists = state.exists;
    revision = state.revision;
  }
  const std::string store_key = StoreKey(cluster_name, ns, name);
  absl::StatusOr<store::Revision> written = store_.Put(
      store_key, bytes,
      exists ? store::Precondition::ModRevision(revision) : store::Precondition::Absent());
  if (absl::IsAborted(written.status())) {
    // Someone else wrote the record (another kcredd on the same store?). Take the stored
    // version, so that a retry starts from it instead of failing the same way forever.
    ReloadAfterConflict(store_key, state);
    return absl::AbortedError(
        absl::StrCat("account ", RefString(cluster_name, ns, name),
                     " was changed in the store by another writer while kcredd worked on it (",
                     written.status().message(), "); kcredd reloaded it: retry the call"));
  }
  if (!written.ok()) {
    return Wrap(written.status(), absl::StrCat("saving account ", RefString(cluster_name, ns, name),
                                               " in the store"));
  }
  absl::MutexLock lock(&state.mu);
  SetExists(state, true);
  state.revision = *written;
  state.record = std::move(record);
  if (served.has_value()) {
    // Rendered with the handle the operation started with; the cluster may have been changed or
    // removed since (UpdateClusters re-renders what is installed, so look again under the lock).
    const ClusterPtr now = LookupCluster(cluster_name);
    if (now == nullptr) {
      state.served.reset();
      if (!state.cluster_missing) state.cluster_missing_since = clock_.Now();
      state.cluster_missing = true;
      state.unserved_reason = ClusterGoneReason(cluster_name);
    } else {
      Render(now->config, key, *served);
      state.served = std::move(served);
      state.unserved_reason.clear();
      state.cluster_missing = false;
    }
  } else if (state.served.has_value()) {
    state.served->next_rotation_time =
        FromProto(state.record.account().status().next_rotation_time());
  }
  if (state.record.deleting()) {
    state.served.reset();
    state.unserved_reason = "the account is being deleted";
  }
  return absl::OkStatus();
}

void Broker::ReloadAfterConflict(const std::string& store_key, AccountState& state) {
  absl::StatusOr<store::KeyValue> stored = store_.Get(store_key);
  AccountRecord record;
  absl::MutexLock lock(&state.mu);
  if (!stored.ok() || !record.ParseFromString(stored->value)) {
    // Gone (or unreadable): serve nothing rather than a token the store no longer vouches for.
    SetExists(state, false);
    state.revision = 0;
    state.record.Clear();
    state.served.reset();
    state.unserved_reason = "the account's store record was removed by another writer";
    return;
  }
  NormalizeOrigin(record);
  const GenerationRecord* current = CurrentGeneration(record);
  if (state.served.has_value() &&
      (current == nullptr || current->generation() != state.served->generation)) {
    state.served.reset();
    state.unserved_reason =
        "another writer changed the account's token in the store; rotate it to serve again";
  }
  SetExists(state, true);
  state.revision = stored->mod_revision;
  state.record = std::move(record);
}

void Broker::SetEventListener(EventListener listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void Broker::EmitAccount(v1::EventType type, v1::Account account, absl::string_view message) {
  absl::MutexLock lock(&listener_mu_);
  if (!listener_) return;
  v1::AccountEvent event;
  event.set_type(type);
  *event.mutable_account() = std::move(account);
  *event.mutable_time() = ToProto(clock_.Now());
  event.set_message(std::string(message));
  listener_(event);
}

void Broker::Emit(v1::EventType type, const AccountState& state, absl::string_view message) {
  v1::Account account;
  {
    absl::MutexLock lock(&state.mu);
    account = state.record.account();
  }
  EmitAccount(type, std::move(account), message);
}

void Broker::RecordFailure(const AccountKey& key, AccountState& state, const absl::Status& error) {
  AccountRecord record;
  {
    absl::MutexLock lock(&state.mu);
    if (!state.exists) return;
    record = state.record;
  }
  v1::AccountStatus& status = *record.mutable_account()->mutable_status();
  status.set_last_error(std::string(error.message()));
  *status.mutable_last_error_time() = ToProto(clock_.Now());
  absl::Status saved = Commit(key, state, std::move(record), std::nullopt);
  if (!saved.ok()) {
    Logger("broker")->warn("account {}: recording a failure: {}",
                           RefString(std::get<0>(key), std::get<1>(key), std::get<2>(key)),
                           saved.message());
  }
  Emit(v1::EVENT_TYPE_FAILED, state, error.message());
}

absl::StatusOr<Broker::Served> Broker::MakeServed(const ClusterHandle& cluster,
                                                  const AccountKey& key,
                                                  const GenerationRecord& generation,
                                                  const SecretString& token) const {
  Served served;
  served.token = token;
  served.generation = generation.generation();
  served.fingerprint = generation.token_fingerprint();
  served.issue_time = FromProto(generation.issue_time());
  if (generation.has_expire_time()) served.expire_time = FromProto(generation.expire_time());
  Render(cluster.config, key, served);
  return served;
}

bool Broker::Render(const config::ClusterConfig& cluster, const AccountKey& key, Served& served) {
  const std::string& cluster_name = std::get<0>(key);
  const std::string& ns = std::get<1>(key);
  const std::string& name = std::get<2>(key);
  KubeconfigEntry entry;
  entry.cluster_name = ExpandNameTemplate(cluster.cluster_name_template, cluster_name, ns, name);
  entry.context_name = ExpandNameTemplate(cluster.context_name_template, cluster_name, ns, name);
  entry.user_name = entry.context_name;
  entry.server = cluster.server;
  entry.ca_pem = cluster.ca_pem;
  entry.namespace_name = ns;
  const KubeconfigEntry& old = served.entry;
  if (!served.kubeconfig.empty() && old.cluster_name == entry.cluster_name &&
      old.context_name == entry.context_name && old.user_name == entry.user_name &&
      old.server == entry.server && old.ca_pem == entry.ca_pem &&
      old.namespace_name == entry.namespace_name) {
    return false;
  }
  entry.token = served.token.Reveal();
  served.kubeconfig = SecretString(RenderKubeconfig(entry));
  entry.token.clear();
  served.entry = std::move(entry);
  return true;
}

std::optional<Broker::Served> Broker::OpenServed(const ClusterHandle& cluster,
                                                 const AccountKey& key, const AccountRecord& record,
                                                 std::string* unserved) const {
  const GenerationRecord* current = CurrentGeneration(record);
  if (record.deleting()) {
    *unserved = "the account is being deleted";
    return std::nullopt;
  }
  if (current == nullptr) {
    *unserved = "the account has no token yet";
    return std::nullopt;
  }
  const std::string store_key = StoreKey(std::get<0>(key), std::get<1>(key), std::get<2>(key));
  absl::StatusOr<SecretString> token =
      sealer_.Open(current->sealed_token(), SealingContext(store_key, current->generation()));
  if (!token.ok()) {
    *unserved = absl::StrCat("the stored token of generation ", current->generation(),
                             " cannot be opened (", token.status().message(),
                             "); rotate the account's token");
    return std::nullopt;
  }
  absl::StatusOr<Served> made = MakeServed(cluster, key, *current, *token);
  if (!made.ok()) {
    *unserved = std::string(made.status().message());
    return std::nullopt;
  }
  made->next_rotation_time = FromProto(record.account().status().next_rotation_time());
  return *std::move(made);
}

// ----- restore -------------------------------------------------------------------------------

absl::Status Broker::Restore() {
  auto log = Logger("broker");
  std::string start_after;
  size_t loaded = 0;
  for (;;) {
    store::ListOptions options;
    options.prefix = kKeyPrefix;
    options.start_after = start_after;
    options.limit = 500;
    KCRED_ASSIGN_OR_RETURN(store::ListResult page, store_.List(options));
    for (const store::KeyValue& item : page.items) {
      AccountRecord record;
      if (!record.ParseFromString(item.value)) {
        return absl::DataLossError(absl::StrCat("store record \"", item.key,
                                                "\" is not an account record; restore the store "
                                                "from a backup or delete the key"));
      }
      const v1::AccountRef& ref = record.account().ref();
      AccountKey key{ref.cluster(), ref.namespace_(), ref.name()};
      if (item.key != StoreKey(ref.cluster(), ref.namespace_(), ref.name())) {
        return absl::DataLossError(absl::StrCat(
            "store record \"", item.key, "\" names account ",
            RefString(ref.cluster(), ref.namespace_(), ref.name()), "; the store is inconsistent"));
      }
      NormalizeOrigin(record);
      auto state = std::make_shared<AccountState>();
      std::optional<Served> served;
      std::string unserved;
      const ClusterPtr cluster = LookupCluster(ref.cluster());
      if (cluster == nullptr) {
        unserved = ClusterGoneReason(ref.cluster());
      } else {
        served = OpenServed(*cluster, key, record, &unserved);
      }
      if (!unserved.empty()) {
        log->warn("account {}: restored without a token: {}",
                  RefString(ref.cluster(), ref.namespace_(), ref.name()), unserved);
      }
      {
        absl::MutexLock lock(&state->mu);
        SetExists(*state, true);
        state->revision = item.mod_revision;
        state->record = std::move(record);
        state->served = std::move(served);
        state->unserved_reason = unserved;
        state->cluster_missing = cluster == nullptr;
        state->cluster_missing_since = clock_.Now();
      }
      absl::MutexLock lock(&mu_);
      accounts_[key] = state;
      ++loaded;
    }
    if (!page.more || page.items.empty()) break;
    start_after = page.items.back().key;
  }
  log->info("restored {} accounts from the store", loaded);
  return absl::OkStatus();
}

// ----- tokens --------------------------------------------------------------------------------

absl::StatusOr<GenerationRecord> Broker::IssueGeneration(const ClusterHandle& cluster,
                                                         const AccountKey& key,
                                                         const v1::AccountSpec& spec,
                                                         int64_t generation, v1::TokenMode mode,
                                                         SecretString* token) {
  const std::string& cluster_name = std::get<0>(key);
  const std::string& ns = std::get<1>(key);
  const std::string& name = std::get<2>(key);
  kube::KubeClient& client = *cluster.client;
  const TokenPolicy policy = ResolvePolicy(spec, cluster.config, defaults_);
  const std::string secret_name = GenerationSecretName(ns, name, generation);
  const std::string secret_string = ObjectString(Resource::kSecret, ns, secret_name);

  json secret = json::object();
  secret["metadata"]["name"] = secret_name;
  secret["metadata"]["namespace"] = ns;
  json labels = json::object();
  for (const auto& [k, v] : spec.labels()) labels[k] = v;
  for (const auto& [k, v] : AccountLabels(cluster_name, ns, name)) labels[k] = v;
  labels[kGenerationLabel] = std::to_string(generation);
  secret["metadata"]["labels"] = labels;
  json annotations = json::object();
  for (const auto& [k, v] : spec.annotations()) annotations[k] = v;
  if (mode == v1::TOKEN_MODE_LEGACY) {
    annotations[kServiceAccountNameAnnotation] = name;
    secret["type"] = kLegacyTokenType;
  } else {
    secret["type"] = "Opaque";
  }
  secret["metadata"]["annotations"] = annotations;

  const absl::Time now = clock_.Now();
  bool created_here = false;
  json stored;
  absl::StatusOr<json> created = client.Create(Resource::kSecret, secret, now + kKubeCallTimeout);
  if (created.ok()) {
    stored = std::move(*created);
    created_here = true;
  } else if (absl::IsAlreadyExists(created.status())) {
    // Left by an earlier attempt whose answer was lost: reuse it if it is this generation's.
    absl::StatusOr<json> existing =
        client.Get(Resource::kSecret, ns, secret_name, clock_.Now() + kKubeCallTimeout);
    if (!existing.ok()) return Wrap(existing.status(), absl::StrCat("reading ", secret_string));
    const std::string want_type = mode == v1::TOKEN_MODE_LEGACY ? kLegacyTokenType : "Opaque";
    if (!OwnedByAccount(*existing, cluster_name, ns, name) ||
        existing->value("type", "") != want_type) {
      return absl::AlreadyExistsError(
          absl::StrCat(secret_string,
                       " exists and is not kcred's token Secret for this account; delete or "
                       "rename it (kcred names generation ",
                       generation, "'s Secret so)"));
    }
    stored = std::move(*existing);
  } else {
    return Wrap(created.status(), absl::StrCat("creating ", secret_string));
  }
  const std::string uid = MetaString(stored, "uid");
  auto discard = [&](absl::Status error) {
    if (created_here) {
      absl::Status removed = client.Delete(Resource::kSecret, ns, secret_name, {uid, ""},
                                           clock_.Now() + kKubeCallTimeout);
      if (!removed.ok() && !absl::IsNotFound(removed)) {
        Logger("broker")->warn("account {}: removing {} after a failure: {}",
                               RefString(cluster_name, ns, name), secret_string, removed.message());
      }
    }
    return error;
  };

  GenerationRecord record;
  record.set_generation(generation);
  record.set_mode(mode);
  record.set_secret_name(secret_name);
  record.set_secret_uid(uid);
  absl::Time issue_time = clock_.Now();
  if (mode == v1::TOKEN_MODE_BOUND) {
    kube::TokenRequestSpec request;
    request.audiences = policy.audiences;
    request.expiration = policy.ttl;
    request.bound_secret_name = secret_name;
    request.bound_secret_uid = uid;
    absl::StatusOr<kube::IssuedToken> issued =
        client.CreateToken(ns, name, request, clock_.Now() + kKubeCallTimeout);
    if (!issued.ok()) {
      return discard(Wrap(issued.status(),
                          absl::StrCat("requesting a token for ServiceAccount ", ns, "/", name)));
    }
    *token = std::move(issued->token);
    *record.mutable_expire_time() = ToProto(issued->expiration);
  } else {
    // The token controller fills data.token shortly after the Secret is created.
    const absl::Time give_up = clock_.Now() + defaults_.legacy_token_wait;
    for (;;) {
      if (stored.contains("data") && stored["data"].is_object() &&
          stored["data"].contains("token") && stored["data"]["token"].is_string()) {
        std::string decoded;
        if (!absl::Base64Unescape(stored["data"]["token"].get<std::string>(), &decoded) ||
            decoded.empty()) {
          return discard(
              absl::DataLossError(absl::StrCat(secret_string, ": data.token is not valid base64")));
        }
        *token = SecretString(std::move(decoded));
        break;
      }
      if (clock_.Now() >= give_up) {
        return discard(absl::DeadlineExceededError(absl::StrCat(
            "the token controller did not fill ", secret_string, " within ",
            absl::FormatDuration(defaults_.legacy_token_wait),
            "; check that kube-controller-manager runs its token controller, or use bound "
            "tokens (TOKEN_MODE_BOUND)")));
      }
      clock_.SleepFor(kLegacyPollInterval);
      absl::StatusOr<json> polled =
          client.Get(Resource::kSecret, ns, secret_name, clock_.Now() + kKubeCallTimeout);
      if (!polled.ok()) {
        return discard(
            Wrap(polled.status(), absl::StrCat("waiting for the token in ", secret_string)));
      }
      stored = std::move(*polled);
    }
  }
  *record.mutable_issue_time() = ToProto(issue_time);
  record.set_token_fingerprint(token->fingerprint());
  absl::StatusOr<std::string> sealed =
      sealer_.Seal(*token, SealingContext(StoreKey(cluster_name, ns, name), generation));
  if (!sealed.ok()) {
    return discard(
        Wrap(sealed.status(), absl::StrCat("sealing the token of generation ", generation)));
  }
  record.set_sealed_token(std::move(*sealed));
  return record;
}

absl::Status Broker::RevokeGeneration(const ClusterHandle& cluster, const AccountKey& key,
                                      const GenerationRecord& generation) {
  const std::string& ns = std::get<1>(key);
  absl::Status deleted =
      cluster.client->Delete(Resource::kSecret, ns, generation.secret_name(),
                             {generation.secret_uid(), ""}, clock_.Now() + kKubeCallTimeout);
  // NotFound: already gone. Aborted: the name now holds another object (a different uid), which
  // is not ours to delete; the token bound to the old one is revoked either way.
  if (deleted.ok() || absl::IsNotFound(deleted) || absl::IsAborted(deleted))
    return absl::OkStatus();
  return Wrap(deleted, absl::StrCat("revoking generation ", generation.generation(),
                                    ": deleting Secret ", ns, "/", generation.secret_name()));
}

absl::Status Broker::RotateLocked(const ClusterHandle& cluster, const AccountKey& key,
                                  AccountState& state, AccountRecord& record,
                                  std::optional<absl::Duration> grace_override,
                                  std::optional<Served>* served, int64_t* previous_generation,
                                  absl::Time* previous_revoke_time) {
  const std::string& cluster_name = std::get<0>(key);
  const std::string& ns = std::get<1>(key);
  const std::string& name = std::get<2>(key);
  const absl::Time started = clock_.Now();
  const v1::AccountSpec& spec = record.account().spec();
  const TokenPolicy policy = ResolvePolicy(spec, cluster.config, defaults_);
  int64_t next = record.account().status().generation() + 1;
  for (const GenerationRecord& g : record.generations()) next = std::max(next, g.generation() + 1);

  SecretString token;
  KCRED_ASSIGN_OR_RETURN(GenerationRecord issued,
                         IssueGeneration(cluster, key, spec, next, policy.mode, &token));
  KCRED_ASSIGN_OR_RETURN(Served made, MakeServed(cluster, key, issued, token));

  const absl::Duration grace = grace_override.value_or(policy.grace);
  const absl::Time revoke_at = clock_.Now() + grace;
  *previous_generation = 0;
  *previous_revoke_time = revoke_at;
  google::protobuf::RepeatedPtrField<GenerationRecord> generations;
  *generations.Add() = issued;
  for (GenerationRecord g : record.generations()) {
    if (!g.has_revoke_time()) {
      *previous_generation = g.generation();
      *g.mutable_revoke_time() = ToProto(revoke_at);
    }
    *generations.Add() = std::move(g);
  }
  *record.mutable_generations() = std::move(generations);
  record.mutable_account()->mutable_status()->clear_last_error();
  record.mutable_account()->mutable_status()->clear_last_error_time();
  // The new token is committed before the previous one is touched.
  KCRED_RETURN_IF_ERROR(Commit(key, state, record, made));
  *served = std::move(made);
  Logger("broker")->info("account {}: rotated to generation {} ({}) in {}",
                         RefString(cluster_name, ns, name), next, issued.token_fingerprint(),
                         absl::FormatDuration(clock_.Now() - started));
  Emit(v1::EVENT_TYPE_ROTATED, state,
       absl::StrCat("generation ", next, " (", issued.token_fingerprint(), ") is current"));
  if (grace == absl::ZeroDuration() && *previous_generation != 0) {
    absl::Status revoked = RevokeDueLocked(cluster, key, state);
    if (!revoked.ok()) {
      Logger("broker")->warn("account {}: {}", RefString(cluster_name, ns, name),
                             revoked.message());
    }
  }
  absl::MutexLock lock(&state.mu);
  record = state.record;
  return absl::OkStatus();
}

absl::Status Broker::RevokeDueLocked(const ClusterHandle& cluster, const AccountKey& key,
                                     AccountState& state) {
  AccountRecord record;
  {
    absl::MutexLock lock(&state.mu);
    if (!state.exists) return absl::OkStatus();
    record = state.record;
  }
  const absl::Time now = clock_.Now();
  google::protobuf::RepeatedPtrField<GenerationRecord> kept;
  absl::Status failure;
  bool changed = false;
  std::vector<std::string> revoked_messages;
  for (const GenerationRecord& g : record.generations()) {
    if (g.has_revoke_time() && FromProto(g.revoke_time()) <= now) {
      absl::Status revoked = RevokeGeneration(cluster, key, g);
      if (revoked.ok()) {
        changed = true;
        revoked_messages.push_back(
            absl::StrCat("generation ", g.generation(), " (", g.token_fingerprint(), ") revoked"));
        Logger("broker")->info("account {}: revoked generation {} ({})",
                               RefString(std::get<0>(key), std::get<1>(key), std::get<2>(key)),
                               g.generation(), g.token_fingerprint());
        continue;
      }
      if (failure.ok()) failure = revoked;
    }
    *kept.Add() = g;
  }
  if (changed) {
    *record.mutable_generations() = std::move(kept);
    if (failure.ok()) {
      KCRED_RETURN_IF_ERROR(Commit(key, state, std::move(record), std::nullopt));
    } else {
      v1::AccountStatus& status = *record.mutable_account()->mutable_status();
      status.set_last_error(std::string(failure.message()));
      *status.mutable_last_error_time() = ToProto(now);
      KCRED_RETURN_IF_ERROR(Commit(key, state, std::move(record), std::nullopt));
    }
    for (const std::string& message : revoked_messages) {
      Emit(v1::EVENT_TYPE_REVOKED, state, message);
    }
  } else if (!failure.ok()) {
    RecordFailure(key, state, failure);
  }
  return failure;
}

absl::StatusOr<std::optional<absl::Time>> Broker::RevokeDue() {
  std::vector<std::pair<AccountKey, StatePtr>> accounts;
  {
    absl::MutexLock lock(&mu_);
    accounts.assign(accounts_.begin(), accounts_.end());
  }
  const absl::Time now = clock_.Now();
  std::vector<std::string> failures;
  std::optional<absl::Time> next_due;
  auto note_pending = [&next_due](const AccountRecord& record) {
    for (const GenerationRecord& g : record.generations()) {
      if (!g.has_revoke_time()) continue;
      absl::Time due = FromProto(g.revoke_time());
      if (!next_due.has_value() || due < *next_due) next_due = due;
    }
  };
  for (const auto& [key_in_snapshot, snapshot] : accounts) {
    // A quick look first, so accounts with nothing due never wait for a long operation.
    bool due = false;
    {
      absl::MutexLock lock(&snapshot->mu);
      if (!snapshot->exists) continue;
      for (const GenerationRecord& g : snapshot->record.generations()) {
        due = due || (g.has_revoke_time() && FromProto(g.revoke_time()) <= now);
      }
      if (!due) note_pending(snapshot->record);
    }
    if (!due) continue;
    const AccountKey key = key_in_snapshot;
    const ClusterPtr cluster = LookupCluster(std::get<0>(key));
    if (cluster == nullptr) continue;  // not served; its record is kept for when it comes back
    StatePtr state = AcquireAccount(key);
    ScopeExit guard([this, &key, &state] { ReleaseAccount(key, state); });
    absl::Status revoked = RevokeDueLocked(*cluster, key, *state);
    if (!revoked.ok()) {
      failures.push_back(
          absl::StrCat(RefString(std::get<0>(key), std::get<1>(key), std::get<2>(key)), ": ",
                       revoked.message()));
    }
    absl::MutexLock lock(&state->mu);
    if (state->exists) note_pending(state->record);
  }
  if (!failures.empty()) {
    return absl::UnavailableError(
        absl::StrCat("revoking previous tokens failed for ", failures.size(),
                     " account(s); they stay scheduled: ", absl::StrJoin(failures, "; ")));
  }
  return next_due;
}

absl::StatusOr<int> Broker::SweepOrphans() {
  std::vector<AccountKey> keys;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& entry : accounts_) keys.push_back(entry.first);
  }
  int deleted = 0;
  std::vector<std::string> failures;
  for (const AccountKey& key : keys) {
    const std::string& cluster_name = std::get<0>(key);
    const std::string& ns = std::get<1>(key);
    const std::string& name = std::get<2>(key);
    const ClusterPtr cluster = LookupCluster(cluster_name);
    if (cluster == nullptr) continue;
    StatePtr state = AcquireAccount(key);
    ScopeExit guard([this, &key, &state] { ReleaseAccount(key, state); });
    AccountRecord record;
    {
      absl::MutexLock lock(&state->mu);
      if (!state->exists) continue;
      record = state->record;
    }
    std::set<std::string> owned;
    for (const GenerationRecord& g : record.generations()) owned.insert(g.secret_name());
    const TokenPolicy policy = ResolvePolicy(record.account().spec(), cluster->config, defaults_);
    absl::StatusOr<std::vector<json>> secrets =
        cluster->client->List(Resource::kSecret, ns, AccountSelector(cluster_name, ns, name),
                              clock_.Now() + kKubeCallTimeout);
    if (!secrets.ok()) {
      failures.push_back(absl::StrCat(RefString(cluster_name, ns, name),
                                      ": listing Secrets: ", secrets.status().message()));
      continue;
    }
    for (const json& secret : *secrets) {
      const std::string secret_name = MetaString(secret, "name");
      if (owned.count(secret_name) > 0) continue;
      absl::StatusOr<absl::Time> created =
          kube::ParseKubeTime(MetaString(secret, "creationTimestamp"));
      // Without a readable age, leave it: it may belong to an operation under way elsewhere.
      if (!created.ok() || *created + policy.grace > clock_.Now()) continue;
      absl::Status removed =
          cluster->client->Delete(Resource::kSecret, ns, secret_name,
                                  {MetaString(secret, "uid"), ""}, clock_.Now() + kKubeCallTimeout);
      if (removed.ok()) {
        ++deleted;
        Logger("broker")->info("account {}: deleted orphaned token Secret {}",
                               RefString(cluster_name, ns, name), secret_name);
      } else if (!absl::IsNotFound(removed) && !absl::IsAborted(removed)) {
        failures.push_back(absl::StrCat(RefString(cluster_name, ns, name), ": deleting Secret ", ns,
                                        "/", secret_name, ": ", removed.message()));
      }
    }
  }
  if (!failures.empty()) {
    return absl::UnavailableError(absl::StrCat("sweeping orphaned token Secrets failed for ",
                                               failures.size(),
                                               " account(s): ", absl::StrJoin(failures, "; ")));
  }
  return deleted;
}

absl::StatusOr<v1::RotateTokenResponse> Broker::RotateToken(const v1::RotateTokenRequest& request,
                                                            v1::Origin requester) {
  const v1::AccountRef& ref = request.ref();
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  KCRED_ASSIGN_OR_RETURN(const ClusterPtr cluster, FindCluster(ref.cluster()));
  std::optional<absl::Duration> grace;
  if (request.has_grace()) {
    grace = FromProto(request.grace());
    if (*grace < absl::ZeroDuration()) {
      return absl::InvalidArgumentError("grace: must not be negative; zero revokes at once");
    }
    KCRED_RETURN_IF_ERROR(AdmitGrace(cluster->config, *grace));
  }
  AccountKey key{ref.cluster(), ref.namespace_(), ref.name()};
  StatePtr state = AcquireAccount(key);
  ScopeExit guard([this, &key, &state] { ReleaseAccount(key, state); });
  AccountRecord record;
  {
    absl::MutexLock lock(&state->mu);
    if (!state->exists) {
      return absl::NotFoundError(
          absl::StrCat("account ", RefString(ref.cluster(), ref.namespace_(), ref.name()),
                       " not found; provision it first"));
    }
    record = state->record;
  }
  const absl::Duration effective_grace =
      grace.value_or(ResolvePolicy(record.account().spec(), cluster->config, defaults_).grace);
  KCRED_RETURN_IF_ERROR(CheckOwnership(RefString(ref.cluster(), ref.namespace_(), ref.name()),
                                       record.account().origin(), requester, Change::kRotate,
                                       effective_grace));
  if (record.deleting()) {
    return absl::FailedPreconditionError(
        absl::StrCat("account ", RefString(ref.cluster(), ref.namespace_(), ref.name()),
                     " is being deleted; call DeleteAccount again to finish"));
  }
  std::optional<Served> served;
  v1::RotateTokenResponse response;
  int64_t previous = 0;
  absl::Time revoke_time;
  absl::Status rotated =
      RotateLocked(*cluster, key, *state, record, grace, &served, &previous, &revoke_time);
  if (!rotated.ok()) {
    RecordFailure(key, *state, rotated);
    return rotated;
  }
  if (!request.reason().empty()) {
    Logger("broker")->info("account {}: rotation reason: {}",
                           RefString(ref.cluster(), ref.namespace_(), ref.name()),
                           request.reason());
  }
  *response.mutable_account() = record.account();
  response.set_previous_generation(previous);
  if (previous != 0) *response.mutable_previous_revoke_time() = ToProto(revoke_time);
  return response;
}

// ----- reads ---------------------------------------------------------------------------------

namespace {

// Turns a Ready=True condition false, for what the record does not say yet.
void ObserveNotReady(v1::AccountStatus& status, absl::string_view reason, absl::string_view message,
                     const google::protobuf::Timestamp& since) {
  for (v1::Condition& condition : *status.mutable_conditions()) {
    if (condition.type() != v1::CONDITION_TYPE_READY ||
        condition.status() != v1::CONDITION_STATUS_TRUE) {
      continue;
    }
    condition.set_status(v1::CONDITION_STATUS_FALSE);
    condition.set_reason(std::string(reason));
    condition.set_message(std::string(message));
    *condition.mutable_last_transition_time() = since;
  }
}

// The account as of `now`: Ready turns false once the current token has expired, even before
// anything is written about it.
v1::Account ObservedAccount(v1::Account account, absl::Time now) {
  v1::AccountStatus& status = *account.mutable_status();
  if (!status.has_expire_time() || FromProto(status.expire_time()) > now) return account;
  ObserveNotReady(
      status, "TokenExpired",
      absl::StrCat("generation ", status.generation(), " expired at ",
                   absl::FormatTime(FromProto(status.expire_time()), absl::UTCTimeZone())),
      status.expire_time());
  return account;
}

}  // namespace

// Called with state.mu held (AccountState is private to this file, so the header cannot say so).
v1::Account Broker::Observed(const AccountState& state) const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  v1::Account account = ObservedAccount(state.record.account(), clock_.Now());
  if (state.cluster_missing) {
    // Not served until its cluster is configured again, whatever the record says.
    ObserveNotReady(*account.mutable_status(), "ClusterNotConfigured", state.unserved_reason,
                    ToProto(state.cluster_missing_since));
  }
  // After a failed rotation the planned time has passed; the retry is what happens next.
  v1::AccountStatus& status = *account.mutable_status();
  if (state.retry_time > FromProto(status.next_rotation_time())) {
    *status.mutable_next_rotation_time() = ToProto(state.retry_time);
  }
  return account;
}

void Broker::NoteRotationRetry(const v1::AccountRef& ref, absl::Time at) {
  StatePtr state = FindAccount({ref.cluster(), ref.namespace_(), ref.name()});
  if (state == nullptr) return;
  absl::MutexLock lock(&state->mu);
  state->retry_time = at;
}

absl::StatusOr<v1::Account> Broker::GetAccount(const v1::AccountRef& ref) {
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  StatePtr state = FindAccount({ref.cluster(), ref.namespace_(), ref.name()});
  if (state != nullptr) {
    absl::MutexLock lock(&state->mu);
    if (state->exists) return Observed(*state);
  }
  // Loaded accounts of a cluster no longer configured are found above; otherwise say which
  // clusters there are.
  KCRED_RETURN_IF_ERROR(FindCluster(ref.cluster()).status());
  return absl::NotFoundError(absl::StrCat(
      "account ", RefString(ref.cluster(), ref.namespace_(), ref.name()), " not found"));
}

namespace {

std::string EncodePageToken(const std::string& cluster, const std::string& ns,
                            const std::string& name) {
  return absl::WebSafeBase64Escape(
      absl::StrJoin({std::string(kPageTokenMagic), cluster, ns, name}, "\n"));
}

}  // namespace

absl::StatusOr<std::vector<v1::Account>> Broker::AllAccounts() {
  std::vector<v1::Account> all;
  v1::ListAccountsRequest request;
  request.set_page_size(1000);
  for (;;) {
    KCRED_ASSIGN_OR_RETURN(v1::ListAccountsResponse page, ListAccounts(request));
    for (v1::Account& account : *page.mutable_accounts()) all.push_back(std::move(account));
    if (page.next_page_token().empty()) return all;
    request.set_page_token(page.next_page_token());
  }
}

absl::StatusOr<v1::ListAccountsResponse> Broker::ListAccounts(
    const v1::ListAccountsRequest& request, const AccountFilter& visible) {
  const v1::AccountSelector& selector = request.selector();
  if (!selector.cluster().empty() && account_count(selector.cluster()) == 0) {
    KCRED_RETURN_IF_ERROR(FindCluster(selector.cluster()).status());
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size: must not be negative; 0 means 100");
  }
  const int page_size =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  std::optional<AccountKey> after;
  if (!request.page_token().empty()) {
    std::string decoded;
    std::vector<std::string> parts;
    if (absl::WebSafeBase64Unescape(request.page_token(), &decoded)) {
      parts = absl::StrSplit(decoded, '\n');
    }
    if (parts.size() != 4 || parts[0] != kPageTokenMagic) {
      return absl::InvalidArgumentError(
          "page_token: not a token this server issued; pass the next_page_token of the previous "
          "response unchanged, or leave it empty for the first page");
    }
    after = AccountKey{parts[1], parts[2], parts[3]};
  }
  // Parsed (and validated) once, even when nothing is listed.
  KCRED_ASSIGN_OR_RETURN(const AccountMatcher matcher, AccountMatcher::Create(selector));
  std::vector<StatePtr> candidates;
  {
    absl::MutexLock lock(&mu_);
    auto it = after.has_value() ? accounts_.upper_bound(*after) : accounts_.begin();
    for (; it != accounts_.end(); ++it) {
      const auto& [cluster, ns, name] = it->first;
      if (!selector.cluster().empty() && cluster != selector.cluster()) continue;
      if (!selector.namespace_().empty() && ns != selector.namespace_()) continue;
      if (!selector.name().empty() && name != selector.name()) continue;
      if (visible && !visible(cluster, ns, name)) continue;
      candidates.push_back(it->second);
    }
  }
  v1::ListAccountsResponse response;
  for (const StatePtr& state : candidates) {
    v1::Account account;
    {
      absl::MutexLock lock(&state->mu);
      if (!state->exists) continue;
      account = Observed(*state);
    }
    if (!matcher.Matches(account)) continue;
    if (response.accounts_size() == page_size) {
      const v1::AccountRef& last = response.accounts(page_size - 1).ref();
      response.set_next_page_token(EncodePageToken(last.cluster(), last.namespace_(), last.name()));
      break;
    }
    *response.add_accounts() = std::move(account);
  }
  return response;
}

absl::StatusOr<Broker::Served> Broker::CurrentCredentials(const v1::AccountRef& ref) const {
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  const std::string account = RefString(ref.cluster(), ref.namespace_(), ref.name());
  StatePtr state = FindAccount({ref.cluster(), ref.namespace_(), ref.name()});
  auto not_found = [&]() -> absl::Status {
    // Loaded accounts of a cluster no longer configured are UNAVAILABLE (below), not unknown.
    KCRED_RETURN_IF_ERROR(FindCluster(ref.cluster()).status());
    return absl::NotFoundError(absl::StrCat("account ", account, " not found"));
  };
  if (state == nullptr) return not_found();
  absl::MutexLock lock(&state->mu);
  if (!state->exists) return not_found();
  const v1::AccountStatus& status = state->record.account().status();
  if (!state->served.has_value()) {
    return absl::UnavailableError(absl::StrCat(
        "account ", account, " has no token to serve: ", state->unserved_reason,
        status.last_error().empty() ? "" : absl::StrCat("; last error: ", status.last_error())));
  }
  const Served& served = *state->served;
  if (clock_.Now() >= served.expire_time) {
    return absl::UnavailableError(
        absl::StrCat("the token of account ", account, " (generation ", served.generation,
                     ") expired at ", absl::FormatTime(served.expire_time, absl::UTCTimeZone()),
                     "; last error: ", status.last_error().empty() ? "(none)" : status.last_error(),
                     ". Rotate it with RotateToken once the cluster is reachable"));
  }
  return served;
}

absl::StatusOr<v1::GetKubeconfigResponse> Broker::GetKubeconfig(const v1::AccountRef& ref) {
  KCRED_ASSIGN_OR_RETURN(const Served served, CurrentCredentials(ref));
  v1::GetKubeconfigResponse response;
  response.set_kubeconfig(served.kubeconfig.Reveal());
  response.set_context_name(served.entry.context_name);
  response.set_cluster_name(served.entry.cluster_name);
  response.set_user_name(served.entry.user_name);
  response.set_server(served.entry.server);
  response.set_certificate_authority(served.entry.ca_pem);
  response.set_namespace_(ref.namespace_());
  if (served.expire_time != absl::InfiniteFuture()) {
    *response.mutable_expire_time() = ToProto(served.expire_time);
  }
  response.set_generation(served.generation);
  response.set_token_fingerprint(served.fingerprint);
  return response;
}

absl::StatusOr<v1::GetTokenResponse> Broker::GetToken(const v1::AccountRef& ref) {
  KCRED_ASSIGN_OR_RETURN(const Served served, CurrentCredentials(ref));
  v1::GetTokenResponse response;
  response.set_token(served.token.Reveal());
  if (served.expire_time != absl::InfiniteFuture()) {
    *response.mutable_expire_time() = ToProto(served.expire_time);
  }
  response.set_generation(served.generation);
  response.set_token_fingerprint(served.fingerprint);
  *response.mutable_next_rotation_time() = ToProto(served.next_rotation_time);
  return response;
}

absl::StatusOr<v1::ListClustersResponse> Broker::ListClusters() {
  std::map<std::string, int> counts;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, state] : accounts_) {
      absl::MutexLock state_lock(&state->mu);
      if (state->exists) ++counts[std::get<0>(key)];
    }
  }
  // The handles are held until the probes are done, even if the clusters are replaced meanwhile.
  std::vector<ClusterPtr> clusters;
  {
    absl::MutexLock lock(&clusters_mu_);
    clusters = clusters_;
  }
  v1::ListClustersResponse response;
  for (const ClusterPtr& cluster : clusters) {
    v1::Cluster* out = response.add_clusters();
    out->set_name(cluster->config.name);
    out->set_server(cluster->config.server);
    out->set_account_count(counts[cluster->config.name]);
  }
  // Probed at once, each cluster at most once at a time however many callers ask (ClusterProbes).
  std::vector<ClusterProbes::Result> probed = probes_.Probe(clusters);
  for (size_t i = 0; i < clusters.size(); ++i) {
    v1::Cluster* out = response.mutable_clusters(static_cast<int>(i));
    *out->mutable_last_check_time() = ToProto(probed[i].checked);
    if (probed[i].version.ok()) {
      out->set_reachable(true);
      out->set_server_version(probed[i].version->git_version);
    } else {
      out->set_reachable(false);
      out->set_error(std::string(probed[i].version.status().message()));
    }
  }
  return response;
}

// ----- provisioning --------------------------------------------------------------------------

// One ProvisionAccount call: the plan (reads only), then its application.
struct Broker::Reconcile {
  Broker& broker;
  const ClusterHandle& cluster;
  const AccountKey& key;
  const v1::AccountSpec& spec;
  const v1::AccountSpec* previous_spec;  // null for a new account
  std::vector<Step> steps;

  const std::string& cluster_name() const { return std::get<0>(key); }
  const std::string& ns() const { return std::get<1>(key); }
  const std::string& name() const { return std::get<2>(key); }
  absl::Time Deadline() const { return broker.clock_.Now() + kKubeCallTimeout; }

  // Labels and annotations kcred puts on an object of the account, merged into `object`:
  // kcred's labels and the spec's, minus spec keys dropped since the previous spec.
  void ApplyMetadata(json& object) const {
    json& metadata = object["metadata"];
    if (!metadata.contains("labels") || !metadata["labels"].is_object()) {
      metadata["labels"] = json::object();
    }
    if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) {
      metadata["annotations"] = json::object();
    }
    if (previous_spec != nullptr) {
      for (const auto& [k, v] : previous_spec->labels()) {
        if (spec.labels().count(k) == 0) metadata["labels"].erase(k);
      }
      for (const auto& [k, v] : previous_spec->annotations()) {
        if (spec.annotations().count(k) == 0) metadata["annotations"].erase(k);
      }
    }
    for (const auto& [k, v] : spec.labels()) metadata["labels"][k] = v;
    for (const auto& [k, v] : spec.annotations()) metadata["annotations"][k] = v;
    for (const auto& [k, v] : AccountLabels(cluster_name(), ns(), name())) {
      metadata["labels"][k] = v;
    }
    if (metadata["annotations"].empty()) metadata.erase("annotations");
  }

  // Plans one object of the account: create it, keep it, update it to `body`'s fields, adopt it,
  // or (bindings whose roleRef changed) re-create it. A foreign object stops the plan.
  absl::Status PlanObject(Resource resource, const std::string& object_ns,
                          const std::string& object_name, const json& body) {
    const std::string what = ObjectString(resource, object_ns, object_name);
    absl::StatusOr<json> existing =
        cluster.client->Get(resource, object_ns, object_name, Deadline());
    Step step;
    step.resource = resource;
    step.ns = object_ns;
    step.name = object_name;
    if (!existing.ok()) {
      if (!absl::IsNotFound(existing.status())) {
        return Wrap(existing.status(), absl::StrCat("reading ", what));
      }
      json object = body;
      object["metadata"]["name"] = object_name;
      if (!object_ns.empty()) object["metadata"]["namespace"] = object_ns;
      ApplyMetadata(object);
      step.action = Step::Action::kCreate;
      step.object = std::move(object);
      steps.push_back(std::move(step));
      return absl::OkStatus();
    }
    const bool owned = OwnedByAccount(*existing, cluster_name(), ns(), name());
    if (!owned && !spec.adopt()) {
      return absl::AlreadyExistsError(absl::StrCat(
          what, " already exists and is not managed by kcred for account ",
          RefString(cluster_name(), ns(), name()), " (it lacks the label ", kManagedByLabel, "=",
          kManagedByValue, " with this account's ", kAccountLabel,
          "); kcred leaves it alone: delete or rename it, or set adopt to take it over"));
    }
    step.uid = MetaString(*existing, "uid");
    json updated = *existing;
    ApplyMetadata(updated);
    for (const auto& [field, value] : body.items()) updated[field] = value;
    if (resource == Resource::kRoleBinding || resource == Resource::kClusterRoleBinding) {
      if (existing->value("roleRef", json()) != body["roleRef"]) {
        step.action = Step::Action::kRecreate;
        json object = body;
        object["metadata"]["name"] = object_name;
        if (!object_ns.empty()) object["metadata"]["namespace"] = object_ns;
        object["metadata"]["labels"] = updated["metadata"]["labels"];
        if (updated["metadata"].contains("annotations")) {
          object["metadata"]["annotations"] = updated["metadata"]["annotations"];
        }
        step.object = std::move(object);
        steps.push_back(std::move(step));
        return absl::OkStatus();
      }
    }
    if (!owned) {
      step.action = Step::Action::kAdopt;
    } else if (updated != *existing) {
      step.action = Step::Action::kUpdate;
    }
    step.object = std::move(updated);
    steps.push_back(std::move(step));
    return absl::OkStatus();
  }

  json BindingBody(Resource role_kind, const std::string& role_name) const {
    json body = json::object();
    body["roleRef"] = {{"apiGroup", kRbacGroup}, {"kind", KindOf(role_kind)}, {"name", role_name}};
    body["subjects"] =
        json::array({json{{"kind", "ServiceAccount"}, {"name", name()}, {"namespace", ns()}}});
    return body;
  }

  // Reads the cluster and plans every change; fails before any write when the request cannot be
  // carried out (missing namespace, role or ServiceAccount; foreign objects).
  absl::Status Plan(const AccountRecord* previous) {
    kube::KubeClient& client = *cluster.client;
    const v1::Scope scope = EffectiveScope(spec);
    // Namespace.
    absl::StatusOr<json> namespace_object = client.Get(Resource::kNamespace, "", ns(), Deadline());
    if (namespace_object.ok()) {
      std::map<std::string, std::string> labels;
      const json& found =
          namespace_object->value("metadata", json::object()).value("labels", json::object());
      for (const auto& [k, v] : found.items()) {
        if (v.is_string()) labels[k] = v.get<std::string>();
      }
      KCRED_RETURN_IF_ERROR(AdmitNamespace(cluster.config, ns(), &labels));
    } else {
      if (!absl::IsNotFound(namespace_object.status())) {
        return Wrap(namespace_object.status(), absl::StrCat("reading Namespace ", ns()));
      }
      KCRED_RETURN_IF_ERROR(AdmitNamespace(cluster.config, ns(), nullptr));
      if (!spec.create_namespace()) {
        return absl::NotFoundError(
            absl::StrCat("namespace \"", ns(), "\" does not exist on cluster \"", cluster_name(),
                         "\"; create it, or set create_namespace to let kcred create it"));
      }
      Step step;
      step.action = Step::Action::kCreate;
      step.resource = Resource::kNamespace;
      step.name = ns();
      step.managed = false;
      // Not labelled with kcred.io/account: the namespace outlives the account (see broker.h).
      json labels = json::object();
      for (const auto& [k, v] : spec.labels()) labels[k] = v;
      labels[kManagedByLabel] = kManagedByValue;
      labels[kCreatedForLabel] = LabelValue(name());
      step.object = {{"metadata", {{"name", ns()}, {"labels", labels}}}};
      if (!spec.annotations().empty()) {
        json annotations = json::object();
        for (const auto& [k, v] : spec.annotations()) annotations[k] = v;
        step.object["metadata"]["annotations"] = annotations;
      }
      steps.push_back(std::move(step));
    }
    // ServiceAccount.
    if (spec.access().has_token_only()) {
      absl::StatusOr<json> sa = client.Get(Resource::kServiceAccount, ns(), name(), Deadline());
      if (!sa.ok()) {
        if (absl::IsNotFound(sa.status())) {
          return absl::NotFoundError(absl::StrCat(
              "ServiceAccount ", ns(), "/", name(),
              " does not exist; token_only issues tokens for an existing ServiceAccount: create "
              "it, or use rules or role_ref to let kcred create it"));
        }
        return Wrap(sa.status(), absl::StrCat("reading ServiceAccount ", ns(), "/", name()));
      }
      Step step;
      step.resource = Resource::kServiceAccount;
      step.ns = ns();
      step.name = name();
      step.uid = MetaString(*sa, "uid");
      step.managed = false;
      steps.push_back(std::move(step));
    } else {
      KCRED_RETURN_IF_ERROR(PlanObject(Resource::kServiceAccount, ns(), name(), json::object()));
    }
    // RBAC.
    std::set<std::tuple<std::string, std::string, std::string>> desired;
    auto want = [&](Resource resource, const std::string& object_ns,
                    const std::string& object_name) {
      desired.insert({KindOf(resource), object_ns, object_name});
    };
    want(Resource::kServiceAccount, ns(), name());
    const std::string cluster_object = ClusterObjectName(ns(), name());
    if (spec.access().has_rules()) {
      json body = {{"rules", RulesJson(spec.access().rules())}};
      if (scope == v1::SCOPE_CLUSTER) {
        KCRED_RETURN_IF_ERROR(PlanObject(Resource::kClusterRole, "", cluster_object, body));
        KCRED_RETURN_IF_ERROR(PlanObject(Resource::kClusterRoleBinding, "", cluster_object,
                                         BindingBody(Resource::kClusterRole, cluster_object)));
        want(Resource::kClusterRole, "", cluster_object);
        want(Resource::kClusterRoleBinding, "", cluster_object);
      } else {
        KCRED_RETURN_IF_ERROR(PlanObject(Resource::kRole, ns(), name(), body));
        KCRED_RETURN_IF_ERROR(
            PlanObject(Resource::kRoleBinding, ns(), name(), BindingBody(Resource::kRole, name())));
        want(Resource::kRole, ns(), name());
        want(Resource::kRoleBinding, ns(), name());
      }
    } else if (spec.access().has_role_ref()) {
      const v1::RoleRef& role = spec.access().role_ref();
      const Resource role_kind =
          role.kind() == v1::ROLE_KIND_ROLE ? Resource::kRole : Resource::kClusterRole;
      const std::string role_ns = role_kind == Resource::kRole ? ns() : "";
      absl::StatusOr<json> found = client.Get(role_kind, role_ns, role.name(), Deadline());
      if (!found.ok()) {
        if (absl::IsNotFound(found.status())) {
          return absl::NotFoundError(
              absl::StrCat(ObjectString(role_kind, role_ns, role.name()),
                           " does not exist; create it, or fix spec.access.role_ref"));
        }
        return Wrap(found.status(),
                    absl::StrCat("reading ", ObjectString(role_kind, role_ns, role.name())));
      }
      if (scope == v1::SCOPE_CLUSTER) {
        KCRED_RETURN_IF_ERROR(PlanObject(Resource::kClusterRoleBinding, "", cluster_object,
                                         BindingBody(role_kind, role.name())));
        want(Resource::kClusterRoleBinding, "", cluster_object);
      } else {
        KCRED_RETURN_IF_ERROR(
            PlanObject(Resource::kRoleBinding, ns(), name(), BindingBody(role_kind, role.name())));
        want(Resource::kRoleBinding, ns(), name());
      }
    }
    // Objects of the previous spec that the new one no longer needs. The token_only
    // ServiceAccount is never deleted, so it is forgotten rather than removed.
    if (previous != nullptr) {
      for (const ManagedObject& object : previous->objects()) {
        if (desired.count({object.kind(), object.namespace_(), object.name()}) > 0) continue;
        KCRED_ASSIGN_OR_RETURN(Resource resource, ResourceOfKind(object.kind()));
        if (resource == Resource::kServiceAccount) continue;
        Step step;
        step.action = Step::Action::kDelete;
        step.resource = resource;
        step.ns = object.namespace_();
        step.name = object.name();
        step.uid = object.uid();
        steps.push_back(std::move(step));
      }
    }
    return absl::OkStatus();
  }

  bool HasWrites() const {
    for (const Step& step : steps) {
      if (step.action != Step::Action::kKeep) return true;
    }
    return false;
  }

  static v1::ChangeAction ChangeOf(Step::Action action) {
    switch (action) {
      case Step::Action::kCreate:
        return v1::CHANGE_ACTION_CREATED;
      case Step::Action::kUpdate:
      case Step::Action::kRecreate:
        return v1::CHANGE_ACTION_UPDATED;
      case Step::Action::kAdopt:
        return v1::CHANGE_ACTION_ADOPTED;
      case Step::Action::kDelete:
        return v1::CHANGE_ACTION_DELETED;
      case Step::Action::kKeep:
        break;
    }
    return v1::CHANGE_ACTION_UNSPECIFIED;
  }

  // Carries out the plan in order. Every step done is reported in `changes`; objects kcred now
  // manages land in `objects`. `created` lists what this call created, for a rollback.
  absl::Status Apply(std::vector<v1::ObjectChange>& changes, std::vector<ManagedObject>& objects,
                     bool& created_namespace, std::vector<Step>& created) {
    kube::KubeClient& client = *cluster.client;
    for (Step& step : steps) {
      const std::string what = ObjectString(step.resource, step.ns, step.name);
      std::string uid = step.uid;
      switch (step.action) {
        case Step::Action::kKeep:
          break;
        case Step::Action::kCreate: {
          absl::StatusOr<json> made = client.Create(step.resource, step.object, Deadline());
          if (!made.ok() && step.resource == Resource::kNamespace &&
              absl::IsAlreadyExists(made.status())) {
            // Another account's provisioning created it a moment ago. The namespace exists, which
            // is all this account needs (kcred never deletes namespaces), and it is not ours.
            break;
          }
          if (!made.ok()) return Wrap(made.status(), absl::StrCat("creating ", what));
          uid = MetaString(*made, "uid");
          step.uid = uid;
          created.push_back(step);
          if (step.resource == Resource::kNamespace) created_namespace = true;
          break;
        }
        case Step::Action::kUpdate:
        case Step::Action::kAdopt: {
          absl::StatusOr<json> written = client.Update(step.resource, step.object, Deadline());
          if (!written.ok()) {
            return Wrap(written.status(),
                        absl::StrCat(
                            step.action == Step::Action::kAdopt ? "adopting " : "updating ", what));
          }
          break;
        }
        case Step::Action::kRecreate: {
          absl::Status removed =
              client.Delete(step.resource, step.ns, step.name, {step.uid, ""}, Deadline());
          if (!removed.ok() && !absl::IsNotFound(removed)) {
            return Wrap(removed, absl::StrCat("deleting ", what, " to change its roleRef"));
          }
          absl::StatusOr<json> made = client.Create(step.resource, step.object, Deadline());
          if (!made.ok()) {
            return Wrap(made.status(), absl::StrCat("re-creating ", what, " with the new roleRef"));
          }
          uid = MetaString(*made, "uid");
          break;
        }
        case Step::Action::kDelete: {
          absl::Status removed =
              client.Delete(step.resource, step.ns, step.name, {step.uid, ""}, Deadline());
          if (removed.ok()) {
            v1::ObjectChange change;
            *change.mutable_object() = MakeRef(step.resource, step.ns, step.name, step.uid);
            change.set_action(v1::CHANGE_ACTION_DELETED);
            changes.push_back(std::move(change));
          } else if (!absl::IsNotFound(removed) && !absl::IsAborted(removed)) {
            return Wrap(removed, absl::StrCat("deleting ", what, ", no longer in the spec"));
          }
          continue;
        }
      }
      if (step.action != Step::Action::kKeep) {
        v1::ObjectChange change;
        *change.mutable_object() = MakeRef(step.resource, step.ns, step.name, uid);
        change.set_action(ChangeOf(step.action));
        changes.push_back(std::move(change));
      }
      if (step.managed) {
        ManagedObject object;
        object.set_kind(KindOf(step.resource));
        object.set_namespace_(step.ns);
        object.set_name(step.name);
        object.set_uid(uid);
        objects.push_back(std::move(object));
      }
    }
    return absl::OkStatus();
  }
};

namespace {

absl::Status ValidateOrigin(v1::Origin origin) {
  if (origin == v1::ORIGIN_API || origin == v1::ORIGIN_CONFIG) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("origin ", v1::Origin_Name(origin),
                                                 ": an account is declared either through the "
                                                 "API (ORIGIN_API) or in the configuration "
                                                 "(ORIGIN_CONFIG)"));
}

}  // namespace

absl::StatusOr<v1::ProvisionAccountResponse> Broker::Provision(
    const v1::ProvisionAccountRequest& request, v1::Origin origin) {
  const absl::Time started = clock_.Now();
  const v1::AccountRef& ref = request.ref();
  KCRED_RETURN_IF_ERROR(ValidateOrigin(origin));
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  KCRED_ASSIGN_OR_RETURN(const ClusterPtr cluster, FindCluster(ref.cluster()));
  if (!request.has_spec()) {
    return absl::InvalidArgumentError("spec: required: the complete desired spec of the account");
  }
  const v1::AccountSpec& spec = request.spec();
  KCRED_RETURN_IF_ERROR(ValidateSpec(spec, cluster->config, defaults_));
  const TokenPolicy policy = ResolvePolicy(spec, cluster->config, defaults_);
  KCRED_RETURN_IF_ERROR(Admit(ref, spec, cluster->config, policy.grace));
  const std::string account = RefString(ref.cluster(), ref.namespace_(), ref.name());

  AccountKey key{ref.cluster(), ref.namespace_(), ref.name()};
  StatePtr state = AcquireAccount(key);
  ScopeExit guard([this, &key, &state] { ReleaseAccount(key, state); });
  std::optional<AccountRecord> previous;
  {
    absl::MutexLock lock(&state->mu);
    if (state->exists) previous = state->record;
  }
  if (previous.has_value()) {
    KCRED_RETURN_IF_ERROR(
        CheckOwnership(account, previous->account().origin(), origin, Change::kProvision));
  }
  if (!request.expected_etag().empty()) {
    if (request.expected_etag() == "absent") {
      if (previous.has_value()) {
        return absl::AbortedError(absl::StrCat("account ", account,
                                               " already exists (expected_etag \"absent\"); "
                                               "read it and pass its etag to update it"));
      }
    } else if (!previous.has_value() || previous->account().etag() != request.expected_etag()) {
      return absl::AbortedError(absl::StrCat(
          "account ", account, " has etag \"",
          previous.has_value() ? previous->account().etag() : "(absent)", "\", not the expected \"",
          request.expected_etag(), "\"; it changed since you read it: read it again and retry"));
    }
  }
  if (previous.has_value() && previous->deleting()) {
    return absl::FailedPreconditionError(
        absl::StrCat("account ", account,
                     " is being deleted; call DeleteAccount again to finish, then "
                     "provision it anew"));
  }

  Reconcile reconcile{
      *this, *cluster, key, spec, previous.has_value() ? &previous->account().spec() : nullptr, {}};
  KCRED_RETURN_IF_ERROR(reconcile.Plan(previous.has_value() ? &*previous : nullptr));

  const bool spec_changed =
      previous.has_value() &&
      !google::protobuf::util::MessageDifferencer::Equivalent(previous->account().spec(), spec);
  const GenerationRecord* current = previous.has_value() ? CurrentGeneration(*previous) : nullptr;
  const bool expired = current != nullptr && current->has_expire_time() &&
                       FromProto(current->expire_time()) <= clock_.Now();
  // A token dies with its ServiceAccount and with its Secret: when either was deleted or
  // replaced behind kcred's back, the account needs a new token now.
  bool token_dead = false;
  if (current != nullptr) {
    for (const Step& step : reconcile.steps) {
      if (step.resource == Resource::kServiceAccount &&
          (step.action == Step::Action::kCreate ||
           step.uid != previous->account().status().service_account_uid())) {
        token_dead = true;
      }
    }
    absl::StatusOr<json> secret =
        cluster->client->Get(Resource::kSecret, ref.namespace_(), current->secret_name(),
                             clock_.Now() + kKubeCallTimeout);
    if (secret.ok()) {
      token_dead = token_dead || MetaString(*secret, "uid") != current->secret_uid();
    } else if (absl::IsNotFound(secret.status())) {
      token_dead = true;
    } else {
      return Wrap(secret.status(),
                  absl::StrCat("reading Secret ", ref.namespace_(), "/", current->secret_name()));
    }
  }
  const bool needs_token =
      current == nullptr || current->mode() != policy.mode || expired || token_dead;

  v1::ProvisionAccountResponse response;
  if (!previous.has_value()) {
    response.set_outcome(v1::PROVISION_OUTCOME_CREATED);
  } else if (spec_changed || reconcile.HasWrites() || needs_token) {
    response.set_outcome(v1::PROVISION_OUTCOME_UPDATED);
  } else {
    response.set_outcome(v1::PROVISION_OUTCOME_UNCHANGED);
  }

  if (request.validate_only()) {
    for (const Step& step : reconcile.steps) {
      if (step.action == Step::Action::kKeep) continue;
      v1::ObjectChange* change = response.add_changes();
      *change->mutable_object() = MakeRef(step.resource, step.ns, step.name, step.uid);
      change->set_action(Reconcile::ChangeOf(step.action));
    }
    v1::Account* preview = response.mutable_account();
    if (previous.has_value()) *preview = previous->account();
    *preview->mutable_ref() = ref;
    *preview->mutable_spec() = spec;
    preview->set_origin(origin);
    return response;
  }
  if (response.outcome() == v1::PROVISION_OUTCOME_UNCHANGED) {
    if (!previous->account().status().last_error().empty()) {
      // Everything matches the spec again: the earlier failure no longer holds.
      AccountRecord record = *previous;
      record.mutable_account()->mutable_status()->clear_last_error();
      record.mutable_account()->mutable_status()->clear_last_error_time();
      KCRED_RETURN_IF_ERROR(Commit(key, *state, std::move(record), std::nullopt));
      absl::MutexLock lock(&state->mu);
      *previous = state->record;
    }
    *response.mutable_account() = previous->account();
    Logger("broker")->info("account {}: provisioned, unchanged", account);
    return response;
  }

  std::vector<v1::ObjectChange> changes;
  std::vector<ManagedObject> objects;
  std::vector<Step> created;
  bool created_namespace = previous.has_value() && previous->created_namespace();
  // A new account that fails part-way is rolled back; an existing one keeps what was done and
  // records the error (the objects carry its labels, so DeleteAccount finds them).
  auto fail = [&](absl::Status error) {
    if (!previous.has_value()) {
      for (auto it = created.rbegin(); it != created.rend(); ++it) {
        if (it->resource == Resource::kNamespace) continue;  // never deleted by kcred
        absl::Status removed = cluster->client->Delete(it->resource, it->ns, it->name,
                                                       {it->uid, ""}, reconcile.Deadline());
        if (!removed.ok() && !absl::IsNotFound(removed)) {
          Logger("broker")->warn("account {}: rolling back {}: {}", account,
                                 ObjectString(it->resource, it->ns, it->name), removed.message());
        }
      }
      v1::Account attempted;
      *attempted.mutable_ref() = ref;
      *attempted.mutable_spec() = spec;
      attempted.set_origin(origin);
      EmitAccount(v1::EVENT_TYPE_FAILED, std::move(attempted), error.message());
    } else {
      RecordFailure(key, *state, error);
    }
    Logger("broker")->warn("account {}: provisioning failed: {}", account, error.message());
    return error;
  };
  absl::Status applied = reconcile.Apply(changes, objects, created_namespace, created);
  if (!applied.ok()) return fail(applied);

  AccountRecord record;
  if (previous.has_value()) {
    record = *previous;
  } else {
    v1::Account& fresh = *record.mutable_account();
    *fresh.mutable_ref() = ref;
    fresh.set_uid(NewUuid());
    *fresh.mutable_create_time() = ToProto(clock_.Now());
    fresh.set_origin(origin);
  }
  v1::Account& stored = *record.mutable_account();
  *stored.mutable_spec() = spec;
  if (!previous.has_value() || spec_changed) *stored.mutable_update_time() = ToProto(clock_.Now());
  record.clear_objects();
  for (ManagedObject& object : objects) *record.add_objects() = std::move(object);
  record.set_created_namespace(created_namespace);
  stored.mutable_status()->clear_last_error();
  stored.mutable_status()->clear_last_error_time();
  for (const Step& step : reconcile.steps) {
    if (step.resource == Resource::kServiceAccount) {
      stored.mutable_status()->set_service_account_uid(step.uid);
    }
  }

  if (needs_token) {
    if (!previous.has_value()) {
      SecretString token;
      absl::StatusOr<GenerationRecord> issued =
          IssueGeneration(*cluster, key, spec, 1, policy.mode, &token);
      if (!issued.ok()) return fail(issued.status());
      // From here on a failure also takes the token's Secret back (revoking the token).
      Step secret;
      secret.resource = Resource::kSecret;
      secret.ns = ref.namespace_();
      secret.name = issued->secret_name();
      secret.uid = issued->secret_uid();
      created.push_back(std::move(secret));
      absl::StatusOr<Served> served = MakeServed(*cluster, key, *issued, token);
      if (!served.ok()) return fail(served.status());
      *record.add_generations() = *issued;
      absl::Status committed = Commit(key, *state, record, std::move(*served));
      if (!committed.ok()) return fail(committed);
    } else {
      // Commit the reconciled objects first, then rotate to a token of the new mode (or to
      // replace an expired one).
      KCRED_RETURN_IF_ERROR(Commit(key, *state, record, std::nullopt));
      {
        absl::MutexLock lock(&state->mu);
        record = state->record;
      }
      std::optional<Served> served;
      int64_t previous_generation = 0;
      absl::Time revoke_time;
      // A mode change keeps the previous token for its grace; a dead or expired one goes now.
      absl::Status rotated =
          RotateLocked(*cluster, key, *state, record,
                       expired || token_dead ? std::optional<absl::Duration>(absl::ZeroDuration())
                                             : std::nullopt,
                       &served, &previous_generation, &revoke_time);
      if (!rotated.ok()) return fail(rotated);
    }
  } else {
    absl::Status committed = Commit(key, *state, record, std::nullopt);
    if (!committed.ok()) return fail(committed);
  }
  {
    absl::MutexLock lock(&state->mu);
    *response.mutable_account() = state->record.account();
  }
  for (v1::ObjectChange& change : changes) *response.add_changes() = std::move(change);
  const v1::AccountStatus& status = response.account().status();
  Logger("broker")->info(
      "account {}: provisioned ({}, {} object changes), generation {} ({}) in {}", account,
      v1::ProvisionOutcome_Name(response.outcome()), response.changes_size(), status.generation(),
      status.token_fingerprint(), absl::FormatDuration(clock_.Now() - started));
  Emit(previous.has_value() ? v1::EVENT_TYPE_UPDATED : v1::EVENT_TYPE_PROVISIONED, *state,
       v1::ProvisionOutcome_Name(response.outcome()));
  return response;
}

// ----- deletion ------------------------------------------------------------------------------

absl::StatusOr<v1::DeleteAccountResponse> Broker::DeleteAccount(
    const v1::DeleteAccountRequest& request, v1::Origin origin) {
  const absl::Time started = clock_.Now();
  const v1::AccountRef& ref = request.ref();
  KCRED_RETURN_IF_ERROR(ValidateOrigin(origin));
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  KCRED_ASSIGN_OR_RETURN(const ClusterPtr cluster, FindCluster(ref.cluster()));
  const std::string account = RefString(ref.cluster(), ref.namespace_(), ref.name());
  AccountKey key{ref.cluster(), ref.namespace_(), ref.name()};
  StatePtr state = AcquireAccount(key);
  ScopeExit guard([this, &key, &state] { ReleaseAccount(key, state); });
  AccountRecord record;
  {
    absl::MutexLock lock(&state->mu);
    if (!state->exists) return absl::NotFoundError(absl::StrCat("account ", account, " not found"));
    record = state->record;
  }
  KCRED_RETURN_IF_ERROR(
      CheckOwnership(account, record.account().origin(), origin, Change::kDelete));
  if (!request.expected_etag().empty() && request.expected_etag() != record.account().etag()) {
    return absl::AbortedError(absl::StrCat("account ", account, " has etag \"",
                                           record.account().etag(), "\", not the expected \"",
                                           request.expected_etag(), "\"; read it again and retry"));
  }
  if (!record.deleting()) {
    // From here on the account serves no token, also after a restart.
    record.set_deleting(true);
    KCRED_RETURN_IF_ERROR(Commit(key, *state, record, std::nullopt));
    absl::MutexLock lock(&state->mu);
    record = state->record;
  }

  kube::KubeClient& client = *cluster->client;
  const std::string& ns = ref.namespace_();
  v1::DeleteAccountResponse response;
  // (kind, namespace, name) -> uid precondition ("" when found by label and read just now).
  std::map<std::tuple<Resource, std::string, std::string>, std::string> doomed;
  for (const GenerationRecord& g : record.generations()) {
    doomed[{Resource::kSecret, ns, g.secret_name()}] = g.secret_uid();
  }
  for (const ManagedObject& object : record.objects()) {
    KCRED_ASSIGN_OR_RETURN(Resource resource, ResourceOfKind(object.kind()));
    doomed[{resource, object.namespace_(), object.name()}] = object.uid();
  }
  const std::string selector = AccountSelector(ref.cluster(), ns, ref.name());
  auto fail = [&](absl::Status error) {
    RecordFailure(key, *state, error);
    Logger("broker")->warn("account {}: deletion incomplete: {}", account, error.message());
    return error;
  };
  for (Resource resource :
       {Resource::kSecret, Resource::kRoleBinding, Resource::kRole, Resource::kClusterRoleBinding,
        Resource::kClusterRole, Resource::kServiceAccount}) {
    const std::string list_ns = kube::Describe(resource).namespaced ? ns : "";
    absl::StatusOr<std::vector<json>> listed =
        client.List(resource, list_ns, selector, clock_.Now() + kKubeCallTimeout);
    if (!listed.ok()) {
      return fail(Wrap(listed.status(),
                       absl::StrCat("listing the account's ", kube::Describe(resource).plural)));
    }
    // A token_only ServiceAccount is never deleted, even if an earlier spec labelled it.
    if (resource == Resource::kServiceAccount &&
        record.account().spec().access().has_token_only()) {
      continue;
    }
    for (const json& object : *listed) {
      doomed.emplace(std::make_tuple(resource, list_ns, MetaString(object, "name")),
                     MetaString(object, "uid"));
    }
  }
  // Tokens first (their Secrets), then RBAC, the ServiceAccount last.
  for (Resource resource :
       {Resource::kSecret, Resource::kRoleBinding, Resource::kClusterRoleBinding, Resource::kRole,
        Resource::kClusterRole, Resource::kServiceAccount}) {
    for (const auto& [object, uid] : doomed) {
      const auto& [kind, object_ns, object_name] = object;
      if (kind != resource) continue;
      absl::Status removed =
          client.Delete(kind, object_ns, object_name, {uid, ""}, clock_.Now() + kKubeCallTimeout);
      if (removed.ok()) {
        *response.add_deleted_objects() = MakeRef(kind, object_ns, object_name, uid);
      } else if (!absl::IsNotFound(removed) && !absl::IsAborted(removed)) {
        return fail(
            Wrap(removed, absl::StrCat("deleting ", ObjectString(kind, object_ns, object_name))));
      }
    }
  }
  store::Revision revision;
  {
    absl::MutexLock lock(&state->mu);
    revision = state->revision;
  }
  absl::StatusOr<bool> erased = store_.Delete(StoreKey(ref.cluster(), ns, ref.name()),
                                              store::Precondition::ModRevision(revision));
  if (!erased.ok()) {
    return Wrap(erased.status(), absl::StrCat("removing account ", account, " from the store"));
  }
  v1::Account last;
  {
    absl::MutexLock lock(&state->mu);
    last = state->record.account();
    SetExists(*state, false);
    state->served.reset();
    state->record.Clear();
  }
  EmitAccount(v1::EVENT_TYPE_DELETED, std::move(last),
              absl::StrCat(response.deleted_objects_size(), " objects deleted"));
  Logger("broker")->info("account {}: deleted ({} objects removed) in {}", account,
                         response.deleted_objects_size(),
                         absl::FormatDuration(clock_.Now() - started));
  return response;
}

}  // namespace kcred::broker
