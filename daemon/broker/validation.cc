#include "daemon/broker/validation.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "common/status.h"
#include "daemon/broker/object_names.h"

namespace kcred::broker {
namespace {

const std::set<std::string>& KnownVerbs() {
  static const auto* verbs = new std::set<std::string>{
      "get",         "list", "watch",    "create", "update",  "patch", "delete", "deletecollection",
      "impersonate", "bind", "escalate", "use",    "approve", "sign",  "*"};
  return *verbs;
}

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

// Label names (the part after an optional "prefix/"): at most 63 characters, alphanumeric at both
// ends, [-_.A-Za-z0-9] between. Label values follow the same rule but may be empty.
bool IsQualifiedNamePart(absl::string_view text, bool allow_empty) {
  if (text.empty()) return allow_empty;
  if (text.size() > 63) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(text.front()) || !alnum(text.back())) return false;
  for (char c : text) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

absl::Status ValidateMetadataKey(absl::string_view field, const std::string& key) {
  absl::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string::npos) {
    absl::string_view prefix = absl::string_view(key).substr(0, slash);
    name = absl::string_view(key).substr(slash + 1);
    if (!ValidateDns1123Subdomain(prefix, "prefix").ok()) {
      return Invalid(field, absl::StrCat("key \"", key,
                                         "\" has an invalid prefix: it must be a DNS-1123 "
                                         "subdomain such as \"example.com\""));
    }
  }
  if (!IsQualifiedNamePart(name, false)) {
    return Invalid(field, absl::StrCat("key \"", key,
                                       "\" is invalid: the name part must be 1-63 characters of "
                                       "[A-Za-z0-9-_.], starting and ending alphanumeric"));
  }
  if (absl::StartsWith(key, kReservedPrefix) || key == kManagedByLabel) {
    return Invalid(
        field, absl::StrCat("key \"", key, "\" is reserved for kcred (keys under ", kReservedPrefix,
                            " and ", kManagedByLabel, "); choose another key"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRule(const v1::PolicyRule& rule, int index, v1::Scope scope) {
  const std::string field = absl::StrCat("spec.access.rules.rules[", index, "]");
  if (rule.verbs().empty()) {
    return Invalid(field, "verbs must not be empty; e.g. [\"get\", \"list\"]");
  }
  for (const std::string& verb : rule.verbs()) {
    if (KnownVerbs().count(verb) == 0) {
      std::vector<std::string> known(KnownVerbs().begin(), KnownVerbs().end());
      return Invalid(field, absl::StrCat("unknown verb \"", verb, "\"; use one of ",
                                         absl::StrJoin(known, ", ")));
    }
  }
  const bool has_resources = !rule.resources().empty();
  const bool has_urls = !rule.non_resource_urls().empty();
  if (has_resources && has_urls) {
    return Invalid(field,
                   "set either resources or non_resource_urls, not both; split it into two rules");
  }
  if (!has_resources && !has_urls) {
    return Invalid(field,
                   "resources must not be empty; e.g. [\"pods\"] (or set "
                   "non_resource_urls for a cluster-scope account)");
  }
  for (const std::string& resource : rule.resources()) {
    if (resource.empty()) return Invalid(field, "a resource must not be empty");
  }
  if (has_urls) {
    if (scope != v1::SCOPE_CLUSTER) {
      return Invalid(field,
                     "non_resource_urls need SCOPE_CLUSTER (a Role cannot grant them); set "
                     "scope to SCOPE_CLUSTER or drop them");
    }
    if (!rule.api_groups().empty() || !rule.resource_names().empty()) {
      return Invalid(field, "api_groups and resource_names do not apply to non_resource_urls");
    }
    for (const std::string& url : rule.non_resource_urls()) {
      if (url.empty() || url[0] != '/') {
        return Invalid(field, absl::StrCat("non-resource URL \"", url,
                                           "\" must start with \"/\", e.g. \"/healthz\""));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAccess(const v1::AccountSpec& spec) {
  const v1::Scope scope = EffectiveScope(spec);
  switch (spec.access().kind_case()) {
    case v1::Access::kRules: {
      if (spec.access().rules().rules().empty()) {
        return Invalid("spec.access.rules", "at least one rule is required");
      }
      int index = 0;
      for (const v1::PolicyRule& rule : spec.access().rules().rules()) {
        KCRED_RETURN_IF_ERROR(ValidateRule(rule, index++, scope));
      }
      return absl::OkStatus();
    }
    case v1::Access::kRoleRef: {
      const v1::RoleRef& ref = spec.access().role_ref();
      if (ref.kind() != v1::ROLE_KIND_ROLE && ref.kind() != v1::ROLE_KIND_CLUSTER_ROLE) {
        return Invalid("spec.access.role_ref.kind", "set ROLE_KIND_ROLE or ROLE_KIND_CLUSTER_ROLE");
      }
      if (ref.kind() == v1::ROLE_KIND_ROLE && scope == v1::SCOPE_CLUSTER) {
        return Invalid("spec.access.role_ref.kind",
                       "a Role can only be bound in its namespace; bind a ClusterRole "
                       "(ROLE_KIND_CLUSTER_ROLE) or use SCOPE_NAMESPACE");
      }
      absl::Status name = ValidatePathSegmentName(ref.name(), "role name");
      if (!name.ok()) return Invalid("spec.access.role_ref.name", name.message());
      return absl::OkStatus();
    }
    case v1::Access::kTokenOnly:
      return absl::OkStatus();
    case v1::Access::KIND_NOT_SET:
      break;
  }
  return Invalid("spec.access", "set exactly one of rules, role_ref or token_only");
}

}  // namespace

v1::Scope EffectiveScope(const v1::AccountSpec& spec) {
  return spec.scope() == v1::SCOPE_CLUSTER ? v1::SCOPE_CLUSTER : v1::SCOPE_NAMESPACE;
}

absl::Status ValidateRefNames(const v1::AccountRef& ref) {
  if (ref.namespace_().empty()) {
    return Invalid("ref.namespace", "required: the namespace of the ServiceAccount");
  }
  absl::Status ns = ValidateDns1123Label(ref.namespace_(), "namespace");
  if (!ns.ok()) return Invalid("ref.namespace", ns.message());
  if (ref.name().empty()) return Invalid("ref.name", "required: the ServiceAccount's name");
  absl::Status name = ValidateDns1123Subdomain(ref.name(), "account name");
  if (!name.ok()) return Invalid("ref.name", name.message());
  return absl::OkStatus();
}

absl::Status ValidateSpec(const v1::AccountSpec& spec, const config::ClusterConfig& cluster,
                          const config::TokenDefaults& defaults) {
  if (spec.scope() != v1::SCOPE_UNSPECIFIED && spec.scope() != v1::SCOPE_NAMESPACE &&
      spec.scope() != v1::SCOPE_CLUSTER) {
    return Invalid("spec.scope", "unknown scope; use SCOPE_NAMESPACE or SCOPE_CLUSTER");
  }
  KCRED_RETURN_IF_ERROR(ValidateAccess(spec));

  const v1::TokenPolicy& token = spec.token();
  if (token.mode() != v1::TOKEN_MODE_UNSPECIFIED && token.mode() != v1::TOKEN_MODE_BOUND &&
      token.mode() != v1::TOKEN_MODE_LEGACY) {
    return Invalid("spec.token.mode", "unknown mode; use TOKEN_MODE_BOUND or TOKEN_MODE_LEGACY");
  }
  if (token.has_ttl()) {
    absl::Duration ttl = FromProto(token.ttl());
    if (ttl < cluster.min_token_ttl || ttl > cluster.max_token_ttl) {
      std::string range =
          cluster.max_token_ttl == absl::InfiniteDuration()
              ? absl::StrCat("at least ", absl::FormatDuration(cluster.min_token_ttl))
              : absl::StrCat("between ", absl::FormatDuration(cluster.min_token_ttl), " and ",
                             absl::FormatDuration(cluster.max_token_ttl));
      return Invalid("spec.token.ttl",
                     absl::StrCat("ttl ", absl::FormatDuration(ttl), " is outside what cluster \"",
                                  cluster.name, "\" allows; use ", range));
    }
  }
  for (const std::string& audience : token.audiences()) {
    if (audience.empty()) return Invalid("spec.token.audiences", "an audience must not be empty");
  }
  TokenPolicy policy = ResolvePolicy(spec, cluster, defaults);
  if (token.rotate_at_case() == v1::TokenPolicy::kRotateFraction) {
    double fraction = token.rotate_fraction();
    if (!(fraction > 0.0 && fraction < 1.0)) {
      return Invalid("spec.token.rotate_fraction",
                     absl::StrCat(fraction,
                                  " is not in (0, 1); e.g. 0.8 rotates at 80% of the "
                                  "token's lifetime"));
    }
  }
  if (token.rotate_at_case() == v1::TokenPolicy::kRotateInterval) {
    absl::Duration interval = FromProto(token.rotate_interval());
    if (interval <= absl::ZeroDuration() || interval >= policy.ttl) {
      return Invalid("spec.token.rotate_interval",
                     absl::StrCat(absl::FormatDuration(interval),
                                  " must be positive and shorter than "
                                  "the ttl (",
                                  absl::FormatDuration(policy.ttl), ")"));
    }
  }
  if (token.has_grace() && FromProto(token.grace()) < absl::ZeroDuration()) {
    return Invalid("spec.token.grace", "must not be negative; zero revokes at once");
  }
  for (const auto& [key, value] : spec.labels()) {
    KCRED_RETURN_IF_ERROR(ValidateMetadataKey("spec.labels", key));
    if (!IsQualifiedNamePart(value, true)) {
      return Invalid("spec.labels",
                     absl::StrCat("value \"", value, "\" of \"", key,
                                  "\" is invalid: at most 63 characters of [A-Za-z0-9-_.], "
                                  "starting and ending alphanumeric"));
    }
  }
  for (const auto& [key, value] : spec.annotations()) {
    KCRED_RETURN_IF_ERROR(ValidateMetadataKey("spec.annotations", key));
  }
  return absl::OkStatus();
}

TokenPolicy ResolvePolicy(const v1::AccountSpec& spec, const config::ClusterConfig& cluster,
                          const config::TokenDefaults& defaults) {
  const v1::TokenPolicy& token = spec.token();
  TokenPolicy policy;
  policy.mode =
      token.mode() == v1::TOKEN_MODE_LEGACY ? v1::TOKEN_MODE_LEGACY : v1::TOKEN_MODE_BOUND;
  policy.ttl = token.has_ttl()
                   ? FromProto(token.ttl())
                   : std::clamp(defaults.ttl, cluster.min_token_ttl,
                                std::min(cluster.max_token_ttl, cluster.policy.max_ttl));
  if (!token.audiences().empty()) {
    policy.audiences.assign(token.audiences().begin(), token.audiences().end());
  } else {
    policy.audiences = cluster.audiences;
  }
  if (token.rotate_at_case() == v1::TokenPolicy::kRotateInterval) {
    policy.rotate_interval = FromProto(token.rotate_interval());
  } else if (token.rotate_at_case() == v1::TokenPolicy::kRotateFraction) {
    policy.rotate_fraction = token.rotate_fraction();
  } else {
    policy.rotate_fraction = defaults.rotate_fraction;
  }
  policy.grace = token.has_grace() ? FromProto(token.grace()) : defaults.grace;
  return policy;
}

absl::Time NextRotationTime(const TokenPolicy& policy, absl::Time issue, absl::Time expire) {
  if (policy.rotate_interval.has_value()) return issue + *policy.rotate_interval;
  absl::Duration lifetime = expire == absl::InfiniteFuture() ? policy.ttl : expire - issue;
  return issue + lifetime * policy.rotate_fraction.value_or(0.8);
}

absl::Duration FromProto(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
}

absl::Time FromProto(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

google::protobuf::Timestamp ToProto(absl::Time time) {
  google::protobuf::Timestamp out;
  const int64_t seconds = absl::ToUnixSeconds(time);
  out.set_seconds(seconds);
  out.set_nanos(
      static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return out;
}

}  // namespace kcred::broker
