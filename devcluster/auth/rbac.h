#pragma once
// RBAC evaluation as Kubernetes' RBAC authorizer does it, plus the bootstrap policy every cluster
// has (system:masters may do anything; every authenticated user may use the self reviews and
// discovery).

#include <string>

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

// The Kubernetes Forbidden message for a denied request, e.g.
// `pods is forbidden: User "system:serviceaccount:ns:x" cannot list resource "pods" in API group ""
// in the namespace "y"` (or `... at the cluster scope`, or the non-resource form).
std::string ForbiddenMessage(const UserInfo& user, const RequestAttributes& attrs);

}  // namespace kcred::devcluster
