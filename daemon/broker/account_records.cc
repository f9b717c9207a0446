#include "daemon/broker/account_records.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::GenerationRecord;
using internal::v1::ManagedObject;
using kube::Resource;

AccountKey KeyOf(const v1::AccountRef& ref) {
  return AccountKey{ref.cluster(), ref.namespace_(), ref.name()};
}

std::string RefString(const AccountKey& key) {
  const auto& [cluster, ns, name] = key;
  return absl::StrCat(cluster, "/", ns, "/", name);
}

std::string RefString(const v1::AccountRef& ref) {
  return absl::StrCat(ref.cluster(), "/", ref.namespace_(), "/", ref.name());
}

std::string StoreKey(const AccountKey& key) {
  return absl::StrCat(kAccountKeyPrefix, RefString(key));
}

std::string SealingContext(absl::string_view store_key, int64_t generation) {
  return absl::StrCat(store_key, "#generation=", generation);
}

absl::StatusOr<AccountRecord> ParseRecord(const store::KeyValue& item) {
  AccountRecord record;
  if (!record.ParseFromString(item.value)) {
    return absl::DataLossError(absl::StrCat("store record \"", item.key,
                                            "\" is not an account record; restore the store "
                                            "from a backup or delete the key"));
  }
  const AccountKey key = KeyOf(record.account().ref());
  if (item.key != StoreKey(key)) {
    return absl::DataLossError(absl::StrCat("store record \"", item.key, "\" names account ",
                                            RefString(key), "; the store is inconsistent"));
  }
  NormalizeOrigin(record);
  return record;
}

const GenerationRecord* CurrentGeneration(const AccountRecord& record) {
  for (const GenerationRecord& g : record.generations()) {
    if (!g.has_revoke_time()) return &g;
  }
  return nullptr;
}

void NormalizeOrigin(AccountRecord& record) {
  if (record.account().origin() == v1::ORIGIN_UNSPECIFIED) {
    record.mutable_account()->set_origin(v1::ORIGIN_API);
  }
}

absl::Status ValidateOrigin(v1::Origin origin) {
  if (origin == v1::ORIGIN_API || origin == v1::ORIGIN_CONFIG) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("origin ", v1::Origin_Name(origin),
                                                 ": an account is declared either through the "
                                                 "API (ORIGIN_API) or in the configuration "
                                                 "(ORIGIN_CONFIG)"));
}

namespace {

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

}  // namespace

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

// ----- compare-and-swap commit ---------------------------------------------------------------

absl::Status Broker::Commit(LockedAccount& account, AccountRecord record,
                            std::optional<Served> served) {
  const AccountKey& key = account.key();
  AccountState& state = account.state();
  const std::string& cluster_name = std::get<0>(key);
  absl::StatusOr<ClusterPtr> cluster = clusters_.Find(cluster_name);
  const config::ClusterConfig fallback;
  TokenPolicy policy = ResolvePolicy(record.account().spec(),
                                     cluster.ok() ? (*cluster)->config : fallback, defaults_);
  RefreshStatus(record, policy, clock_.Now());
  if (served.has_value()) {
    served->next_rotation_time = FromProto(record.account().status().next_rotation_time());
  }
  std::string bytes;
  if (!record.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("serializing the record of account ", RefString(key)));
  }
  bool exists;
  store::Revision revision;
  {
    absl::MutexLock lock(&state.mu);
    exists = state.exists;
    revision = state.revision;
  }
  const std::string store_key = StoreKey(key);
  absl::StatusOr<store::Revision> written = store_.Put(
      store_key, bytes,
      exists ? store::Precondition::ModRevision(revision) : store::Precondition::Absent());
  if (absl::IsAborted(written.status())) {
    // Someone else wrote the record (another kcredd on the same store?). Take the stored
    // version, so that a retry starts from it instead of failing the same way forever.
    ReloadAfterConflict(account);
    return absl::AbortedError(
        absl::StrCat("account ", RefString(key),
                     " was changed in the store by another writer while kcredd worked on it (",
                     written.status().message(), "); kcredd reloaded it: retry the call"));
  }
  if (!written.ok()) {
    return Wrap(written.status(), absl::StrCat("saving account ", RefString(key), " in the store"));
  }
  absl::MutexLock lock(&state.mu);
  accounts_.SetExists(state, true);
  state.revision = *written;
  state.record = std::move(record);
  if (served.has_value()) {
    // Rendered with the handle the operation started with; the cluster may have been changed or
    // removed since (UpdateClusters re-renders what is installed, so look again under the lock).
    const ClusterPtr now = clusters_.Lookup(cluster_name);
    if (now == nullptr) {
      state.serving.ClusterGone(cluster_name, clock_.Now());
    } else {
      Render(now->config, key, *served);
      state.serving.Serve(*std::move(served));
    }
  } else if (state.serving.served.has_value()) {
    state.serving.served->next_rotation_time =
        FromProto(state.record.account().status().next_rotation_time());
  }
  if (state.record.deleting()) state.serving.Withhold("the account is being deleted");
  return absl::OkStatus();
}

void Broker::ReloadAfterConflict(LockedAccount& account) {
  AccountState& state = account.state();
  absl::StatusOr<store::KeyValue> stored = store_.Get(StoreKey(account.key()));
  AccountRecord record;
  absl::MutexLock lock(&state.mu);
  if (!stored.ok() || !record.ParseFromString(stored->value)) {
    // Gone (or unreadable): serve nothing rather than a token the store no longer vouches for.
    accounts_.SetExists(state, false);
    state.revision = 0;
    state.record.Clear();
    state.serving.Withhold("the account's store record was removed by another writer");
    return;
  }
  NormalizeOrigin(record);
  const GenerationRecord* current = CurrentGeneration(record);
  if (state.serving.served.has_value() &&
      (current == nullptr || current->generation() != state.serving.served->generation)) {
    state.serving.Withhold(
        "another writer changed the account's token in the store; rotate it to serve again");
  }
  accounts_.SetExists(state, true);
  state.revision = stored->mod_revision;
  state.record = std::move(record);
}

void Broker::RecordFailure(LockedAccount& account, const absl::Status& error) {
  AccountState& state = account.state();
  AccountRecord record;
  {
    absl::MutexLock lock(&state.mu);
    if (!state.exists) return;
    record = state.record;
  }
  v1::AccountStatus& status = *record.mutable_account()->mutable_status();
  status.set_last_error(std::string(error.message()));
  *status.mutable_last_error_time() = ToProto(clock_.Now());
  absl::Status saved = Commit(account, std::move(record), std::nullopt);
  if (!saved.ok()) {
    Logger("broker")->warn("account {}: recording a failure: {}", RefString(account.key()),
                           saved.message());
  }
  Emit(v1::EVENT_TYPE_FAILED, state, error.message());
}

}  // namespace kcred::broker
