#include "daemon/broker/admission.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/glob.h"
#include "common/label_selector.h"
#include "common/status.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {
namespace {

using config::ClusterConfig;

absl::Status Denied(const ClusterConfig& cluster, absl::string_view what, absl::string_view key,
                    absl::string_view fix) {
  return absl::PermissionDeniedError(absl::StrCat("cluster \"", cluster.name, "\" ", what, " (",
                                                  cluster.PolicyKey(key),
                                                  " in kcredd's configuration)", fix));
}

bool AnyGlobMatches(const std::vector<std::string>& globs, absl::string_view text) {
  for (const std::string& glob : globs) {
    if (GlobMatch(glob, text)) return true;
  }
  return false;
}

// Whether a rule's `value` grants what the forbidden entry `forbidden` names: the same, a `*` that
// covers it, or (for resources) a subresource of it or a `*/sub` wildcard that covers it.
bool CoversVerbOrGroup(const std::string& value, const std::string& forbidden) {
  return value == forbidden || value == "*";
}

bool CoversResource(const std::string& value, const std::string& forbidden) {
  if (value == forbidden || value == "*") return true;
  if (forbidden == "*") return absl::StrContains(value, '*');
  if (absl::StartsWith(value, forbidden + "/")) return true;
  if (absl::StartsWith(value, "*/")) {
    const size_t slash = forbidden.find('/');
    return slash != std::string::npos && forbidden.substr(slash) == value.substr(1);
  }
  return false;
}

bool CoversUrl(const std::string& value, const std::string& forbidden) {
  if (value == forbidden || value == "*") return true;
  if (forbidden == "*") return absl::StrContains(value, '*');
  return absl::EndsWith(value, "*") &&
         absl::StartsWith(forbidden, absl::string_view(value).substr(0, value.size() - 1));
}

// The first value of `values` that covers an entry of `forbidden`, as a refusal.
template <typename Values, typename Covers>
absl::Status CheckForbidden(const ClusterConfig& cluster, const std::string& field,
                            const char* noun, const Values& values,
                            const std::vector<std::string>& forbidden, const char* key,
                            Covers covers) {
  for (const std::string& value : values) {
    for (const std::string& entry : forbidden) {
      if (!covers(value, entry)) continue;
      const std::string policy_key = cluster.PolicyKey(key);
      if (value == entry) {
        return absl::PermissionDeniedError(
            absl::StrCat(field, ": ", noun, " \"", value, "\" is forbidden on cluster \"",
                         cluster.name, "\" (", policy_key, " in kcredd's configuration)"));
      }
      return absl::PermissionDeniedError(
          absl::StrCat(field, ": ", noun, " \"", value, "\" would grant \"", entry, "\", which ",
                       policy_key, " forbids on cluster \"", cluster.name, "\"; list exactly the ",
                       noun, "s the account needs"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRule(const ClusterConfig& cluster, const v1::PolicyRule& rule, int index,
                       bool cluster_scope) {
  const config::ForbiddenRules& f = cluster.policy.forbidden;
  const std::string field = absl::StrCat("spec.access.rules.rules[", index, "]");
  KCRED_RETURN_IF_ERROR(CheckForbidden(cluster, field, "verb", rule.verbs(), f.verbs,
                                       "forbidden.verbs", CoversVerbOrGroup));
  KCRED_RETURN_IF_ERROR(CheckForbidden(cluster, field, "API group", rule.api_groups(), f.api_groups,
                                       "forbidden.api_groups", CoversVerbOrGroup));
  KCRED_RETURN_IF_ERROR(CheckForbidden(cluster, field, "resource", rule.resources(), f.resources,
                                       "forbidden.resources", CoversResource));
  if (cluster_scope) {
    KCRED_RETURN_IF_ERROR(CheckForbidden(cluster, field, "resource", rule.resources(),
                                         f.cluster_resources, "forbidden.cluster_resources",
                                         CoversResource));
  }
  return CheckForbidden(cluster, field, "non-resource URL", rule.non_resource_urls(),
                        f.non_resource_urls, "forbidden.non_resource_urls", CoversUrl);
}

// The reserved prefix `key` falls under, or "".
std::string ReservedPrefix(const std::vector<std::string>& reserved, const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos) return "";
  const std::string prefix = key.substr(0, slash);
  for (const std::string& entry : reserved) {
    if (GlobMatch(absl::string_view(entry).substr(0, entry.size() - 1), prefix)) return entry;
  }
  return "";
}

template <typename Map>
absl::Status CheckKeys(const ClusterConfig& cluster, const char* field, const Map& map) {
  for (const auto& [key, value] : map) {
    const std::string entry = ReservedPrefix(cluster.policy.reserved_label_prefixes, key);
    if (entry.empty()) continue;
    return absl::PermissionDeniedError(absl::StrCat(
        field, ": key \"", key, "\" is under the reserved prefix \"", entry, "\" on cluster \"",
        cluster.name, "\" (", cluster.PolicyKey("reserved_label_prefixes"),
        " in kcredd's configuration); such keys change how Kubernetes treats the "
        "objects"));
  }
  return absl::OkStatus();
}

std::string RoleRefName(const v1::RoleRef& role) {
  return absl::StrCat(role.kind() == v1::ROLE_KIND_ROLE ? "Role/" : "ClusterRole/", role.name());
}

}  // namespace

absl::Status Admit(const v1::AccountRef& ref, const v1::AccountSpec& spec,
                   const ClusterConfig& cluster, absl::Duration grace) {
  const config::AdmissionPolicy& policy = cluster.policy;
  const std::string& ns = ref.namespace_();
  if (!AnyGlobMatches(policy.namespaces, ns)) {
    return Denied(cluster, absl::StrCat("does not hand out accounts in namespace \"", ns, "\""),
                  "namespaces",
                  absl::StrCat("; it allows ", absl::StrJoin(policy.namespaces, ", ")));
  }
  if (AnyGlobMatches(policy.denied_namespaces, ns)) {
    return Denied(cluster, absl::StrCat("does not hand out accounts in namespace \"", ns, "\""),
                  "denied_namespaces", "");
  }
  const bool cluster_scope = EffectiveScope(spec) == v1::SCOPE_CLUSTER;
  if (cluster_scope && !policy.allow_cluster_scope) {
    return Denied(cluster, "does not allow cluster-scope accounts", "allow_cluster_scope",
                  "; use namespace scope");
  }
  if (spec.create_namespace() && !policy.allow_create_namespace) {
    return Denied(cluster, "does not let kcred create namespaces", "allow_create_namespace",
                  "; ask the cluster's operators to create the namespace, then provision without "
                  "create_namespace");
  }
  if (spec.adopt() && !policy.allow_adopt) {
    return Denied(cluster, "does not let kcred adopt existing objects", "allow_adopt", "");
  }
  if (spec.token().mode() == v1::TOKEN_MODE_LEGACY && !policy.allow_legacy_tokens) {
    return Denied(cluster, "does not hand out legacy (non-expiring) tokens", "allow_legacy_tokens",
                  "; use bound tokens");
  }
  switch (spec.access().kind_case()) {
    case v1::Access::kTokenOnly:
      if (!policy.allow_token_only) {
        return Denied(cluster,
                      "does not issue tokens for existing ServiceAccounts (token_only), whose "
                      "access kcred does not control",
                      "allow_token_only", "");
      }
      break;
    case v1::Access::kRoleRef: {
      const std::string role = RoleRefName(spec.access().role_ref());
      if (!AnyGlobMatches(policy.allowed_role_refs, role)) {
        return Denied(
            cluster, absl::StrCat("does not allow binding ", role), "allowed_role_refs",
            policy.allowed_role_refs.empty()
                ? "; no role may be bound there: use rules"
                : absl::StrCat("; it allows ", absl::StrJoin(policy.allowed_role_refs, ", ")));
      }
      break;
    }
    case v1::Access::kRules: {
      int index = 0;
      for (const v1::PolicyRule& rule : spec.access().rules().rules()) {
        KCRED_RETURN_IF_ERROR(CheckRule(cluster, rule, index++, cluster_scope));
      }
      break;
    }
    case v1::Access::KIND_NOT_SET:
      break;
  }
  for (const std::string& audience : spec.token().audiences()) {
    const bool api_audience = std::find(cluster.audiences.begin(), cluster.audiences.end(),
                                        audience) != cluster.audiences.end();
    if (!api_audience && !AnyGlobMatches(policy.allowed_audiences, audience)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "spec.token.audiences: audience \"", audience, "\" is not allowed on cluster \"",
          cluster.name, "\" (", cluster.PolicyKey("allowed_audiences"),
          " in kcredd's configuration lists the audiences tokens may carry beyond the cluster's "
          "own)"));
    }
  }
  if (spec.token().has_ttl() && FromProto(spec.token().ttl()) > policy.max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.token.ttl: ", absl::FormatDuration(FromProto(spec.token().ttl())),
        " is longer than the ", absl::FormatDuration(policy.max_ttl), " cluster \"", cluster.name,
        "\" allows (", cluster.PolicyKey("max_ttl"), "); ask for a shorter ttl"));
  }
  if (grace > policy.max_grace) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.token.grace: ", absl::FormatDuration(grace), " is longer than the ",
                     absl::FormatDuration(policy.max_grace), " cluster \"", cluster.name,
                     "\" allows (", cluster.PolicyKey("max_grace"), "); ask for a shorter grace"));
  }
  KCRED_RETURN_IF_ERROR(CheckKeys(cluster, "spec.labels", spec.labels()));
  return CheckKeys(cluster, "spec.annotations", spec.annotations());
}

absl::Status AdmitNamespace(const ClusterConfig& cluster, const std::string& ns,
                            const std::map<std::string, std::string>* labels) {
  const std::string& selector_text = cluster.policy.namespace_selector;
  if (selector_text.empty()) return absl::OkStatus();
  if (labels == nullptr) {
    return Denied(cluster,
                  absl::StrCat("admits only existing namespaces whose labels match \"",
                               selector_text, "\", and namespace \"", ns, "\" does not exist"),
                  "namespace_selector", "; ask the cluster's operators to create and label it");
  }
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(selector_text);
  if (!selector.ok() || !selector->Matches(*labels)) {
    return Denied(cluster,
                  absl::StrCat("admits only namespaces whose labels match \"", selector_text,
                               "\", and namespace \"", ns, "\" does not"),
                  "namespace_selector", "");
  }
  return absl::OkStatus();
}

absl::Status AdmitGrace(const ClusterConfig& cluster, absl::Duration grace) {
  if (grace <= cluster.policy.max_grace) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("grace: ", absl::FormatDuration(grace), " is longer than the ",
                   absl::FormatDuration(cluster.policy.max_grace), " cluster \"", cluster.name,
                   "\" allows (", cluster.PolicyKey("max_grace"), "); ask for a shorter grace"));
}

}  // namespace kcred::broker
