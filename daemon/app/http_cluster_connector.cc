#include "daemon/app/http_cluster_connector.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "daemon/kube/credential.h"
#include "daemon/kube/http_kube_client.h"

namespace kcred::app {
namespace {

absl::StatusOr<kube::CredentialPtr> ClusterCredential(const config::ClusterConfig& cluster) {
  if (!cluster.credential.token_file.empty()) {
    return kube::CredentialPtr(
        std::make_shared<kube::TokenFileCredential>(cluster.credential.token_file));
  }
  auto target = kube::LoadKubeconfig(cluster.credential.kubeconfig_file,
                                     cluster.credential.kubeconfig_context);
  if (!target.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster \"", cluster.name, "\": ", target.status().message()));
  }
  return target->credential;
}

}  // namespace

absl::StatusOr<std::shared_ptr<kube::KubeClient>> HttpClusterConnector::Connect(
    const config::ClusterConfig& cluster) {
  KCRED_ASSIGN_OR_RETURN(kube::CredentialPtr credential, ClusterCredential(cluster));
  kube::HttpKubeClientOptions options;
  options.cluster_name = cluster.name;
  options.server = cluster.server;
  options.ca_pem = cluster.ca_pem;
  options.credential = std::move(credential);
  options.qps = cluster.qps;
  options.burst = cluster.burst;
  KCRED_ASSIGN_OR_RETURN(auto client, kube::HttpKubeClient::Create(std::move(options), clock_));
  return std::shared_ptr<kube::KubeClient>(std::move(client));
}

}  // namespace kcred::app
