#include "devcluster/resources.h"

#include "absl/strings/str_cat.h"
#include "common/names.h"

namespace kcred::devcluster {
namespace {

const std::vector<std::string> kObjectVerbs = {"create", "delete", "deletecollection", "get",
                                               "list",   "patch",  "update",           "watch"};
const std::vector<std::string> kCreateOnly = {"create"};

std::vector<ResourceInfo> BuildResources() {
  const std::string rbac = "rbac.authorization.k8s.io";
  std::vector<ResourceInfo> r;
  auto add = [&r](std::string group, std::string resource, std::string singular, std::string kind,
                  bool namespaced, bool stored, NameRule rule, std::vector<std::string> verbs,
                  std::vector<std::string> short_names) {
    ResourceInfo info;
    info.group = std::move(group);
    info.version = "v1";
    info.resource = std::move(resource);
    info.singular = std::move(singular);
    info.kind = std::move(kind);
    info.namespaced = namespaced;
    info.stored = stored;
    info.name_rule = rule;
    info.verbs = std::move(verbs);
    info.short_names = std::move(short_names);
    r.push_back(std::move(info));
  };
  const auto sub = NameRule::kDns1123Subdomain;
  add("", "namespaces", "namespace", "Namespace", false, true, NameRule::kDns1123Label,
      {"create", "delete", "get", "list", "patch", "update", "watch"}, {"ns"});
  add("", "serviceaccounts", "serviceaccount", "ServiceAccount", true, true, sub, kObjectVerbs,
      {"sa"});
  add("", "secrets", "secret", "Secret", true, true, sub, kObjectVerbs, {});
  add("", "configmaps", "configmap", "ConfigMap", true, true, sub, kObjectVerbs, {"cm"});
  add("", "services", "service", "Service", true, true, NameRule::kDns1123Label, kObjectVerbs,
      {"svc"});
  add("", "pods", "pod", "Pod", true, true, sub, kObjectVerbs, {"po"});
  add(rbac, "roles", "role", "Role", true, true, NameRule::kPathSegment, kObjectVerbs, {});
  add(rbac, "rolebindings", "rolebinding", "RoleBinding", true, true, NameRule::kPathSegment,
      kObjectVerbs, {});
  add(rbac, "clusterroles", "clusterrole", "ClusterRole", false, true, NameRule::kPathSegment,
      kObjectVerbs, {});
  add(rbac, "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false, true,
      NameRule::kPathSegment, kObjectVerbs, {});
  add("coordination.k8s.io", "leases", "lease", "Lease", true, true, sub, kObjectVerbs, {});
  add("authentication.k8s.io", "tokenreviews", "tokenreview", "TokenReview", false, false, sub,
      kCreateOnly, {});
  add("authentication.k8s.io", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview",
      false, false, sub, kCreateOnly, {});
  add("authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectaccessreview",
      "SelfSubjectAccessReview", false, false, sub, kCreateOnly, {});
  add("authorization.k8s.io", "subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview",
      false, false, sub, kCreateOnly, {});
  add("authorization.k8s.io", "localsubjectaccessreviews", "localsubjectaccessreview",
      "LocalSubjectAccessReview", true, false, sub, kCreateOnly, {});
  return r;
}

}  // namespace

std::string ResourceInfo::GroupVersion() const {
  return group.empty() ? version : absl::StrCat(group, "/", version);
}

std::string ResourceInfo::GroupResource() const {
  return group.empty() ? resource : absl::StrCat(resource, ".", group);
}

std::string ResourceInfo::GroupKind() const {
  return group.empty() ? kind : absl::StrCat(kind, ".", group);
}

absl::Status ResourceInfo::ValidateName(absl::string_view name) const {
  switch (name_rule) {
    case NameRule::kDns1123Label:
      return kcred::ValidateDns1123Label(name, "metadata.name");
    case NameRule::kDns1123Subdomain:
      return kcred::ValidateDns1123Subdomain(name, "metadata.name");
    case NameRule::kPathSegment:
      return kcred::ValidatePathSegmentName(name, "metadata.name");
  }
  return absl::OkStatus();
}

const std::vector<GroupVersionInfo>& ServedGroupVersions() {
  static const auto* gvs = new std::vector<GroupVersionInfo>{
      {"", "v1"},
      {"rbac.authorization.k8s.io", "v1"},
      {"coordination.k8s.io", "v1"},
      {"authentication.k8s.io", "v1"},
      {"authorization.k8s.io", "v1"},
  };
  return *gvs;
}

const std::vector<ResourceInfo>& AllResources() {
  static const auto* resources = new std::vector<ResourceInfo>(BuildResources());
  return *resources;
}

const ResourceInfo* FindResource(absl::string_view group, absl::string_view plural) {
  for (const ResourceInfo& info : AllResources()) {
    if (info.group == group && info.resource == plural) return &info;
  }
  return nullptr;
}

const ResourceInfo& TokenRequestInfo() {
  static const ResourceInfo* info = [] {
    auto* r = new ResourceInfo;
    r->group = "authentication.k8s.io";
    r->version = "v1";
    r->resource = "tokenrequests";
    r->kind = "TokenRequest";
    r->stored = false;
    r->verbs = kCreateOnly;
    return r;
  }();
  return *info;
}

const ResourceInfo* FindResourceByKind(absl::string_view api_version, absl::string_view kind) {
  for (const ResourceInfo& info : AllResources()) {
    if (info.GroupVersion() == api_version && info.kind == kind) return &info;
  }
  return nullptr;
}

}  // namespace kcred::devcluster
