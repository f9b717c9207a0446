#pragma once
// The configured clusters, which can be replaced while the broker runs (Broker::UpdateClusters,
// on a config reload; defined in cluster_registry.cc). Operations hold a shared reference to the
// handle they started with and finish with it, so a replaced handle and its client live until the
// last of them is done; served kubeconfigs follow the new configuration at once
// (served_credentials.h). Accounts of a cluster that is no longer configured stay loaded (and in
// the store) but are not served, until the cluster comes back. Internal to the broker.

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace kcred::broker {

struct ClusterHandle;  // broker.h
using ClusterPtr = std::shared_ptr<const ClusterHandle>;

// A new cluster set, shared: INVALID_ARGUMENT, naming the cluster, when one has no name or no
// client, or when a name is listed twice.
absl::StatusOr<std::vector<ClusterPtr>> MakeClusterSet(std::vector<ClusterHandle> clusters);

// What changed between two cluster sets, by name (each list in the order of its set; `added` in
// name order).
struct ClusterChanges {
  std::vector<std::string> added;
  std::vector<std::string> changed;  // same name, another configuration
  std::vector<std::string> removed;
};
ClusterChanges DiffClusters(const std::vector<ClusterPtr>& before,
                            const std::vector<ClusterPtr>& after);

// Why the accounts of a cluster missing from the configuration are not served.
std::string ClusterGoneReason(absl::string_view cluster);

class ClusterRegistry {
 public:
  // Names should be unique (the first of a name is found); MakeClusterSet checks a new set.
  explicit ClusterRegistry(std::vector<ClusterHandle> clusters);

  // The current handle of a configured cluster: INVALID_ARGUMENT when `name` is empty, NOT_FOUND
  // naming the known clusters when it is not configured. The caller keeps the handle for its
  // whole operation.
  absl::StatusOr<ClusterPtr> Find(const std::string& name) const;
  // The current handle, or null when `name` is not configured.
  ClusterPtr Lookup(const std::string& name) const;
  // The current set, in its order.
  std::vector<ClusterPtr> All() const;
  // Installs `clusters` and returns the previous set, which the caller releases once it holds no
  // lock (the last reference to a handle may destroy its client).
  std::vector<ClusterPtr> Replace(std::vector<ClusterPtr> clusters);

 private:
  mutable absl::Mutex mu_;
  std::vector<ClusterPtr> clusters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::broker
