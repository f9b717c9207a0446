#pragma once
// Validation of broker requests at entry, and the token policy an account's spec resolves to.
// Every error is INVALID_ARGUMENT naming the field and what to fix.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "daemon/config/config.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::broker {

// The token policy of an account: the spec's fields over the server's defaults.
struct TokenPolicy {
  v1::TokenMode mode = v1::TOKEN_MODE_BOUND;  // never UNSPECIFIED
  absl::Duration ttl;
  std::vector<std::string> audiences;  // empty: the API server's default
  std::optional<double> rotate_fraction;
  std::optional<absl::Duration> rotate_interval;  // exactly one of the two is set
  absl::Duration grace;
};

// Namespace (DNS-1123 label) and name (DNS-1123 subdomain) of a ref; the cluster is checked by
// the broker against its configuration.
absl::Status ValidateRefNames(const v1::AccountRef& ref);

// The whole spec against what `cluster` allows: access (rules, role_ref or token_only), scope,
// token policy (ttl in [min_token_ttl, max_token_ttl], rotation point, grace), labels and
// annotations (valid, not under reserved keys).
absl::Status ValidateSpec(const v1::AccountSpec& spec, const config::ClusterConfig& cluster,
                          const config::TokenDefaults& defaults);

// The policy `spec` resolves to (call after ValidateSpec). The default ttl is kept within the
// cluster's bounds.
TokenPolicy ResolvePolicy(const v1::AccountSpec& spec, const config::ClusterConfig& cluster,
                          const config::TokenDefaults& defaults);

// When a token issued at `issue` and expiring at `expire` (InfiniteFuture for legacy tokens)
// should be rotated under `policy`.
absl::Time NextRotationTime(const TokenPolicy& policy, absl::Time issue, absl::Time expire);

// The scope of a spec with the default applied.
v1::Scope EffectiveScope(const v1::AccountSpec& spec);

// Conversions between protobuf well-known types and Abseil time.
absl::Duration FromProto(const google::protobuf::Duration& duration);
absl::Time FromProto(const google::protobuf::Timestamp& timestamp);
google::protobuf::Timestamp ToProto(absl::Time time);

}  // namespace kcred::broker
