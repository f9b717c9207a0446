#pragma once
// Authentication of the dev cluster's API requests: bearer tokens only, as kube-apiserver with
// --anonymous-auth=false. The admin token (compared in constant time) is the cluster admin, in
// group system:masters; every other token must be a ServiceAccount token this server issued
// (TokenRequest JWTs and legacy Secret tokens, auth/tokens.h).

#include <httplib.h>
#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "devcluster/api_server_config.h"
#include "devcluster/auth/object_reader.h"
#include "devcluster/auth/tokens.h"
#include "devcluster/auth/user_info.h"

namespace kcred::devcluster {

class Authenticator {
 public:
  // All references must outlive the authenticator; `config` is read at each call.
  Authenticator(const ApiServerConfig& config, const ServiceAccountTokens& tokens,
                const ObjectReader& objects, const Clock& clock,
                std::shared_ptr<spdlog::logger> logger);

  // The user of a request's "Authorization: Bearer <token>" header, for the API server's
  // audiences. Kubernetes' bare 401 Unauthorized otherwise, whatever was wrong (the reason is
  // logged at debug level with the token's fingerprint). Thread-safe.
  absl::StatusOr<UserInfo> AuthenticateRequest(const httplib::Request& request) const;

  // The user `token` stands for when presented to `audiences` (TokenReview). Unauthenticated
  // with the reason otherwise. Thread-safe.
  absl::StatusOr<UserInfo> AuthenticateToken(absl::string_view token,
                                             const std::vector<std::string>& audiences) const;

 private:
  const ApiServerConfig& config_;
  const ServiceAccountTokens& tokens_;
  const ObjectReader& objects_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace kcred::devcluster
