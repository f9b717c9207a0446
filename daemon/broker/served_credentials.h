#pragma once
// The credentials an account serves: its current token and the kubeconfig rendered around it,
// kept in memory so that GetKubeconfig and GetToken make no Kubernetes call and no store read.
// Internal to the broker.
//
// A kubeconfig is rendered with the cluster's configuration as it is now: when UpdateClusters
// changes a cluster, its accounts' kubeconfigs are rendered again (same token); when it removes
// one, they are not served until the cluster comes back, and then the stored token is opened again.
// An expired token is never served.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/kubeconfig.h"
#include "common/secret.h"
#include "daemon/broker/account_records.h"
#include "daemon/config/config.h"
#include "daemon/store/sealer.h"
#include "proto/kcred/v1/internal/records.pb.h"

namespace kcred::broker {

struct ClusterHandle;  // broker.h

struct Served {
  SecretString token;
  int64_t generation = 0;
  std::string fingerprint;
  absl::Time issue_time;
  absl::Time expire_time = absl::InfiniteFuture();
  absl::Time next_rotation_time;
  SecretString kubeconfig;  // holds the token
  KubeconfigEntry entry;    // names, server and CA; the token field is left empty
};

// Renders `served`'s kubeconfig (its token, the cluster's server, CA and entry names from the
// templates); returns false, leaving it as it was, when it was already rendered so.
bool Render(const config::ClusterConfig& cluster, const AccountKey& key, Served& served);

// The served credentials of `generation` with its `token`, rendered for `cluster`.
Served MakeServed(const config::ClusterConfig& cluster, const AccountKey& key,
                  const internal::v1::GenerationRecord& generation, const SecretString& token);

// The served credentials of a stored record, its current token opened from the sealed copy, or
// nullopt with the reason in `unserved` (being deleted, no token yet, token cannot be opened).
std::optional<Served> OpenServed(const store::Sealer& sealer, const config::ClusterConfig& cluster,
                                 const AccountKey& key, const internal::v1::AccountRecord& record,
                                 std::string* unserved);

// What one account serves now, or why it serves nothing.
struct ServedCache {
  std::optional<Served> served;
  std::string unserved_reason;  // set whenever `served` is empty
  // Unserved because its cluster is not configured (since then); served again when the cluster
  // comes back.
  bool cluster_missing = false;
  absl::Time cluster_missing_since;

  // Serves `fresh` (already rendered for the cluster as configured now).
  void Serve(Served fresh);
  // Serves nothing, for `reason`.
  void Withhold(std::string reason);
  // Serves nothing because `cluster` is no longer configured; the first time, since `now`.
  void ClusterGone(absl::string_view cluster, absl::Time now);

  enum class Followed { kKept, kRerendered, kUnserved, kServedAgain, kStillUnserved };
  // Follows a change of the cluster set for an account stored as `record`: `cluster` is its
  // cluster's handle now, null when it is no longer configured. kRerendered: the kubeconfig was
  // rendered again for a changed configuration; kUnserved: the cluster is gone; kServedAgain: the
  // cluster came back and the stored token was opened; kStillUnserved: it came back, but the token
  // cannot be served (see unserved_reason); kKept: nothing changed. No Kubernetes call.
  Followed FollowCluster(const ClusterHandle* cluster, const store::Sealer& sealer,
                         const AccountKey& key, const internal::v1::AccountRecord& record,
                         absl::Time now);

  // A copy of the credentials to serve at `now` to a caller asking for `account`: UNAVAILABLE,
  // with the reason and the account's `last_error`, when there are none or the token has expired.
  absl::StatusOr<Served> Current(absl::string_view account, absl::string_view last_error,
                                 absl::Time now) const;
};

}  // namespace kcred::broker
