#pragma once
// kcredd --dev: an embedded kcred-devcluster in a directory of its own, and a configuration that
// points kcredd at it.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/config/config.h"
#include "devcluster/dev_cluster.h"

namespace kcred::app {

struct DevOptions {
  std::string dir;  // empty: a new temporary directory, removed when the DevMode is destroyed
  absl::Duration min_token_ttl = absl::Minutes(10);
};

// Owns the dev cluster: destroying a DevMode stops the cluster, then removes a temporary directory.
class DevMode {
 public:
  // Starts kcred-devcluster in <dir>/cluster and returns, with it, a config with one cluster
  // "dev", a unix socket <dir>/kcredd.sock, state in <dir>/state and a generated sealing key
  // <dir>/sealing.key. `clock` must outlive the DevMode. FailedPrecondition when the directory
  // cannot be made; the dev cluster's errors otherwise.
  static absl::StatusOr<std::unique_ptr<DevMode>> Start(const DevOptions& options, Clock& clock);
  ~DevMode();
  DevMode(const DevMode&) = delete;
  DevMode& operator=(const DevMode&) = delete;

  const std::string& dir() const { return dir_; }  // everything lives here
  const config::Config& config() const { return config_; }
  devcluster::DevCluster& cluster() { return *cluster_; }

  // The commands a newcomer can paste to try kcred against the dev cluster.
  std::string Banner() const;

 private:
  DevMode() = default;

  std::string dir_;
  bool remove_dir_ = false;
  std::unique_ptr<devcluster::DevCluster> cluster_;
  config::Config config_;
};

}  // namespace kcred::app
