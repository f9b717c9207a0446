#pragma once
// RBAC evaluation as Kubernetes' RBAC authorizer does it, plus the bootstrap policy every cluster
// has (system:masters may do anything; every authenticated user may use the self reviews and
// discovery).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "devcluster/auth/object_reader.h"
#include "devcluster/auth/user_info.h"

namespace kcred::devcluster {

// What a request wants to do (Kubernetes' authorizer.Attributes).
struct RequestAttributes {
  std::string verb;  // get, list, watch, create, update, patch, delete, deletecollection
  bool resource_request = true;  // false for non-resource URLs such as /version
  std::string api_group;         // "" for core
  std::string api_version;       // "v1"
  std::string resource;          // plural, e.g. "pods"
  std::string subresource;       // e.g. "token", "status"; empty when none
  std::string namespace_name;    // empty for cluster-scoped requests
  std::string name;              // empty for list/create
  std::string path;              // the URL path, for non-resource requests
};

struct Decision {
  bool allowed = false;
  // Why: e.g. `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"`. When denied
  // it is empty, unless a binding naming the user refers to a missing role: then it is
  // kube-apiserver's `RBAC: clusterrole.rbac.authorization.k8s.io "r" not found` (several: `RBAC:
  // [a, b]`), which kube-apiserver appends to the Forbidden message as `<message>: <reason>`.
  std::string reason;
};

// Decides a request with the bootstrap policy and the RBAC objects `objects` holds now.
// Thread-safe.
Decision Authorize(const ObjectReader& objects, const UserInfo& user,
                   const RequestAttributes& attrs);

// Whether one PolicyRule (in its JSON form) allows `attrs`, as Kubernetes' RuleAllows: verbs,
// apiGroups, resources (`resource/subresource`, `*/subresource`), resourceNames (empty matches
// every name) and nonResourceURLs (exact, `*`, or a prefix ending in `*`); `*` matches all.
bool RuleAllows(const nlohmann::json& rule, const RequestAttributes& attrs);

// The role a binding's `role_ref` names, as Kubernetes' GetRoleReferenceRules finds it: a
// ClusterRole, or a Role in `binding_namespace`. nullopt when it does not exist, when a Role is
// named without a namespace (a ClusterRoleBinding), or for any other kind. Thread-safe.
std::optional<nlohmann::json> GetReferencedRole(const ObjectReader& objects,
                                                const nlohmann::json& role_ref,
                                                const std::string& binding_namespace);

// The binding through which a user holds a rule.
struct RuleSource {
  const nlohmann::json& binding;
  const nlohmann::json& subject;         // the binding's first subject that names the user
  const std::string& binding_namespace;  // empty for ClusterRoleBindings
};

// A binding that names the user but whose role cannot be used: missing, a Role referenced without
// a namespace, or a roleRef kind other than Role and ClusterRole.
struct UnresolvedRole {
  const std::string& kind;  // roleRef.kind
  const std::string& name;  // roleRef.name
  const std::string& binding_namespace;
};

// Walks every rule `user` holds in `namespace_name` as kube-apiserver's rule resolver
// (VisitRulesFor) does: the bootstrap policy, every ClusterRoleBinding, then the RoleBindings of
// `namespace_name` (none when it is empty, the cluster scope). `on_rule` gets each rule with its
// source and returns false to stop the walk; `on_unresolved` gets each binding naming the user
// whose role cannot be used. Both the authorizer and the escalation check collect rules this way.
// Thread-safe.
void VisitRulesFor(
    const ObjectReader& objects, const UserInfo& user, const std::string& namespace_name,
    absl::FunctionRef<bool(const RuleSource& source, const nlohmann::json& rule)> on_rule,
    absl::FunctionRef<void(const UnresolvedRole& role)> on_unresolved);

// The Kubernetes Forbidden message for a denied request, e.g.
// `pods is forbidden: User "system:serviceaccount:ns:x" cannot list resource "pods" in API group ""
// in the namespace "y"` (or `... at the cluster scope`, or the non-resource form).
std::string ForbiddenMessage(const UserInfo& user, const RequestAttributes& attrs);

// apierrors.NewForbidden's message: `<resource>[.<group>] ["<name>"] is forbidden: <cause>`, or
// `forbidden: <cause>` without a resource.
std::string ForbiddenStatusMessage(absl::string_view api_group, absl::string_view resource,
                                   absl::string_view name, absl::string_view cause);

}  // namespace kcred::devcluster
