#include "daemon/broker/served_credentials.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/cluster_registry.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::GenerationRecord;

bool Render(const config::ClusterConfig& cluster, const AccountKey& key, Served& served) {
  const auto& [cluster_name, ns, name] = key;
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

Served MakeServed(const config::ClusterConfig& cluster, const AccountKey& key,
                  const GenerationRecord& generation, const SecretString& token) {
  Served served;
  served.token = token;
  served.generation = generation.generation();
  served.fingerprint = generation.token_fingerprint();
  served.issue_time = FromProto(generation.issue_time());
  if (generation.has_expire_time()) served.expire_time = FromProto(generation.expire_time());
  Render(cluster, key, served);
  return served;
}

std::optional<Served> OpenServed(const store::Sealer& sealer, const config::ClusterConfig& cluster,
                                 const AccountKey& key, const AccountRecord& record,
                                 std::string* unserved) {
  const GenerationRecord* current = CurrentGeneration(record);
  if (record.deleting()) {
    *unserved = "the account is being deleted";
    return std::nullopt;
  }
  if (current == nullptr) {
    *unserved = "the account has no token yet";
    return std::nullopt;
  }
  absl::StatusOr<SecretString> token =
      sealer.Open(current->sealed_token(), SealingContext(StoreKey(key), current->generation()));
  if (!token.ok()) {
    *unserved = absl::StrCat("the stored token of generation ", current->generation(),
                             " cannot be opened (", token.status().message(),
                             "); rotate the account's token");
    return std::nullopt;
  }
  Served made = MakeServed(cluster, key, *current, *token);
  made.next_rotation_time = FromProto(record.account().status().next_rotation_time());
  return made;
}

void ServedCache::Serve(Served fresh) {
  served = std::move(fresh);
  unserved_reason.clear();
  cluster_missing = false;
}

void ServedCache::Withhold(std::string reason) {
  served.reset();
  unserved_reason = std::move(reason);
}

void ServedCache::ClusterGone(absl::string_view cluster, absl::Time now) {
  served.reset();
  if (!cluster_missing) cluster_missing_since = now;
  cluster_missing = true;
  unserved_reason = ClusterGoneReason(cluster);
}

ServedCache::Followed ServedCache::FollowCluster(const ClusterHandle* cluster,
                                                 const store::Sealer& sealer, const AccountKey& key,
                                                 const AccountRecord& record, absl::Time now) {
  if (cluster == nullptr) {
    if (cluster_missing) return Followed::kKept;
    ClusterGone(std::get<0>(key), now);
    return Followed::kUnserved;
  }
  if (cluster_missing) {
    // Its token was never opened, or was dropped with the cluster: open the stored one.
    std::string reason;
    served = OpenServed(sealer, cluster->config, key, record, &reason);
    unserved_reason = reason;
    cluster_missing = false;
    return served.has_value() ? Followed::kServedAgain : Followed::kStillUnserved;
  }
  if (served.has_value() && Render(cluster->config, key, *served)) return Followed::kRerendered;
  return Followed::kKept;
}

absl::StatusOr<Served> ServedCache::Current(absl::string_view account, absl::string_view last_error,
                                            absl::Time now) const {
  if (!served.has_value()) {
    return absl::UnavailableError(
        absl::StrCat("account ", account, " has no token to serve: ", unserved_reason,
                     last_error.empty() ? "" : absl::StrCat("; last error: ", last_error)));
  }
  if (now >= served->expire_time) {
    return absl::UnavailableError(
        absl::StrCat("the token of account ", account, " (generation ", served->generation,
                     ") expired at ", absl::FormatTime(served->expire_time, absl::UTCTimeZone()),
                     "; last error: ", last_error.empty() ? "(none)" : last_error,
                     ". Rotate it with RotateToken once the cluster is reachable"));
  }
  return *served;
}

}  // namespace kcred::broker
