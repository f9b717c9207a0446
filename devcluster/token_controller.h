#pragma once
// Kubernetes' legacy ServiceAccount token controller, run inline after the writes it reacts to
// rather than as a loop: a created Secret of type kubernetes.io/service-account-token that names
// its ServiceAccount in the kubernetes.io/service-account.name annotation gets data.token (a
// legacy JWT), data.ca.crt, data.namespace and the uid annotation; deleting a ServiceAccount
// deletes its token Secrets.

#include <spdlog/logger.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "devcluster/api_server_config.h"
#include "devcluster/auth/tokens.h"
#include "devcluster/object_store.h"

namespace kcred::devcluster {

inline constexpr char kServiceAccountTokenType[] = "kubernetes.io/service-account-token";
inline constexpr char kServiceAccountNameAnnotation[] = "kubernetes.io/service-account.name";
inline constexpr char kServiceAccountUidAnnotation[] = "kubernetes.io/service-account.uid";

class TokenController {
 public:
  // All references must outlive the controller; `config` is read at each call (its ca_pem).
  TokenController(const ApiServerConfig& config, ObjectStore& store,
                  const ServiceAccountTokens& tokens, std::shared_ptr<spdlog::logger> logger);

  // Whether `object` (a Secret) is a legacy token Secret the controller fills.
  static bool IsTokenSecret(const nlohmann::json& secret);

  // Fills the created token Secret `secret` and stores it; returns the stored Secret, or `secret`
  // unchanged (with a warning in the log) when its ServiceAccount does not exist. Store errors
  // (the Secret changed or went away meanwhile) are returned. Thread-safe.
  absl::StatusOr<nlohmann::json> FillSecret(const nlohmann::json& secret);

  // Deletes the token Secrets in `ns` that name the deleted ServiceAccount `name`. Thread-safe.
  void ServiceAccountDeleted(const std::string& ns, const std::string& name);

 private:
  const ApiServerConfig& config_;
  ObjectStore& store_;
  const ServiceAccountTokens& tokens_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace kcred::devcluster
