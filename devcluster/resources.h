#pragma once
// The resources the dev cluster serves: their group, version, kind, scope and name rules. One table
// drives routing, discovery, validation and error messages.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kcred::devcluster {

enum class NameRule { kDns1123Label, kDns1123Subdomain, kPathSegment };

struct ResourceInfo {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string resource;  // plural, e.g. "serviceaccounts"
  std::string singular;  // e.g. "serviceaccount"
  std::string kind;      // e.g. "ServiceAccount"
  bool namespaced = true;
  bool stored = true;  // false for virtual kinds (reviews, TokenRequest)
  NameRule name_rule = NameRule::kDns1123Subdomain;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;

  // "v1" or "rbac.authorization.k8s.io/v1".
  std::string GroupVersion() const;
  // "serviceaccounts" or "roles.rbac.authorization.k8s.io", as Kubernetes error messages name it.
  std::string GroupResource() const;
  // "ServiceAccount" or "Role.rbac.authorization.k8s.io", as Invalid messages name it.
  std::string GroupKind() const;
  // OK, or InvalidArgument with the Kubernetes detail ("a lowercase RFC 1123 subdomain must ...").
  absl::Status ValidateName(absl::string_view name) const;
};

struct GroupVersionInfo {
  std::string group;
  std::string version;
};

// Every group-version served, core first.
const std::vector<GroupVersionInfo>& ServedGroupVersions();
// Every resource served, in discovery order.
const std::vector<ResourceInfo>& AllResources();
// The resource `plural` in group `group` (version v1), or nullptr.
const ResourceInfo* FindResource(absl::string_view group, absl::string_view plural);
// The TokenRequest subresource (serviceaccounts/<name>/token; group authentication.k8s.io, kind
// TokenRequest), for discovery and its error messages. Not in AllResources: it is not a resource
// of its own.
const ResourceInfo& TokenRequestInfo();
// The stored resource of `kind` in `api_version` ("v1", "rbac.authorization.k8s.io/v1"), or
// nullptr.
const ResourceInfo* FindResourceByKind(absl::string_view api_version, absl::string_view kind);

}  // namespace kcred::devcluster
