// Broker::DeleteAccount: revoke every token of the account and delete what kcred created for it,
// tolerating objects already gone, then remove its store record. The record is marked deleting
// first, so that no token is served from then on (also after a restart) and a retry after a
// partial failure finishes the job. Namespaces are never deleted (kube_objects.h).

#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/ownership.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::GenerationRecord;
using internal::v1::ManagedObject;
using kube::Resource;
using nlohmann::json;

absl::StatusOr<v1::DeleteAccountResponse> Broker::DeleteAccount(
    const v1::DeleteAccountRequest& request, v1::Origin origin) {
  const absl::Time started = clock_.Now();
  const v1::AccountRef& ref = request.ref();
  KCRED_RETURN_IF_ERROR(ValidateOrigin(origin));
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  KCRED_ASSIGN_OR_RETURN(const ClusterPtr cluster, clusters_.Find(ref.cluster()));
  const std::string account = RefString(ref);
  LockedAccount locked(accounts_, KeyOf(ref));
  AccountState& state = locked.state();
  AccountRecord record;
  {
    absl::MutexLock lock(&state.mu);
    if (!state.exists) return absl::NotFoundError(absl::StrCat("account ", account, " not found"));
    record = state.record;
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
    KCRED_RETURN_IF_ERROR(Commit(locked, record, std::nullopt));
    absl::MutexLock lock(&state.mu);
    record = state.record;
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
    RecordFailure(locked, error);
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
    absl::MutexLock lock(&state.mu);
    revision = state.revision;
  }
  absl::StatusOr<bool> erased =
      store_.Delete(StoreKey(locked.key()), store::Precondition::ModRevision(revision));
  if (!erased.ok()) {
    return Wrap(erased.status(), absl::StrCat("removing account ", account, " from the store"));
  }
  v1::Account last;
  {
    absl::MutexLock lock(&state.mu);
    last = state.record.account();
    accounts_.SetExists(state, false);
    state.serving.served.reset();
    state.record.Clear();
  }
  EmitAccount(v1::EVENT_TYPE_DELETED, std::move(last),
              absl::StrCat(response.deleted_objects_size(), " objects deleted"));
  Logger("broker")->info("account {}: deleted ({} objects removed) in {}", account,
                         response.deleted_objects_size(),
                         absl::FormatDuration(clock_.Now() - started));
  return response;
}

}  // namespace kcred::broker
