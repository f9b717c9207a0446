// Broker::RotateToken: issue generation g+1, commit it as current, and schedule generation g's
// revocation after the grace period (at once when it is zero).

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/admission.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/ownership.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::GenerationRecord;

absl::StatusOr<v1::RotateTokenResponse> Broker::RotateToken(const v1::RotateTokenRequest& request,
                                                            v1::Origin requester) {
  const v1::AccountRef& ref = request.ref();
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  KCRED_ASSIGN_OR_RETURN(const ClusterPtr cluster, clusters_.Find(ref.cluster()));
  std::optional<absl::Duration> grace;
  if (request.has_grace()) {
    grace = FromProto(request.grace());
    if (*grace < absl::ZeroDuration()) {
      return absl::InvalidArgumentError("grace: must not be negative; zero revokes at once");
    }
    KCRED_RETURN_IF_ERROR(AdmitGrace(cluster->config, *grace));
  }
  LockedAccount account(accounts_, KeyOf(ref));
  AccountState& state = account.state();
  AccountRecord record;
  {
    absl::MutexLock lock(&state.mu);
    if (!state.exists) {
      return absl::NotFoundError(
          absl::StrCat("account ", RefString(ref), " not found; provision it first"));
    }
    record = state.record;
  }
  const absl::Duration effective_grace =
      grace.value_or(ResolvePolicy(record.account().spec(), cluster->config, defaults_).grace);
  KCRED_RETURN_IF_ERROR(CheckOwnership(RefString(ref), record.account().origin(), requester,
                                       Change::kRotate, effective_grace));
  if (record.deleting()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "account ", RefString(ref), " is being deleted; call DeleteAccount again to finish"));
  }
  int64_t previous = 0;
  absl::Time revoke_time;
  absl::Status rotated = RotateLocked(*cluster, account, record, grace, &previous, &revoke_time);
  if (!rotated.ok()) {
    RecordFailure(account, rotated);
    return rotated;
  }
  if (!request.reason().empty()) {
    Logger("broker")->info("account {}: rotation reason: {}", RefString(ref), request.reason());
  }
  v1::RotateTokenResponse response;
  *response.mutable_account() = record.account();
  response.set_previous_generation(previous);
  if (previous != 0) *response.mutable_previous_revoke_time() = ToProto(revoke_time);
  return response;
}

absl::Status Broker::RotateLocked(const ClusterHandle& cluster, LockedAccount& account,
                                  AccountRecord& record,
                                  std::optional<absl::Duration> grace_override,
                                  int64_t* previous_generation, absl::Time* previous_revoke_time) {
  const AccountKey& key = account.key();
  AccountState& state = account.state();
  const absl::Time started = clock_.Now();
  const v1::AccountSpec& spec = record.account().spec();
  const TokenPolicy policy = ResolvePolicy(spec, cluster.config, defaults_);
  int64_t next = record.account().status().generation() + 1;
  for (const GenerationRecord& g : record.generations()) next = std::max(next, g.generation() + 1);

  SecretString token;
  KCRED_ASSIGN_OR_RETURN(GenerationRecord issued,
                         issuer_.Issue(cluster, key, spec, next, policy.mode, &token));
  Served made = MakeServed(cluster.config, key, issued, token);

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
  KCRED_RETURN_IF_ERROR(Commit(account, record, std::move(made)));
  Logger("broker")->info("account {}: rotated to generation {} ({}) in {}", RefString(key), next,
                         issued.token_fingerprint(), absl::FormatDuration(clock_.Now() - started));
  Emit(v1::EVENT_TYPE_ROTATED, state,
       absl::StrCat("generation ", next, " (", issued.token_fingerprint(), ") is current"));
  if (grace == absl::ZeroDuration() && *previous_generation != 0) {
    absl::Status revoked = RevokeDueLocked(cluster, account);
    if (!revoked.ok()) {
      Logger("broker")->warn("account {}: {}", RefString(key), revoked.message());
    }
  }
  absl::MutexLock lock(&state.mu);
  record = state.record;
  return absl::OkStatus();
}

}  // namespace kcred::broker
