#pragma once
// Builds kcredd's parts from a validated Config: the store, the sealer, one KubeClient per cluster
// and the Broker; and, for dev mode, an embedded kcred-devcluster with a config pointing at it.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "daemon/broker/broker.h"
#include "daemon/config/config.h"
#include "daemon/kube/kube_client.h"
#include "daemon/store/sealer.h"
#include "daemon/store/store.h"
#include "devcluster/dev_cluster.h"

namespace kcred {

struct Runtime {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<store::Sealer> sealer;
  // The running handle of each configured cluster (each owns its API client), by name.
  std::map<std::string, broker::ClusterHandle> clusters;
  std::unique_ptr<broker::Broker> broker;  // null when no cluster is configured
};

// kcredd's API client for one cluster (its credential loaded, not yet contacted), as a handle
// that owns the client. InvalidArgument naming the cluster when the credential cannot be loaded.
absl::StatusOr<broker::ClusterHandle> ConnectCluster(const config::ClusterConfig& cluster,
                                                     Clock& clock);

// Opens the store in config.state_dir, loads the sealing key, connects the clusters and restores
// every account from the store (no Kubernetes calls). Errors say what to fix.
absl::StatusOr<Runtime> BuildRuntime(const config::Config& config, Clock& clock);

struct DevMode {
  std::string dir;  // everything lives here
  bool remove_dir = false;
  std::unique_ptr<devcluster::DevCluster> cluster;
  config::Config config;
};

struct DevOptions {
  std::string dir;  // empty: a new temporary directory, removed at exit
  absl::Duration min_token_ttl = absl::Minutes(10);
};

// Starts kcred-devcluster in <dir>/cluster and returns a config with one cluster "dev", a unix
// socket <dir>/kcredd.sock, state in <dir>/state and a generated sealing key <dir>/sealing.key.
absl::StatusOr<DevMode> StartDevMode(const DevOptions& options, Clock& clock);

// The commands a newcomer can paste to try kcred against the dev cluster.
std::string DevModeBanner(const DevMode& dev);

}  // namespace kcred
