#include "daemon/broker/token_issue.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {

using internal::v1::GenerationRecord;
using kube::Resource;
using nlohmann::json;

namespace {

constexpr absl::Duration kLegacyPollInterval = absl::Milliseconds(500);

}  // namespace

TokenIssuer::TokenIssuer(Clock& clock, const store::Sealer& sealer, config::TokenDefaults defaults)
    : clock_(clock), sealer_(sealer), defaults_(defaults) {}

absl::StatusOr<GenerationRecord> TokenIssuer::Issue(const ClusterHandle& cluster,
                                                    const AccountKey& key,
                                                    const v1::AccountSpec& spec, int64_t generation,
                                                    v1::TokenMode mode, SecretString* token) const {
  // Named, not bound, so that the lambda below may capture them.
  const std::string& cluster_name = std::get<0>(key);
  const std::string& ns = std::get<1>(key);
  const std::string& name = std::get<2>(key);
  kube::KubeClient& client = *cluster.client;
  const TokenPolicy policy = ResolvePolicy(spec, cluster.config, defaults_);
  const std::string secret_name = GenerationSecretName(ns, name, generation);
  const std::string secret_string = ObjectString(Resource::kSecret, ns, secret_name);

  bool created_here = false;
  json stored;
  absl::StatusOr<json> created = client.Create(
      Resource::kSecret, TokenSecret(key, spec, generation, mode), clock_.Now() + kKubeCallTimeout);
  if (created.ok()) {
    stored = std::move(*created);
    created_here = true;
  } else if (absl::IsAlreadyExists(created.status())) {
    // Left by an earlier attempt whose answer was lost: reuse it if it is this generation's.
    absl::StatusOr<json> existing =
        client.Get(Resource::kSecret, ns, secret_name, clock_.Now() + kKubeCallTimeout);
    if (!existing.ok()) return Wrap(existing.status(), absl::StrCat("reading ", secret_string));
    if (!OwnedByAccount(*existing, cluster_name, ns, name) ||
        existing->value("type", "") != TokenSecretType(mode)) {
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
        Logger("broker")->warn("account {}: removing {} after a failure: {}", RefString(key),
                               secret_string, removed.message());
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
    absl::StatusOr<SecretString> filled =
        WaitForLegacyToken(client, key, secret_name, std::move(stored));
    if (!filled.ok()) return discard(filled.status());
    *token = *std::move(filled);
  }
  *record.mutable_issue_time() = ToProto(issue_time);
  record.set_token_fingerprint(token->fingerprint());
  absl::StatusOr<std::string> sealed =
      sealer_.Seal(*token, SealingContext(StoreKey(key), generation));
  if (!sealed.ok()) {
    return discard(
        Wrap(sealed.status(), absl::StrCat("sealing the token of generation ", generation)));
  }
  record.set_sealed_token(std::move(*sealed));
  return record;
}

absl::StatusOr<SecretString> TokenIssuer::WaitForLegacyToken(kube::KubeClient& client,
                                                             const AccountKey& key,
                                                             const std::string& secret_name,
                                                             json secret) const {
  const std::string& ns = std::get<1>(key);
  const std::string secret_string = ObjectString(Resource::kSecret, ns, secret_name);
  // The token controller fills data.token shortly after the Secret is created.
  const absl::Time give_up = clock_.Now() + defaults_.legacy_token_wait;
  for (;;) {
    if (secret.contains("data") && secret["data"].is_object() && secret["data"].contains("token") &&
        secret["data"]["token"].is_string()) {
      std::string decoded;
      if (!absl::Base64Unescape(secret["data"]["token"].get<std::string>(), &decoded) ||
          decoded.empty()) {
        return absl::DataLossError(absl::StrCat(secret_string, ": data.token is not valid base64"));
      }
      return SecretString(std::move(decoded));
    }
    if (clock_.Now() >= give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the token controller did not fill ", secret_string, " within ",
          absl::FormatDuration(defaults_.legacy_token_wait),
          "; check that kube-controller-manager runs its token controller, or use bound "
          "tokens (TOKEN_MODE_BOUND)"));
    }
    clock_.SleepFor(kLegacyPollInterval);
    absl::StatusOr<json> polled =
        client.Get(Resource::kSecret, ns, secret_name, clock_.Now() + kKubeCallTimeout);
    if (!polled.ok()) {
      return Wrap(polled.status(), absl::StrCat("waiting for the token in ", secret_string));
    }
    secret = std::move(*polled);
  }
}

absl::Status TokenIssuer::Revoke(const ClusterHandle& cluster, const AccountKey& key,
                                 const GenerationRecord& generation) const {
  const std::string& ns = std::get<1>(key);
  absl::Status deleted =
      cluster.client->Delete(Resource::kSecret, ns, generation.secret_name(),
                             {generation.secret_uid(), ""}, clock_.Now() + kKubeCallTimeout);
  // NotFound: already gone. Aborted: the name now holds another object (a different uid), which
  // is not ours to delete; the token bound to the old one is revoked either way.
  if (deleted.ok() || absl::IsNotFound(deleted) || absl::IsAborted(deleted)) {
    return absl::OkStatus();
  }
  return Wrap(deleted, absl::StrCat("revoking generation ", generation.generation(),
                                    ": deleting Secret ", ns, "/", generation.secret_name()));
}

}  // namespace kcred::broker
