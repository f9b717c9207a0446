#pragma once
// Kubernetes name rules, shared by kcredd (validating requests) and kcred-devcluster (validating
// objects). Each check returns OK or InvalidArgument whose message says what the rule is.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kcred {

// DNS-1123 label: at most 63 characters of [a-z0-9-], starting and ending alphanumeric.
// Namespaces use it. `what` names the input in the error ("namespace", "cluster name", ...).
absl::Status ValidateDns1123Label(absl::string_view value, absl::string_view what);

// DNS-1123 subdomain: at most 253 characters; dot-separated labels of [a-z0-9-] that start and end
// alphanumeric. ServiceAccounts, Secrets, ConfigMaps and Leases use it.
absl::Status ValidateDns1123Subdomain(absl::string_view value, absl::string_view what);

// RBAC object names (Roles, ClusterRoles and bindings): non-empty, not "." or "..", no "/" or "%".
absl::Status ValidatePathSegmentName(absl::string_view value, absl::string_view what);

}  // namespace kcred
