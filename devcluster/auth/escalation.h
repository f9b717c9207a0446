#pragma once
// Kubernetes' RBAC escalation prevention: a user may create or update a Role or ClusterRole only
// with permissions it holds itself (or with the `escalate` verb), and a RoleBinding or
// ClusterRoleBinding only to a role whose permissions it holds (or with the `bind` verb);
// system:masters may do anything. As kube-apiserver's policybased RBAC storages
// (pkg/registry/rbac) with validation.ConfirmNoEscalation and validation.Covers.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "devcluster/auth/object_reader.h"
#include "devcluster/auth/user_info.h"

namespace kcred::devcluster {

// Kubernetes' validation.Covers: whether the `owner_rules` (a JSON array of PolicyRules) allow all
// that the `servant_rules` grant. Each servant rule is broken down into atomic rules (one verb,
// API group, resource and resource name; or one verb and non-resource URL), and each of those must
// be allowed by a single owner rule, matched as the authorizer matches requests (`*` only by a
// literal `*`). The atomic rules no owner rule covers are appended to `missing` when not null.
bool Covers(const nlohmann::json& owner_rules, const nlohmann::json& servant_rules,
            std::vector<nlohmann::json>* missing = nullptr);

// Kubernetes' ConfirmNoEscalation: nullopt when the rules `user` holds in `namespace_name` (empty:
// the cluster scope, ClusterRoleBindings only) cover `rules`, else kube-apiserver's reason:
// `user "u" (groups=["g"]) is attempting to grant RBAC permissions not currently held:\n{...}`,
// one line per missing permission, with `; resolution errors: [...]` when bindings of the user
// name missing roles. Thread-safe.
std::optional<std::string> ConfirmNoEscalation(const ObjectReader& objects, const UserInfo& user,
                                               const std::string& namespace_name,
                                               const nlohmann::json& rules);

// A create, update (PUT) or patch of an object of the rbac.authorization.k8s.io group.
struct RbacWrite {
  std::string resource;        // roles, clusterroles, rolebindings, clusterrolebindings
  std::string namespace_name;  // the request's namespace; empty for the cluster-scoped kinds
  // The name in the request's URL: empty on create, as in kube-apiserver's RequestInfo, so an
  // `escalate` grant limited by resourceNames never allows a create.
  std::string request_name;
  const nlohmann::json& object;  // the object as it would be stored
  const nlohmann::json* old;     // the stored object on update and patch; nullptr on create
};

// Whether kube-apiserver lets a write through, and if not the metav1.Status it answers.
struct EscalationDecision {
  bool allowed = true;
  int code = 0;            // 403; 404 for a binding to a missing role; 400 or 500 for bad roleRefs
  std::string reason;      // Forbidden, NotFound, BadRequest; "" with 500
  std::string message;     // e.g. `roles.rbac.authorization.k8s.io "x" is forbidden: user ...`
  nlohmann::json details;  // name, group, kind, as kube-apiserver fills them
};

// Decides `write` by `user` as kube-apiserver does after the request's own authorization: Roles
// and ClusterRoles need system:masters, `escalate` on the resource, or rules the user holds in the
// object's scope (and cluster-admin rights for a ClusterRole's aggregationRule); bindings need
// system:masters, `bind` on the referenced role, or that role's rules. An update that changes only
// ownerReferences and finalizers passes. Other resources always pass. Thread-safe.
EscalationDecision CheckEscalation(const ObjectReader& objects, const UserInfo& user,
                                   const RbacWrite& write);

}  // namespace kcred::devcluster
