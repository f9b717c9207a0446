#include "daemon/broker/cluster_registry.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/broker.h"

namespace kcred::broker {

ClusterHandle::ClusterHandle(config::ClusterConfig config, std::shared_ptr<kube::KubeClient> client)
    : config(std::move(config)), client(std::move(client)) {}

absl::StatusOr<std::vector<ClusterPtr>> MakeClusterSet(std::vector<ClusterHandle> clusters) {
  std::set<std::string> names;
  std::vector<ClusterPtr> set;
  for (ClusterHandle& cluster : clusters) {
    const std::string name = cluster.config.name;
    if (name.empty() || cluster.client == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cluster \"", name, "\": a cluster needs a name and a client; nothing was changed"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster \"", name,
                       "\" is listed twice; cluster names must be unique; nothing was changed"));
    }
    set.push_back(std::make_shared<const ClusterHandle>(std::move(cluster)));
  }
  return set;
}

ClusterChanges DiffClusters(const std::vector<ClusterPtr>& before,
                            const std::vector<ClusterPtr>& after) {
  std::map<std::string, const ClusterHandle*> fresh;
  for (const ClusterPtr& cluster : after) fresh.emplace(cluster->config.name, cluster.get());
  ClusterChanges changes;
  std::set<std::string> previous_names;
  for (const ClusterPtr& old : before) {
    previous_names.insert(old->config.name);
    auto it = fresh.find(old->config.name);
    if (it == fresh.end()) {
      changes.removed.push_back(old->config.name);
    } else if (old->config != it->second->config) {
      changes.changed.push_back(old->config.name);
    }
  }
  for (const auto& [name, handle] : fresh) {
    if (previous_names.count(name) == 0) changes.added.push_back(name);
  }
  return changes;
}

std::string ClusterGoneReason(absl::string_view cluster) {
  return absl::StrCat("cluster \"", cluster,
                      "\" is no longer configured; add it back to kcredd's configuration to serve "
                      "the account again");
}

ClusterRegistry::ClusterRegistry(std::vector<ClusterHandle> clusters) {
  for (ClusterHandle& cluster : clusters) {
    clusters_.push_back(std::make_shared<const ClusterHandle>(std::move(cluster)));
  }
}

absl::StatusOr<ClusterPtr> ClusterRegistry::Find(const std::string& name) const {
  if (name.empty()) {
    return absl::InvalidArgumentError("ref.cluster: required: the cluster ID from kcredd's config");
  }
  std::vector<std::string> known;
  {
    absl::MutexLock lock(&mu_);
    for (const ClusterPtr& cluster : clusters_) {
      if (cluster->config.name == name) return cluster;
      known.push_back(cluster->config.name);
    }
  }
  return absl::NotFoundError(
      absl::StrCat("cluster \"", name, "\" is not configured; known clusters: ",
                   known.empty() ? std::string("(none)") : absl::StrJoin(known, ", ")));
}

ClusterPtr ClusterRegistry::Lookup(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  for (const ClusterPtr& cluster : clusters_) {
    if (cluster->config.name == name) return cluster;
  }
  return nullptr;
}

std::vector<ClusterPtr> ClusterRegistry::All() const {
  absl::MutexLock lock(&mu_);
  return clusters_;
}

std::vector<ClusterPtr> ClusterRegistry::Replace(std::vector<ClusterPtr> clusters) {
  absl::MutexLock lock(&mu_);
  std::swap(clusters_, clusters);
  return clusters;
}

// ----- Broker::UpdateClusters ----------------------------------------------------------------

namespace {

std::string ListOrNone(const std::vector<std::string>& names) {
  return names.empty() ? std::string("none") : absl::StrJoin(names, ", ");
}

}  // namespace

absl::Status Broker::UpdateClusters(std::vector<ClusterHandle> clusters) {
  KCRED_ASSIGN_OR_RETURN(std::vector<ClusterPtr> set, MakeClusterSet(std::move(clusters)));
  std::map<std::string, ClusterPtr> fresh;
  for (const ClusterPtr& cluster : set) fresh.emplace(cluster->config.name, cluster);

  absl::MutexLock update(&update_mu_);
  // The previous handles stay referenced until this call returns, so that none is destroyed
  // (with its client) while a lock is held; running operations hold their own references.
  const std::vector<ClusterPtr> previous = clusters_.Replace(std::move(set));
  const ClusterChanges changes = DiffClusters(previous, clusters_.All());

  // Then the accounts, each under its short lock (never its operation lock: an operation may be
  // in a long Kubernetes call). Commit looks the cluster up again under the same lock, so an
  // operation that finishes after this pass installs credentials rendered for the new set.
  size_t rerendered = 0, unserved = 0, served_again = 0;
  auto log = Logger("broker");
  for (const auto& [key, state] : accounts_.Snapshot()) {
    auto it = fresh.find(std::get<0>(key));
    const ClusterHandle* cluster = it == fresh.end() ? nullptr : it->second.get();
    absl::MutexLock lock(&state->mu);
    if (!state->exists) continue;
    switch (state->serving.FollowCluster(cluster, sealer_, key, state->record, clock_.Now())) {
      case ServedCache::Followed::kRerendered:
        ++rerendered;
        break;
      case ServedCache::Followed::kUnserved:
        ++unserved;
        break;
      case ServedCache::Followed::kServedAgain:
        ++served_again;
        break;
      case ServedCache::Followed::kStillUnserved:
        log->warn(
            "account {}: cluster \"{}\" is configured again, but the account is not served: {}",
            RefString(key), std::get<0>(key), state->serving.unserved_reason);
        break;
      case ServedCache::Followed::kKept:
        break;
    }
  }
  log->info(
      "clusters updated: added {}; changed {}; removed {}. Accounts: {} kubeconfigs re-rendered, "
      "{} no longer served, {} served again",
      ListOrNone(changes.added), ListOrNone(changes.changed), ListOrNone(changes.removed),
      rerendered, unserved, served_again);
  return absl::OkStatus();
}

}  // namespace kcred::broker
