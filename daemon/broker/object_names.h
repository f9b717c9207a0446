#pragma once
// Names and labels of the Kubernetes objects kcred makes for an account (the scheme is described
// in kube_objects.h). Pure functions, so the naming rules are tested on their own.

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace kcred::broker {

inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "kcred";
inline constexpr char kAccountLabel[] = "kcred.io/account";
inline constexpr char kNamespaceLabel[] = "kcred.io/namespace";
inline constexpr char kClusterLabel[] = "kcred.io/cluster";
inline constexpr char kGenerationLabel[] = "kcred.io/generation";
inline constexpr char kCreatedForLabel[] = "kcred.io/created-for";
inline constexpr char kReservedPrefix[] = "kcred.io/";

// A label value for `text`: itself when it fits (at most 63 characters), else its first 52
// characters and a hash of the whole ("<prefix>-<10 hex>"), still a valid label value for names.
std::string LabelValue(absl::string_view text);

// Name of the ClusterRole and ClusterRoleBinding of a cluster-scoped account: "kcred:<ns>:<name>".
std::string ClusterObjectName(absl::string_view namespace_name, absl::string_view name);

// Name of generation `generation`'s Secret: "<name>-kcred-<g>", or, when that is not a valid
// DNS-1123 subdomain (too long), "kcred-<16 hex of a hash of ns/name>-<g>".
std::string GenerationSecretName(absl::string_view namespace_name, absl::string_view name,
                                 int64_t generation);

// The labels identifying an account's objects.
std::map<std::string, std::string> AccountLabels(absl::string_view cluster,
                                                 absl::string_view namespace_name,
                                                 absl::string_view name);

// "app.kubernetes.io/managed-by=kcred,kcred.io/cluster=...,kcred.io/namespace=...,
// kcred.io/account=...": selects exactly the account's objects.
std::string AccountSelector(absl::string_view cluster, absl::string_view namespace_name,
                            absl::string_view name);

// The value of label `key` on `object`; empty when it has none.
std::string LabelOf(const nlohmann::json& object, const char* key);

// "app.kubernetes.io/managed-by=kcred,kcred.io/cluster=...,kcred.io/namespace=...": the objects
// of every account of `namespace_name` on `cluster`.
std::string NamespaceSelector(absl::string_view cluster, absl::string_view namespace_name);

// Whether `object`'s labels say it belongs to this account (managed by kcred, same account).
bool OwnedByAccount(const nlohmann::json& object, absl::string_view cluster,
                    absl::string_view namespace_name, absl::string_view name);

// Whether `object` carries app.kubernetes.io/managed-by=kcred.
bool ManagedByKcred(const nlohmann::json& object);

// Expands {cluster}, {namespace} and {name} in a kubeconfig name template.
std::string ExpandNameTemplate(absl::string_view pattern, absl::string_view cluster,
                               absl::string_view namespace_name, absl::string_view name);

}  // namespace kcred::broker
