#include "daemon/broker/revocation.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/parallel.h"
#include "common/status.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/validation.h"
#include "daemon/kube/resource.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::GenerationRecord;
using kube::Resource;
using nlohmann::json;

bool RevocationDue(const AccountRecord& record, absl::Time now) {
  for (const GenerationRecord& g : record.generations()) {
    if (g.has_revoke_time() && FromProto(g.revoke_time()) <= now) return true;
  }
  return false;
}

std::optional<absl::Time> NextRevocation(const AccountRecord& record) {
  std::optional<absl::Time> next;
  for (const GenerationRecord& g : record.generations()) {
    if (g.has_revoke_time()) next = Earlier(next, FromProto(g.revoke_time()));
  }
  return next;
}

std::optional<absl::Time> Earlier(std::optional<absl::Time> a, std::optional<absl::Time> b) {
  if (!a.has_value()) return b;
  if (!b.has_value()) return a;
  return std::min(*a, *b);
}

bool IsOrphanSecret(const json& secret, const AccountRecord& record, absl::Duration grace,
                    absl::Time now) {
  const std::string name = MetaString(secret, "name");
  for (const GenerationRecord& g : record.generations()) {
    if (g.secret_name() == name) return false;
  }
  absl::StatusOr<absl::Time> created = kube::ParseKubeTime(MetaString(secret, "creationTimestamp"));
  // Without a readable age, leave it: it may belong to an operation under way elsewhere.
  return created.ok() && *created + grace <= now;
}

bool IsOrphanObject(Resource resource, const json& object, const AccountKey& key,
                    const AccountRecord* record, absl::Duration grace, absl::Time now) {
  const auto& [cluster_name, ns, name] = key;
  if (!OwnedByAccount(object, cluster_name, ns, name)) return false;
  if (record == nullptr) return true;
  if (resource == Resource::kSecret) return IsOrphanSecret(object, *record, grace, now);
  const std::string kind = KindOf(resource);
  const std::string object_ns = MetaString(object, "namespace");
  const std::string object_name = MetaString(object, "name");
  for (const internal::v1::ManagedObject& managed : record->objects()) {
    if (managed.kind() == kind && managed.namespace_() == object_ns &&
        managed.name() == object_name) {
      return false;
    }
  }
  absl::StatusOr<absl::Time> created = kube::ParseKubeTime(MetaString(object, "creationTimestamp"));
  return created.ok() && *created + grace <= now;
}

// ----- RevokeDue -----------------------------------------------------------------------------

absl::StatusOr<std::optional<absl::Time>> Broker::RevokeDue() {
  const absl::Time now = clock_.Now();
  std::optional<absl::Time> next_due;
  // A quick look first, so accounts with nothing due never wait for a long operation.
  std::vector<std::pair<AccountKey, ClusterPtr>> due;
  for (const auto& [key, snapshot] : accounts_.Snapshot()) {
    {
      absl::MutexLock lock(&snapshot->mu);
      if (!snapshot->exists) continue;
      if (!RevocationDue(snapshot->record, now)) {
        next_due = Earlier(next_due, NextRevocation(snapshot->record));
        continue;
      }
    }
    ClusterPtr cluster = clusters_.Lookup(std::get<0>(key));
    if (cluster == nullptr) continue;  // not served; its record is kept for when it comes back
    due.emplace_back(key, std::move(cluster));
  }
  // After a restart thousands may be due at once: they are revoked kRevokeParallelism at a time
  // (each cluster's client still paces its own requests).
  absl::Mutex mu;
  std::vector<std::string> failures;
  bool cancelled = false;
  ForEachInParallel(due.size(), kRevokeParallelism, [&](size_t i) {
    const auto& [key, cluster] = due[i];
    if (stopping_) {
      absl::MutexLock lock(&mu);
      cancelled = true;
      return;
    }
    LockedAccount account(accounts_, key);
    absl::Status revoked = RevokeDueLocked(*cluster, account);
    std::optional<absl::Time> next;
    {
      AccountState& state = account.state();
      absl::MutexLock lock(&state.mu);
      if (state.exists) next = NextRevocation(state.record);
    }
    absl::MutexLock lock(&mu);
    if (!revoked.ok()) failures.push_back(absl::StrCat(RefString(key), ": ", revoked.message()));
    next_due = Earlier(next_due, next);
  });
  if (cancelled || stopping_) {
    return absl::CancelledError("kcredd is stopping: due revocations resume at the next start");
  }
  if (!failures.empty()) {
    return absl::UnavailableError(
        absl::StrCat("revoking previous tokens failed for ", failures.size(),
                     " account(s); they stay scheduled: ", absl::StrJoin(failures, "; ")));
  }
  return next_due;
}

absl::Status Broker::RevokeDueLocked(const ClusterHandle& cluster, LockedAccount& account) {
  AccountState& state = account.state();
  AccountRecord record;
  {
    absl::MutexLock lock(&state.mu);
    if (!state.exists) return absl::OkStatus();
    record = state.record;
  }
  const absl::Time now = clock_.Now();
  google::protobuf::RepeatedPtrField<GenerationRecord> kept;
  absl::Status failure;
  std::vector<std::string> revoked_messages;
  for (const GenerationRecord& g : record.generations()) {
    if (g.has_revoke_time() && FromProto(g.revoke_time()) <= now) {
      absl::Status revoked = issuer_.Revoke(cluster, account.key(), g);
      if (revoked.ok()) {
        revoked_messages.push_back(
            absl::StrCat("generation ", g.generation(), " (", g.token_fingerprint(), ") revoked"));
        Logger("broker")->info("account {}: revoked generation {} ({})", RefString(account.key()),
                               g.generation(), g.token_fingerprint());
        continue;
      }
      if (failure.ok()) failure = revoked;
    }
    *kept.Add() = g;
  }
  if (!revoked_messages.empty()) {
    *record.mutable_generations() = std::move(kept);
    if (!failure.ok()) {
      v1::AccountStatus& status = *record.mutable_account()->mutable_status();
      status.set_last_error(std::string(failure.message()));
      *status.mutable_last_error_time() = ToProto(now);
    }
    KCRED_RETURN_IF_ERROR(Commit(account, std::move(record), std::nullopt));
    for (const std::string& message : revoked_messages) {
      Emit(v1::EVENT_TYPE_REVOKED, state, message);
    }
  } else if (!failure.ok()) {
    RecordFailure(account, failure);
  }
  return failure;
}

// ----- SweepOrphans --------------------------------------------------------------------------

absl::StatusOr<int> Broker::SweepOrphans() {
  // One List per namespace: the kcred Secrets of all its accounts, grouped by account label.
  std::map<std::pair<std::string, std::string>, std::vector<AccountKey>> namespaces;
  for (const auto& entry : accounts_.Snapshot()) {
    const auto& [cluster_name, ns, name] = entry.first;
    namespaces[{cluster_name, ns}].push_back(entry.first);
  }
  int deleted = 0;
  std::vector<std::string> failures;
  for (const auto& [where, keys] : namespaces) {
    const auto& [cluster_name, ns] = where;
    if (stopping_) return StoppedSweeping(deleted);
    const ClusterPtr cluster = clusters_.Lookup(cluster_name);
    if (cluster == nullptr) continue;
    absl::StatusOr<std::vector<json>> listed =
        cluster->client->List(Resource::kSecret, ns, NamespaceSelector(cluster_name, ns),
                              clock_.Now() + kKubeCallTimeout);
    if (!listed.ok()) {
      if (stopping_) return StoppedSweeping(deleted);
      failures.push_back(
          absl::StrCat(cluster_name, "/", ns, ": listing Secrets: ", listed.status().message()));
      continue;
    }
    std::map<std::string, std::vector<const json*>> by_account;
    for (const json& secret : *listed) {
      by_account[LabelOf(secret, kAccountLabel)].push_back(&secret);
    }
    for (const AccountKey& key : keys) {
      if (stopping_) return StoppedSweeping(deleted);
      const std::string& name = std::get<2>(key);
      auto secrets = by_account.find(LabelValue(name));
      if (secrets == by_account.end()) continue;
      absl::Status swept = SweepAccountLocked(*cluster, key, secrets->second, deleted);
      if (!swept.ok()) failures.push_back(absl::StrCat(RefString(key), ": ", swept.message()));
    }
  }
  if (!failures.empty()) {
    return absl::UnavailableError(
        absl::StrCat("sweeping orphaned token Secrets failed for ", failures.size(),
                     " account(s) or namespace(s): ", absl::StrJoin(failures, "; ")));
  }
  return deleted;
}

absl::Status Broker::SweepAccountLocked(const ClusterHandle& cluster, const AccountKey& key,
                                        const std::vector<const json*>& secrets, int& deleted) {
  const auto& [cluster_name, ns, name] = key;
  // The record is read under the account's lock, after the List: a Secret issued since is not in
  // the list, and one committed since is owned by the record read here.
  LockedAccount account(accounts_, key);
  AccountRecord record;
  {
    absl::MutexLock lock(&account.state().mu);
    if (!account.state().exists) return absl::OkStatus();
    record = account.state().record;
  }
  const TokenPolicy policy = ResolvePolicy(record.account().spec(), cluster.config, defaults_);
  absl::Status failure;
  for (const json* secret : secrets) {
    if (!IsOrphanObject(Resource::kSecret, *secret, key, &record, policy.grace, clock_.Now())) {
      continue;
    }
    const std::string secret_name = MetaString(*secret, "name");
    absl::Status removed =
        cluster.client->Delete(Resource::kSecret, ns, secret_name, {MetaString(*secret, "uid"), ""},
                               clock_.Now() + kKubeCallTimeout);
    if (removed.ok()) {
      ++deleted;
      Logger("broker")->info("account {}: deleted orphaned token Secret {}", RefString(key),
                             secret_name);
    } else if (!absl::IsNotFound(removed) && !absl::IsAborted(removed) && failure.ok()) {
      failure = absl::Status(removed.code(), absl::StrCat("deleting Secret ", ns, "/", secret_name,
                                                          ": ", removed.message()));
    }
  }
  return failure;
}

absl::Status Broker::StoppedSweeping(int deleted) const {
  return absl::CancelledError(absl::StrCat("kcredd is stopping: the orphan sweep stopped after ",
                                           deleted, " deletion(s); the next start sweeps again"));
}

void Broker::Shutdown() {
  stopping_ = true;
  for (const ClusterPtr& cluster : clusters_.All()) {
    if (cluster->client != nullptr) cluster->client->Cancel();
  }
}

}  // namespace kcred::broker
