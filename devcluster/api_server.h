#pragma once
// The Kubernetes REST API over the object store: routing, authentication (bearer tokens),
// authorization (RBAC), discovery, object verbs, watch streams, TokenRequest, the review kinds,
// the legacy token controller, fault injection and the access log. Transport-independent apart
// from cpp-httplib's request and response types.

#include <httplib.h>
#include <spdlog/logger.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/secret.h"
#include "devcluster/auth/rbac.h"
#include "devcluster/auth/tokens.h"
#include "devcluster/auth/user_info.h"
#include "devcluster/faults.h"
#include "devcluster/object_store.h"
#include "devcluster/resources.h"

namespace kcred::devcluster {

struct ApiServerConfig {
  kcred::SecretString admin_token;
  std::string admin_user = "kcred:admin";
  std::string ca_pem;                      // written into legacy token Secrets (data.ca.crt)
  std::vector<std::string> api_audiences;  // the issuer by default
  absl::Duration min_token_expiration = absl::Seconds(600);
  absl::Duration max_token_expiration = absl::ZeroDuration();  // zero: no cap
  absl::Duration max_watch_timeout = absl::Minutes(30);
  std::string server_address;  // host:port, for /api's serverAddressByClientCIDRs
};

class ApiServer {
 public:
  // All references must outlive the server.
  ApiServer(ApiServerConfig config, ObjectStore& store, const ServiceAccountTokens& tokens,
            FaultInjector& faults, Clock& clock, std::shared_ptr<spdlog::logger> logger);

  // Creates the namespaces every cluster has (default, kube-system, kube-public) if missing.
  absl::Status Bootstrap();

  // Answers one HTTP request (any method and path). Thread-safe.
  void Handle(const httplib::Request& request, httplib::Response& response);

  void set_server_address(std::string address) { config_.server_address = std::move(address); }

 private:
  struct Call;  // one request in flight

  absl::StatusOr<UserInfo> Authenticate(const httplib::Request& request) const;
  absl::Status Route(Call& call);
  absl::Status Dispatch(Call& call);
  absl::Status ServeNonResource(Call& call);
  absl::Status ServeOpenApiV3(Call& call, const std::string& path);
  absl::Status ServeFaults(Call& call);
  absl::Status ServeObjects(Call& call);
  absl::Status ServeWatch(Call& call);
  absl::Status ServeTokenRequest(Call& call);
  absl::Status ServeReview(Call& call);
  absl::StatusOr<nlohmann::json> ReadBody(const Call& call) const;
  // Defaults and validation of `object` before a create or update (`old` is the current object
  // on update, null on create).
  absl::Status PrepareObject(const ResourceInfo& info, nlohmann::json& object,
                             const nlohmann::json& old) const;
  // The legacy token controller: fills a kubernetes.io/service-account-token Secret.
  absl::StatusOr<nlohmann::json> FillLegacyTokenSecret(const nlohmann::json& secret);
  absl::Status AfterDelete(const ResourceInfo& info, const std::string& ns,
                           const nlohmann::json& deleted);
  nlohmann::json Discovery(const GroupVersionInfo& gv) const;

  ApiServerConfig config_;
  ObjectStore& store_;
  const ServiceAccountTokens& tokens_;
  FaultInjector& faults_;
  Clock& clock_;
  std::shared_ptr<spdlog::logger> logger_;
};

// The JSON form of a UserInfo (username, uid, groups, extra), as reviews answer it.
nlohmann::json UserInfoToJson(const UserInfo& user);

}  // namespace kcred::devcluster
