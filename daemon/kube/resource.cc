#include "daemon/kube/resource.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kcred::kube {
namespace {

constexpr absl::string_view kRbacGroup = "rbac.authorization.k8s.io";

const ResourceInfo kNamespaceInfo{"", "v1", "namespaces", "Namespace", false};
const ResourceInfo kServiceAccountInfo{"", "v1", "serviceaccounts", "ServiceAccount", true};
const ResourceInfo kSecretInfo{"", "v1", "secrets", "Secret", true};
const ResourceInfo kRoleInfo{kRbacGroup, "v1", "roles", "Role", true};
const ResourceInfo kClusterRoleInfo{kRbacGroup, "v1", "clusterroles", "ClusterRole", false};
const ResourceInfo kRoleBindingInfo{kRbacGroup, "v1", "rolebindings", "RoleBinding", true};
const ResourceInfo kClusterRoleBindingInfo{kRbacGroup, "v1", "clusterrolebindings",
                                           "ClusterRoleBinding", false};

std::string GroupVersionPrefix(const ResourceInfo& info) {
  if (info.group.empty()) return absl::StrCat("/api/", info.version);
  return absl::StrCat("/apis/", info.group, "/", info.version);
}

}  // namespace

const ResourceInfo& Describe(Resource resource) {
  switch (resource) {
    case Resource::kNamespace:
      return kNamespaceInfo;
    case Resource::kServiceAccount:
      return kServiceAccountInfo;
    case Resource::kSecret:
      return kSecretInfo;
    case Resource::kRole:
      return kRoleInfo;
    case Resource::kClusterRole:
      return kClusterRoleInfo;
    case Resource::kRoleBinding:
      return kRoleBindingInfo;
    case Resource::kClusterRoleBinding:
      return kClusterRoleBindingInfo;
  }
  return kNamespaceInfo;  // unreachable: every enumerator is handled above
}

std::string ApiVersion(Resource resource) {
  const ResourceInfo& info = Describe(resource);
  if (info.group.empty()) return std::string(info.version);
  return absl::StrCat(info.group, "/", info.version);
}

std::string QualifiedPlural(Resource resource) {
  const ResourceInfo& info = Describe(resource);
  if (info.group.empty()) return std::string(info.plural);
  return absl::StrCat(info.plural, ".", info.group);
}

std::string EscapeUrlComponent(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

absl::StatusOr<std::string> CollectionPath(Resource resource, absl::string_view namespace_name) {
  const ResourceInfo& info = Describe(resource);
  if (!info.namespaced && !namespace_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(QualifiedPlural(resource), " are cluster-scoped: namespace \"", namespace_name,
                     "\" given; pass an empty namespace"));
  }
  if (namespace_name == "." || namespace_name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("namespace \"", namespace_name, "\" is not a valid name"));
  }
  if (namespace_name.empty()) return absl::StrCat(GroupVersionPrefix(info), "/", info.plural);
  return absl::StrCat(GroupVersionPrefix(info), "/namespaces/", EscapeUrlComponent(namespace_name),
                      "/", info.plural);
}

absl::StatusOr<std::string> ObjectPath(Resource resource, absl::string_view namespace_name,
                                       absl::string_view name) {
  const ResourceInfo& info = Describe(resource);
  if (info.namespaced && namespace_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        QualifiedPlural(resource), " are namespaced: a namespace is required for \"", name, "\""));
  }
  if (name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat(QualifiedPlural(resource), ": name \"", name,
                                                   "\" is not valid; give the object's name"));
  }
  absl::StatusOr<std::string> collection = CollectionPath(resource, namespace_name);
  if (!collection.ok()) return collection.status();
  return absl::StrCat(*collection, "/", EscapeUrlComponent(name));
}

std::string FormatKubeTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseKubeTime(absl::string_view text) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("timestamp \"", text, "\" is not RFC 3339: ", error));
  }
  return time;
}

}  // namespace kcred::kube
