#pragma once
// The review kinds, answered at once and never stored: TokenReview (authenticate a token),
// SelfSubjectReview (kubectl auth whoami), SelfSubjectAccessReview (kubectl auth can-i),
// SubjectAccessReview and LocalSubjectAccessReview (RBAC decisions for another user).

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "devcluster/api_request.h"
#include "devcluster/api_server_config.h"
#include "devcluster/auth/object_reader.h"
#include "devcluster/auth/user_info.h"
#include "devcluster/authenticator.h"

namespace kcred::devcluster {

// The JSON form of a UserInfo (username, uid, groups, extra), as reviews answer it.
nlohmann::json UserInfoToJson(const UserInfo& user);

class ReviewHandler {
 public:
  // All references must outlive the handler; `config` is read at each call (its audiences).
  ReviewHandler(const ApiServerConfig& config, const ObjectReader& objects,
                const Authenticator& authenticator);

  // Answers a request routed to Handler::kReview (routing.h): 201 with the review and its status,
  // Invalid for a spec Kubernetes refuses, MethodNotAllowed for anything but a create.
  // Thread-safe.
  absl::Status Serve(ApiRequest& request);

 private:
  absl::StatusOr<nlohmann::json> TokenReviewStatus(const ResourceInfo& info,
                                                   const nlohmann::json& spec) const;
  // The status of a SubjectAccessReview or LocalSubjectAccessReview: RBAC's decision for the
  // user the spec names.
  absl::StatusOr<nlohmann::json> SubjectAccessReviewStatus(const ApiRequest& request,
                                                           const nlohmann::json& spec) const;

  const ApiServerConfig& config_;
  const ObjectReader& objects_;
  const Authenticator& authenticator_;
};

}  // namespace kcred::devcluster
