// Broker::Provision (ProvisionAccount): apply semantics. Validation and admission at entry, the
// reconcile of the account's objects (reconcile.h), its first token or a new one when the current
// token is dead, expired or of another mode (token_issue.h), and the commit (account_records.h).
// Provisioning is idempotent: the same spec twice changes nothing.

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/uuid.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/admission.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"
#include "daemon/broker/ownership.h"
#include "daemon/broker/reconcile.h"
#include "daemon/broker/validation.h"
#include "google/protobuf/util/message_differencer.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::GenerationRecord;
using internal::v1::ManagedObject;
using kube::Resource;
using nlohmann::json;

namespace {

// expected_etag: "absent" for a new account, or the etag of the account as the caller read it.
absl::Status CheckExpectedEtag(const std::string& expected, const std::string& account,
                               const std::optional<AccountRecord>& previous) {
  if (expected.empty()) return absl::OkStatus();
  if (expected == "absent") {
    if (!previous.has_value()) return absl::OkStatus();
    return absl::AbortedError(absl::StrCat("account ", account,
                                           " already exists (expected_etag \"absent\"); "
                                           "read it and pass its etag to update it"));
  }
  if (previous.has_value() && previous->account().etag() == expected) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat(
      "account ", account, " has etag \"",
      previous.has_value() ? previous->account().etag() : "(absent)", "\", not the expected \"",
      expected, "\"; it changed since you read it: read it again and retry"));
}

}  // namespace

absl::StatusOr<v1::ProvisionAccountResponse> Broker::Provision(
    const v1::ProvisionAccountRequest& request, v1::Origin origin) {
  const absl::Time started = clock_.Now();
  const v1::AccountRef& ref = request.ref();
  KCRED_RETURN_IF_ERROR(ValidateOrigin(origin));
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  KCRED_ASSIGN_OR_RETURN(const ClusterPtr cluster, clusters_.Find(ref.cluster()));
  if (!request.has_spec()) {
    return absl::InvalidArgumentError("spec: required: the complete desired spec of the account");
  }
  const v1::AccountSpec& spec = request.spec();
  KCRED_RETURN_IF_ERROR(ValidateSpec(spec, cluster->config, defaults_));
  const TokenPolicy policy = ResolvePolicy(spec, cluster->config, defaults_);
  KCRED_RETURN_IF_ERROR(Admit(ref, spec, cluster->config, policy.grace));
  const std::string account = RefString(ref);

  LockedAccount locked(accounts_, KeyOf(ref));
  const AccountKey& key = locked.key();
  AccountState& state = locked.state();
  std::optional<AccountRecord> previous;
  {
    absl::MutexLock lock(&state.mu);
    if (state.exists) previous = state.record;
  }
  if (previous.has_value()) {
    KCRED_RETURN_IF_ERROR(
        CheckOwnership(account, previous->account().origin(), origin, Change::kProvision));
  }
  KCRED_RETURN_IF_ERROR(CheckExpectedEtag(request.expected_etag(), account, previous));
  if (previous.has_value() && previous->deleting()) {
    return absl::FailedPreconditionError(
        absl::StrCat("account ", account,
                     " is being deleted; call DeleteAccount again to finish, then "
                     "provision it anew"));
  }

  Reconcile reconcile(clock_, *cluster, key, spec, previous.has_value() ? &*previous : nullptr);
  KCRED_RETURN_IF_ERROR(reconcile.Plan());

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
    token_dead =
        reconcile.ServiceAccountReplaced(previous->account().status().service_account_uid());
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
    for (v1::ObjectChange& change : reconcile.Preview())
      *response.add_changes() = std::move(change);
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
      KCRED_RETURN_IF_ERROR(Commit(locked, std::move(record), std::nullopt));
      absl::MutexLock lock(&state.mu);
      *previous = state.record;
    }
    *response.mutable_account() = previous->account();
    Logger("broker")->info("account {}: provisioned, unchanged", account);
    return response;
  }

  Reconcile::Applied applied;
  applied.created_namespace = previous.has_value() && previous->created_namespace();
  // A new account that fails part-way is rolled back; an existing one keeps what was done and
  // records the error (the objects carry its labels, so DeleteAccount finds them).
  auto fail = [&](absl::Status error) {
    if (!previous.has_value()) {
      reconcile.Rollback(applied.created);
      v1::Account attempted;
      *attempted.mutable_ref() = ref;
      *attempted.mutable_spec() = spec;
      attempted.set_origin(origin);
      EmitAccount(v1::EVENT_TYPE_FAILED, std::move(attempted), error.message());
    } else {
      RecordFailure(locked, error);
    }
    Logger("broker")->warn("account {}: provisioning failed: {}", account, error.message());
    return error;
  };
  absl::Status reconciled = reconcile.Apply(applied);
  if (!reconciled.ok()) return fail(reconciled);

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
  for (ManagedObject& object : applied.objects) *record.add_objects() = std::move(object);
  record.set_created_namespace(applied.created_namespace);
  stored.mutable_status()->clear_last_error();
  stored.mutable_status()->clear_last_error_time();
  stored.mutable_status()->set_service_account_uid(reconcile.ServiceAccountUid());

  if (needs_token) {
    if (!previous.has_value()) {
      SecretString token;
      absl::StatusOr<GenerationRecord> issued =
          issuer_.Issue(*cluster, key, spec, 1, policy.mode, &token);
      if (!issued.ok()) return fail(issued.status());
      // From here on a failure also takes the token's Secret back (revoking the token).
      Step secret;
      secret.resource = Resource::kSecret;
      secret.ns = ref.namespace_();
      secret.name = issued->secret_name();
      secret.uid = issued->secret_uid();
      applied.created.push_back(std::move(secret));
      *record.add_generations() = *issued;
      absl::Status committed =
          Commit(locked, record, MakeServed(cluster->config, key, *issued, token));
      if (!committed.ok()) return fail(committed);
    } else {
      // Commit the reconciled objects first, then rotate to a token of the new mode (or to
      // replace an expired one).
      KCRED_RETURN_IF_ERROR(Commit(locked, record, std::nullopt));
      {
        absl::MutexLock lock(&state.mu);
        record = state.record;
      }
      int64_t previous_generation = 0;
      absl::Time revoke_time;
      // A mode change keeps the previous token for its grace; a dead or expired one goes now.
      absl::Status rotated =
          RotateLocked(*cluster, locked, record,
                       expired || token_dead ? std::optional<absl::Duration>(absl::ZeroDuration())
                                             : std::nullopt,
                       &previous_generation, &revoke_time);
      if (!rotated.ok()) return fail(rotated);
    }
  } else {
    absl::Status committed = Commit(locked, record, std::nullopt);
    if (!committed.ok()) return fail(committed);
  }
  {
    absl::MutexLock lock(&state.mu);
    *response.mutable_account() = state.record.account();
  }
  for (v1::ObjectChange& change : applied.changes) *response.add_changes() = std::move(change);
  const v1::AccountStatus& status = response.account().status();
  Logger("broker")->info(
      "account {}: provisioned ({}, {} object changes), generation {} ({}) in {}", account,
      v1::ProvisionOutcome_Name(response.outcome()), response.changes_size(), status.generation(),
      status.token_fingerprint(), absl::FormatDuration(clock_.Now() - started));
  Emit(previous.has_value() ? v1::EVENT_TYPE_UPDATED : v1::EVENT_TYPE_PROVISIONED, state,
       v1::ProvisionOutcome_Name(response.outcome()));
  return response;
}

}  // namespace kcred::broker
