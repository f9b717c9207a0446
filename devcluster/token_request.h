#pragma once
// TokenRequest (POST serviceaccounts/<name>/token): a bound ServiceAccount token (RS256 JWT) with
// kube-apiserver's rules for expirationSeconds (default 1 hour, at least the configured minimum,
// at most 2^32 s, shortened to the configured maximum with a Warning header), the audiences (the
// API server's by default) and an optional bound Secret (boundObjectRef) whose deletion revokes
// the token.

#include <spdlog/logger.h>

#include <memory>

#include "absl/status/status.h"
#include "common/clock.h"
#include "devcluster/api_request.h"
#include "devcluster/api_server_config.h"
#include "devcluster/auth/tokens.h"
#include "devcluster/object_store.h"

namespace kcred::devcluster {

class TokenRequestHandler {
 public:
  // All references must outlive the handler; `config` is read at each call.
  TokenRequestHandler(const ApiServerConfig& config, ObjectStore& store,
                      const ServiceAccountTokens& tokens, const Clock& clock,
                      std::shared_ptr<spdlog::logger> logger);

  // Answers a request routed to Handler::kTokenRequest (routing.h): 201 with the TokenRequest
  // and its token, or NotFound (ServiceAccount, bound Secret), Invalid (expirationSeconds),
  // BadRequest (a bound object other than a Secret), Conflict (bound Secret uid mismatch).
  // Thread-safe.
  absl::Status Serve(ApiRequest& request);

 private:
  const ApiServerConfig& config_;
  ObjectStore& store_;
  const ServiceAccountTokens& tokens_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace kcred::devcluster
