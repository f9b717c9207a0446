#pragma once
// Token issue: one generation of an account's token, and the revocation of one superseded
// generation. Internal to the broker; what is issued is committed by the caller (rotation.cc,
// provisioning.cc).
//
// bound (default): generation g has an anchor Secret (type Opaque, labelled) and a TokenRequest
// token bound to it (boundObjectRef kind Secret, with its uid), expirationSeconds = ttl, audiences.
// Deleting the anchor revokes the token at once, before its expiry.
// legacy: a Secret of type kubernetes.io/service-account-token; the token controller fills its
// data.token, which is waited for (bounded by defaults.legacy_token_wait).
// Either way the generation's Secret is what Revoke deletes.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/secret.h"
#include "daemon/broker/account_records.h"
#include "daemon/config/config.h"
#include "daemon/kube/kube_client.h"
#include "daemon/store/sealer.h"
#include "nlohmann/json.hpp"
#include "proto/kcred/v1/broker.pb.h"
#include "proto/kcred/v1/internal/records.pb.h"

namespace kcred::broker {

struct ClusterHandle;  // broker.h

class TokenIssuer {
 public:
  // `clock` and `sealer` must outlive the issuer.
  TokenIssuer(Clock& clock, const store::Sealer& sealer, config::TokenDefaults defaults);

  // Issues token generation `generation` in `mode` for the account on `cluster` and returns its
  // record (token sealed); the token itself lands in `token`. Nothing is committed. A Secret of
  // this generation left by an earlier attempt is reused when it is kcred's for this account
  // (ALREADY_EXISTS otherwise); on failure the Secret this call created is deleted again.
  // Kubernetes errors keep their code, prefixed with what failed; a legacy token the controller
  // does not fill in time is DEADLINE_EXCEEDED.
  absl::StatusOr<internal::v1::GenerationRecord> Issue(const ClusterHandle& cluster,
                                                       const AccountKey& key,
                                                       const v1::AccountSpec& spec,
                                                       int64_t generation, v1::TokenMode mode,
                                                       SecretString* token) const;

  // Deletes the Secret of a superseded generation, which revokes its token. A Secret already
  // gone, or replaced by another object of the same name (another uid), counts as revoked.
  absl::Status Revoke(const ClusterHandle& cluster, const AccountKey& key,
                      const internal::v1::GenerationRecord& generation) const;

 private:
  // The legacy token in `secret` (as created), polling until the token controller fills it.
  absl::StatusOr<SecretString> WaitForLegacyToken(kube::KubeClient& client, const AccountKey& key,
                                                  const std::string& secret_name,
                                                  nlohmann::json secret) const;

  Clock& clock_;
  const store::Sealer& sealer_;
  const config::TokenDefaults defaults_;
};

}  // namespace kcred::broker
