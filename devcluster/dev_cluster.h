#pragma once
// kcred-devcluster as a library: a Kubernetes-API-compatible HTTPS server that real kubectl and
// client libraries work against, for trying and testing kcred without a cluster. kcredd embeds it
// for its dev mode; the kcred-devcluster binary wires flags to it.
//
//   DevClusterOptions options;
//   options.data_dir = "/tmp/dev";
//   auto cluster = DevCluster::Start(options);   // serving once this returns
//   ... (*cluster)->admin_kubeconfig_path() ...
//   (*cluster)->Stop();

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/secret.h"
#include "devcluster/faults.h"

namespace kcred::devcluster {

struct DevClusterOptions {
  // host:port to listen on; port 0 picks a free port. IPv6 as [::1]:0.
  std::string listen = "127.0.0.1:0";
  // Where keys, certificates, the admin token and objects live across restarts. Empty: a fresh
  // temporary directory, removed by Stop().
  std::string data_dir;
  // The token issuer (iss) and default audience.
  std::string issuer = "https://kubernetes.default.svc.cluster.local";
  // Caps TokenRequest lifetimes like --service-account-max-token-expiration; zero: no cap.
  absl::Duration max_token_expiration = absl::ZeroDuration();
  // The shortest TokenRequest lifetime accepted (Kubernetes: 10 minutes).
  absl::Duration min_token_expiration = absl::Seconds(600);
  // Faults from the start (tests may also set them at run time through /kcred-dev/faults).
  FaultConfig faults;
  // Worker threads; each kept-alive connection or watch holds one while it lasts.
  int threads = 64;
};

class DevCluster {
 public:
  // Creates or loads the data directory, starts serving and returns once the server accepts
  // connections; then `<data_dir>/address` holds the bound host:port. `clock` (optional, must
  // outlive the cluster) is the time source for tokens and timestamps.
  static absl::StatusOr<std::unique_ptr<DevCluster>> Start(const DevClusterOptions& options,
                                                           Clock* clock = nullptr);
  ~DevCluster();
  DevCluster(const DevCluster&) = delete;
  DevCluster& operator=(const DevCluster&) = delete;

  // The bound address, host:port ("127.0.0.1:34567" or "[::1]:34567").
  const std::string& address() const;
  // https://<address>
  std::string server_url() const;
  // The CA certificate (PEM) that signed the serving certificate.
  const std::string& ca_pem() const;
  // A bearer token for the cluster admin (group system:masters).
  const kcred::SecretString& admin_token() const;
  const std::string& data_dir() const;
  // <data_dir>/admin.kubeconfig (mode 0600).
  std::string admin_kubeconfig_path() const;

  // Stops serving (ends watches, closes connections) and waits for the server thread. Idempotent;
  // the destructor calls it.
  void Stop();

 private:
  struct Impl;
  explicit DevCluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcred::devcluster
