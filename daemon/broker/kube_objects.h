#pragma once
// The Kubernetes objects kcred makes for an account, as the JSON bodies it sends, and the helpers
// the broker reads objects and Kubernetes errors with. Pure functions; internal to the broker.
//
// What kcred creates for account <cluster>/<ns>/<name> (names: object_names.h):
//   ServiceAccount      <ns>/<name>                (not for token_only: that one must exist)
//   Role, RoleBinding   <ns>/<name>                (rules; role_ref binds with the RoleBinding)
//   ClusterRole,
//   ClusterRoleBinding  kcred:<ns>:<name>          (cluster scope; unique across namespaces)
//   Secret              <ns>/<name>-kcred-<g>      (one per live token generation g: the anchor
//                                                   of a bound token, or the legacy token Secret)
// Every one carries app.kubernetes.io/managed-by=kcred, kcred.io/cluster, kcred.io/namespace,
// kcred.io/account (values longer than 63 characters are shortened with a hash), the spec's labels
// and annotations, and the Secrets kcred.io/generation. Objects lacking managed-by=kcred, or
// labelled for another account, are never modified or deleted unless the spec says adopt.
//
// Namespaces: created only when the spec says create_namespace, labelled
// app.kubernetes.io/managed-by=kcred and kcred.io/created-for=<account>; they are never deleted by
// kcred (other workloads may live there by then), so DeleteAccount leaves them in place.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/broker/account_records.h"
#include "daemon/kube/resource.h"
#include "nlohmann/json.hpp"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::broker {

// Deadline of one Kubernetes call (the client retries within it).
inline constexpr absl::Duration kKubeCallTimeout = absl::Seconds(30);

// ----- reading objects and errors ------------------------------------------------------------

std::string KindOf(kube::Resource resource);

// The resource of a kind kcred records; DATA_LOSS for a kind it never makes.
absl::StatusOr<kube::Resource> ResourceOfKind(absl::string_view kind);

// "Kind ns/name" ("Kind name" for cluster-scoped objects), as messages name an object.
std::string ObjectString(kube::Resource resource, absl::string_view ns, absl::string_view name);

// metadata.<key> of `object` when it is a string, "" otherwise.
std::string MetaString(const nlohmann::json& object, const char* key);

v1::ObjectReference MakeRef(kube::Resource resource, const std::string& ns, const std::string& name,
                            const std::string& uid);

// `status` with its message prefixed by what kcred was doing ("<doing>: <message>"), keeping the
// code and the payloads (e.g. the server's reason, kube::KubeReason). OK stays OK.
absl::Status Wrap(const absl::Status& status, absl::string_view doing);

// ----- bodies --------------------------------------------------------------------------------
// Bodies hold the fields kcred owns; ApplyMetadata adds the names and labels when an object is
// planned (reconcile.h).

// The body of the account's ServiceAccount: kcred sets only its metadata.
nlohmann::json ServiceAccountBody();

// The body of the Role or ClusterRole kcred makes for `rules`: {"rules": [...]}, in Kubernetes'
// PolicyRule form (a resource rule without api_groups means the core group "").
nlohmann::json RoleBody(const v1::RuleSet& rules);

// The body of a RoleBinding or ClusterRoleBinding binding role `role_name` of `role_kind` (kRole or
// kClusterRole) to the account's ServiceAccount.
nlohmann::json BindingBody(kube::Resource role_kind, const std::string& role_name,
                           const AccountKey& key);

// The Namespace kcred creates for the account (create_namespace): the spec's labels and
// annotations, managed-by=kcred and created-for=<account>, but not kcred.io/account: the namespace
// outlives the account.
nlohmann::json NamespaceObject(const AccountKey& key, const v1::AccountSpec& spec);

// "Opaque" for a bound token's anchor, "kubernetes.io/service-account-token" for a legacy token.
std::string TokenSecretType(v1::TokenMode mode);

// The Secret of token generation `generation` in `mode`: the anchor of a bound token, or the
// legacy token Secret that the token controller fills. Labelled with the account, the spec's
// labels and kcred.io/generation.
nlohmann::json TokenSecret(const AccountKey& key, const v1::AccountSpec& spec, int64_t generation,
                           v1::TokenMode mode);

// Merges the labels and annotations kcred puts on an object of the account into `object`:
// kcred's labels and the spec's, minus the spec keys dropped since `previous_spec` (null for a new
// account). Other labels and annotations of the object stay.
void ApplyMetadata(nlohmann::json& object, const AccountKey& key, const v1::AccountSpec& spec,
                   const v1::AccountSpec* previous_spec);

}  // namespace kcred::broker
