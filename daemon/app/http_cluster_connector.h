#pragma once
// kcredd's ClusterConnector: an HttpKubeClient per cluster, authenticated with the cluster's token
// file (re-read by the client whenever it changes) or kubeconfig (read on every Connect).

#include <memory>

#include "common/clock.h"
#include "daemon/app/cluster_connector.h"

namespace kcred::app {

class HttpClusterConnector final : public ClusterConnector {
 public:
  // `clock` must outlive the connector and the clients it makes.
  explicit HttpClusterConnector(Clock& clock) : clock_(clock) {}

  absl::StatusOr<std::shared_ptr<kube::KubeClient>> Connect(
      const config::ClusterConfig& cluster) override;

 private:
  Clock& clock_;
};

}  // namespace kcred::app
