#pragma once
// The Kubernetes kinds kcredd touches, and the one place where their REST paths are built.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kcred::kube {

enum class Resource {
  kNamespace,
  kServiceAccount,
  kSecret,
  kRole,
  kClusterRole,
  kRoleBinding,
  kClusterRoleBinding,
};

struct ResourceInfo {
  absl::string_view group;    // "" for the core group
  absl::string_view version;  // "v1"
  absl::string_view plural;   // "serviceaccounts": the path segment and the RBAC resource name
  absl::string_view kind;     // "ServiceAccount"
  bool namespaced;
};

// Static facts about `resource`.
const ResourceInfo& Describe(Resource resource);

// "v1" or "rbac.authorization.k8s.io/v1": the apiVersion field of objects of this kind.
std::string ApiVersion(Resource resource);

// "serviceaccounts" or "roles.rbac.authorization.k8s.io": how the API server names the resource in
// its messages ("roles.rbac.authorization.k8s.io \"x\" not found").
std::string QualifiedPlural(Resource resource);

// The collection path, e.g. /api/v1/namespaces/ns/secrets. For a namespaced kind an empty
// `namespace_name` gives the all-namespaces collection; for a cluster-scoped kind it must be empty.
// InvalidArgument when the namespace does not fit the kind.
absl::StatusOr<std::string> CollectionPath(Resource resource, absl::string_view namespace_name);

// The object path, e.g. /apis/rbac.authorization.k8s.io/v1/clusterroles/x. A namespaced kind needs
// a namespace, a cluster-scoped kind must have none, and the name must be a non-empty path segment
// ("." and ".." are refused); otherwise InvalidArgument.
absl::StatusOr<std::string> ObjectPath(Resource resource, absl::string_view namespace_name,
                                       absl::string_view name);

// Percent-encodes everything but RFC 3986 unreserved characters, for a path segment or a query
// value.
std::string EscapeUrlComponent(absl::string_view text);

// Kubernetes timestamps: RFC 3339 in UTC, whole seconds ("2025-01-01T01:00:00Z").
std::string FormatKubeTime(absl::Time time);
// Parses any RFC 3339 timestamp (fractions and offsets allowed). InvalidArgument otherwise.
absl::StatusOr<absl::Time> ParseKubeTime(absl::string_view text);

}  // namespace kcred::kube
