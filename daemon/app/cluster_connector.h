#pragma once
// The ClusterConnector seam: how kcredd gets its API client for a configured cluster. kcredd uses
// HttpClusterConnector (http_cluster_connector.h); tests hand out fake clients.

#include <memory>

#include "absl/status/statusor.h"
#include "daemon/config/config.h"
#include "daemon/kube/kube_client.h"

namespace kcred::app {

class ClusterConnector {
 public:
  virtual ~ClusterConnector() = default;

  // kcredd's API client for `cluster`: its credential loaded, the server not contacted yet.
  // InvalidArgument naming the cluster when the credential cannot be loaded. Called at start and
  // by each reload that adds or changes a cluster, never from two threads at once.
  virtual absl::StatusOr<std::shared_ptr<kube::KubeClient>> Connect(
      const config::ClusterConfig& cluster) = 0;
};

}  // namespace kcred::app
