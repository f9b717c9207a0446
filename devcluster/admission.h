#pragma once
// What kube-apiserver does to an object between decoding a write and storing it, for the kinds
// served here: defaulting and validation (its registry strategies) and RBAC escalation prevention.

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "devcluster/auth/object_reader.h"
#include "devcluster/auth/rbac.h"
#include "devcluster/auth/user_info.h"
#include "devcluster/resources.h"

namespace kcred::devcluster {

// Defaults and validates `object` before a create or update (`old` is the stored object on
// update, null on create): namespaces get their name label, finalizer and phase; Secrets their
// type, checked base64 data and stringData merged in; legacy token Secrets need their
// ServiceAccount annotation; RBAC rules and bindings and Lease durations are validated; the type
// of a Secret and the roleRef of a binding are immutable. Errors are Kubernetes' 400 and 422
// (api_error.h) with kube-apiserver's messages.
absl::Status PrepareObject(const ResourceInfo& info, nlohmann::json& object,
                           const nlohmann::json& old);

// kube-apiserver's RBAC escalation prevention (auth/escalation.h) for a write of `object` (`old`:
// the stored object, null on create) to one of the four RBAC kinds; OK for other kinds. It runs
// after the request's own authorization and before validation, as there. Thread-safe.
absl::Status ConfirmNoEscalation(const ObjectReader& objects, const UserInfo& user,
                                 const ResourceInfo& info, const RequestAttributes& attrs,
                                 const nlohmann::json& object, const nlohmann::json* old);

}  // namespace kcred::devcluster
