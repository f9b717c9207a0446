#pragma once
// Builds kcredd's parts from a validated Config: the store, the sealer, one API client per cluster
// (through the ClusterConnector seam) and the Broker.

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/app/cluster_connector.h"
#include "daemon/app/context.h"
#include "daemon/broker/broker.h"
#include "daemon/config/config.h"
#include "daemon/store/sealer.h"
#include "daemon/store/store.h"

namespace kcred::app {

// Destroyed in reverse order: the broker before the clients, the sealer and the store it uses.
struct Runtime {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<store::Sealer> sealer;
  // The running handle of each configured cluster (each shares its API client), by name.
  std::map<std::string, broker::ClusterHandle> clusters;
  std::unique_ptr<broker::Broker> broker;  // null when no cluster is configured
};

// The handle of one cluster with the client `connector` makes for it; its errors.
absl::StatusOr<broker::ClusterHandle> ConnectCluster(const config::ClusterConfig& cluster,
                                                     ClusterConnector& connector);

// Opens the store in config.state_dir, loads the sealing key (store.sealing_key_file, or the
// credential in context.environment.credentials_directory), connects the clusters and restores
// every account from the store (no Kubernetes calls). Without clusters: an empty Runtime. Errors
// say what to fix.
absl::StatusOr<Runtime> BuildRuntime(const config::Config& config, const Context& context);

// Creates `dir` (and its parents) if missing and makes it private (mode 0700).
// FailedPrecondition "cannot create <what> <dir>: <reason>".
absl::Status EnsurePrivateDir(const std::string& dir, const std::string& what);

}  // namespace kcred::app
