#pragma once
// The KubeClient seam: kcredd's typed access to one Kubernetes API server. Production code uses
// HttpKubeClient (http_kube_client.h); tests of other components use FakeKubeClient
// (fake_kube_client.h). Objects travel as nlohmann::json in Kubernetes JSON form.
//
// Errors (both implementations, see kube_status.h): 404 NotFound, 409 AlreadyExists ->
// AlreadyExists, 409 Conflict (stale resourceVersion, failed precondition) -> Aborted, 400/422 ->
// InvalidArgument, 403 PermissionDenied, 401 Unauthenticated, 429 ResourceExhausted, 5xx and
// connection failures Unavailable, the deadline DeadlineExceeded. Messages carry the server's
// message and the request ("GET /api/v1/..."), never a token. KubeReason() gives the server's
// reason ("AlreadyExists", "Conflict", ...) when there was one.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/secret.h"
#include "daemon/kube/resource.h"
#include "nlohmann/json.hpp"

namespace kcred::kube {

// Preconditions for Delete: when set, the server deletes only if the object still has this uid /
// resourceVersion (else 409 Conflict -> Aborted).
struct DeletePreconditions {
  std::string uid;
  std::string resource_version;
};

// A TokenRequest for a ServiceAccount, optionally bound to a Secret so that deleting the Secret
// revokes the token.
struct TokenRequestSpec {
  std::vector<std::string> audiences;  // empty: the API server's default audiences
  absl::Duration expiration = absl::Hours(1);
  std::string bound_secret_name;  // empty: not bound
  std::string bound_secret_uid;   // empty: the server uses the current Secret's uid
};

struct IssuedToken {
  SecretString token;
  absl::Time expiration;               // status.expirationTimestamp
  std::vector<std::string> audiences;  // spec.audiences as the server answered them
};

// What the API server says of a token (TokenReview): whether it authenticates, as whom, or why
// not. Never holds the token.
struct TokenReviewResult {
  bool authenticated = false;
  std::string username;  // "system:serviceaccount:<ns>:<name>" when authenticated
  std::string error;     // the server's reason when not authenticated (may be empty)
};

struct ServerVersion {
  std::string major;
  std::string minor;
  std::string git_version;  // "v1.31.0"
  std::string platform;
};

// Every call takes a deadline for the whole call, retries included. absl::InfiniteFuture() means
// "the implementation's default call timeout". All methods are thread-safe.
class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // Reads one object. NotFound when it does not exist.
  virtual absl::StatusOr<nlohmann::json> Get(Resource resource, const std::string& namespace_name,
                                             const std::string& name, absl::Time deadline) = 0;

  // Lists objects whose labels match `label_selector` (Kubernetes syntax, e.g.
  // "app.kubernetes.io/managed-by=kcred,kcred.io/account=x"; empty matches all). An empty
  // namespace lists a namespaced kind across all namespaces. Pages are followed; the result holds
  // every item.
  virtual absl::StatusOr<std::vector<nlohmann::json>> List(Resource resource,
                                                           const std::string& namespace_name,
                                                           const std::string& label_selector,
                                                           absl::Time deadline) = 0;

  // Creates `object` (metadata.name and, for namespaced kinds, metadata.namespace required;
  // apiVersion/kind are filled in when absent). Returns the object as stored (uid,
  // resourceVersion, creationTimestamp). AlreadyExists when the name is taken; NotFound when the
  // namespace is missing.
  virtual absl::StatusOr<nlohmann::json> Create(Resource resource, const nlohmann::json& object,
                                                absl::Time deadline) = 0;

  // Replaces `object` (PUT). metadata.resourceVersion is required (InvalidArgument otherwise): an
  // unconditional update could overwrite a change made since the read. Aborted (reason Conflict)
  // when it is stale; NotFound when the object is gone.
  virtual absl::StatusOr<nlohmann::json> Update(Resource resource, const nlohmann::json& object,
                                                absl::Time deadline) = 0;

  // Deletes one object. NotFound when it does not exist (the caller decides whether that is fine);
  // Aborted when a precondition does not hold.
  virtual absl::Status Delete(Resource resource, const std::string& namespace_name,
                              const std::string& name, const DeletePreconditions& preconditions,
                              absl::Time deadline) = 0;

  // Requests a token for ServiceAccount `namespace_name`/`service_account`.
  virtual absl::StatusOr<IssuedToken> CreateToken(const std::string& namespace_name,
                                                  const std::string& service_account,
                                                  const TokenRequestSpec& spec,
                                                  absl::Time deadline) = 0;

  // Asks the API server whether `token` authenticates for `audiences` (empty: the server's
  // default audiences) with a TokenReview (POST /apis/authentication.k8s.io/v1/tokenreviews; the
  // caller's credential needs `create` on tokenreviews). A token that does not authenticate is an
  // answer (authenticated false), not an error.
  virtual absl::StatusOr<TokenReviewResult> ReviewToken(const SecretString& token,
                                                        const std::vector<std::string>& audiences,
                                                        absl::Time deadline) = 0;

  // GET /version: the API server's version; also the reachability probe.
  virtual absl::StatusOr<ServerVersion> GetServerVersion(absl::Time deadline) = 0;

  // For shutdown: calls in progress end promptly (a retry wait is cut short, a transfer is
  // aborted) and every later call fails at once, all with CANCELLED. Irreversible.
  virtual void Cancel() = 0;
};

using KubeClientPtr = std::unique_ptr<KubeClient>;

}  // namespace kcred::kube
