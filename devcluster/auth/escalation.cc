#include "devcluster/auth/escalation.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "devcluster/auth/go_quote.h"
#include "devcluster/auth/rbac.h"

namespace kcred::devcluster {
namespace {

using Json = nlohmann::json;

constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";
constexpr char kSystemMasters[] = "system:masters";

// The strings of the array member `key` of `object`; non-strings are skipped.
std::vector<std::string> StringList(const Json& object, const char* key) {
  std::vector<std::string> out;
  if (!object.is_object()) return out;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return out;
  for (const Json& item : *it) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

std::string StringAt(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const Json& MemberOrNull(const Json& object, const char* key) {
  static const auto* const null_json = new Json();
  if (!object.is_object()) return *null_json;
  auto it = object.find(key);
  return it == object.end() ? *null_json : *it;
}

// A PolicyRule's lists, as rbacv1.PolicyRule holds them.
struct PolicyRule {
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;
  std::vector<std::string> non_resource_urls;
  std::vector<std::string> resource_names;
  std::vector<std::string> verbs;

  static PolicyRule FromJson(const Json& rule) {
    return PolicyRule{StringList(rule, "apiGroups"), StringList(rule, "resources"),
                      StringList(rule, "nonResourceURLs"), StringList(rule, "resourceNames"),
                      StringList(rule, "verbs")};
  }

  Json ToJson() const {
    Json out = Json::object();
    if (!api_groups.empty()) out["apiGroups"] = api_groups;
    if (!resources.empty()) out["resources"] = resources;
    if (!non_resource_urls.empty()) out["nonResourceURLs"] = non_resource_urls;
    if (!resource_names.empty()) out["resourceNames"] = resource_names;
    if (!verbs.empty()) out["verbs"] = verbs;
    return out;
  }

  // rbacv1helpers.CompactString: `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`.
  std::string CompactString() const {
    std::vector<std::string> parts;
    if (!api_groups.empty()) parts.push_back(absl::StrCat("APIGroups:", go::QuoteList(api_groups)));
    if (!resources.empty()) parts.push_back(absl::StrCat("Resources:", go::QuoteList(resources)));
    if (!non_resource_urls.empty()) {
      parts.push_back(absl::StrCat("NonResourceURLs:", go::QuoteList(non_resource_urls)));
    }
    if (!resource_names.empty()) {
      parts.push_back(absl::StrCat("ResourceNames:", go::QuoteList(resource_names)));
    }
    if (!verbs.empty()) parts.push_back(absl::StrCat("Verbs:", go::QuoteList(verbs)));
    return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
  }
};

// validation.BreakdownRule: one rule per verb, group, resource and resource name, and one per verb
// and non-resource URL.
std::vector<PolicyRule> BreakdownRule(const PolicyRule& rule) {
  std::vector<PolicyRule> out;
  for (const std::string& group : rule.api_groups) {
    for (const std::string& resource : rule.resources) {
      for (const std::string& verb : rule.verbs) {
        if (rule.resource_names.empty()) {
          out.push_back(PolicyRule{{group}, {resource}, {}, {}, {verb}});
          continue;
        }
        for (const std::string& name : rule.resource_names) {
          out.push_back(PolicyRule{{group}, {resource}, {}, {name}, {verb}});
        }
      }
    }
  }
  for (const std::string& url : rule.non_resource_urls) {
    for (const std::string& verb : rule.verbs) {
      out.push_back(PolicyRule{{}, {}, {url}, {}, {verb}});
    }
  }
  return out;
}

// validation.ruleCovers for an atomic `subrule`, by asking the authorizer's RuleAllows about the
// request the subrule stands for. The one difference: a subrule for every name (no resourceNames)
// is covered only by an owner rule for every name.
bool RuleCovers(const Json& owner_rule, const PolicyRule& subrule) {
  if (subrule.resource_names.empty() && !StringList(owner_rule, "resourceNames").empty()) {
    return false;
  }
  RequestAttributes attrs;
  attrs.verb = subrule.verbs[0];
  if (!subrule.non_resource_urls.empty()) {
    attrs.resource_request = false;
    attrs.path = subrule.non_resource_urls[0];
    return RuleAllows(owner_rule, attrs);
  }
  attrs.api_group = subrule.api_groups[0];
  // "pods/status" is the status subresource of pods; "*/status" that of every resource.
  const std::string& resource = subrule.resources[0];
  const size_t slash = resource.find('/');
  if (slash == std::string::npos || slash + 1 == resource.size()) {
    attrs.resource = resource;
  } else {
    attrs.resource = resource.substr(0, slash);
    attrs.subresource = resource.substr(slash + 1);
  }
  if (!subrule.resource_names.empty()) attrs.name = subrule.resource_names[0];
  return RuleAllows(owner_rule, attrs);
}

// validation.CompactRules: missing rules for one group and resource that differ only by verb
// become one rule with those verbs (in order, repeats kept).
std::vector<PolicyRule> CompactRules(const std::vector<PolicyRule>& rules) {
  std::vector<PolicyRule> compacted;
  std::map<std::pair<std::string, std::string>, PolicyRule> simple;
  for (const PolicyRule& rule : rules) {
    const bool is_simple = rule.resource_names.empty() && rule.non_resource_urls.empty() &&
                           rule.api_groups.size() == 1 && rule.resources.size() == 1;
    if (!is_simple) {
      compacted.push_back(rule);
      continue;
    }
    auto [it, inserted] = simple.try_emplace({rule.api_groups[0], rule.resources[0]}, rule);
    if (!inserted) {
      it->second.verbs.insert(it->second.verbs.end(), rule.verbs.begin(), rule.verbs.end());
    }
  }
  for (auto& [key, rule] : simple) compacted.push_back(std::move(rule));
  return compacted;
}

bool CoversRules(const Json& owner_rules, const Json& servant_rules,
                 std::vector<PolicyRule>* missing) {
  if (!servant_rules.is_array()) return true;
  bool covered = true;
  for (const Json& servant : servant_rules) {
    for (const PolicyRule& subrule : BreakdownRule(PolicyRule::FromJson(servant))) {
      bool subrule_covered = false;
      if (owner_rules.is_array()) {
        subrule_covered =
            std::any_of(owner_rules.begin(), owner_rules.end(),
                        [&](const Json& owner) { return RuleCovers(owner, subrule); });
      }
      if (subrule_covered) continue;
      covered = false;
      if (missing != nullptr) missing->push_back(subrule);
    }
  }
  return covered;
}

// Why the rule resolver kube-apiserver's RBAC storages use (backed by the storage, not by the
// authorizer's informers, so its messages name the plural resource) cannot use a binding's role.
std::string StorageResolutionError(const UnresolvedRole& role) {
  if (role.kind == "ClusterRole") {
    return absl::StrCat("clusterroles.", kRbacGroup, " ", go::Quote(role.name), " not found");
  }
  if (role.kind == "Role") {
    if (role.binding_namespace.empty()) return "Namespace parameter required.";
    return absl::StrCat("roles.", kRbacGroup, " ", go::Quote(role.name), " not found");
  }
  return absl::StrCat("unsupported role reference kind: ", go::Quote(role.kind));
}

// utilerrors.NewAggregate(errors).Error(): the one message, or `[a, b]` without repeats.
std::string AggregateError(const std::vector<std::string>& errors) {
  std::vector<std::string> unique;
  for (const std::string& error : errors) {
    if (std::find(unique.begin(), unique.end(), error) == unique.end()) unique.push_back(error);
  }
  if (unique.size() == 1) return unique[0];
  return absl::StrCat("[", absl::StrJoin(unique, ", "), "]");
}

// The rules that mean cluster-admin: everything on every resource and every non-resource URL.
const Json& FullAuthority() {
  static const auto* const rules =
      new Json(Json::array({Json{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}},
                            Json{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}}));
  return *rules;
}

bool IsSystemMaster(const UserInfo& user) {
  return std::find(user.groups.begin(), user.groups.end(), kSystemMasters) != user.groups.end();
}

// Whether `user` may do `verb` on `resource` ("roles" or "clusterroles") named `name`.
bool AuthorizedOnRole(const ObjectReader& objects, const UserInfo& user, std::string verb,
                      std::string api_group, std::string resource, std::string namespace_name,
                      std::string name) {
  RequestAttributes attrs;
  attrs.verb = std::move(verb);
  attrs.api_group = std::move(api_group);
  attrs.api_version = "*";
  attrs.resource = std::move(resource);
  attrs.namespace_name = std::move(namespace_name);
  attrs.name = std::move(name);
  return Authorize(objects, user, attrs).allowed;
}

// `value` without the members Go would read as zero values (null, "", false, 0, [], {}), at every
// depth of objects, so that two objects compare as apimachinery's semantic equality compares the
// structs they decode to.
Json WithoutZeroValues(const Json& value) {
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json& item : value) out.push_back(WithoutZeroValues(item));
    return out;
  }
  if (!value.is_object()) return value;
  Json out = Json::object();
  for (const auto& [key, member] : value.items()) {
    Json normalized = WithoutZeroValues(member);
    const bool zero = normalized.is_null() || (normalized.is_string() && normalized.empty()) ||
                      (normalized.is_boolean() && !normalized.get<bool>()) ||
                      (normalized.is_number() && normalized == 0) ||
                      ((normalized.is_array() || normalized.is_object()) && normalized.empty());
    if (!zero) out[key] = std::move(normalized);
  }
  return out;
}

// rbacregistry.IsOnlyMutatingGCFields: whether `object` differs from `old` only in the metadata
// the garbage collector writes (ownerReferences, finalizers) and selfLink.
bool IsOnlyMutatingGcFields(const Json& object, const Json& old) {
  if (!object.is_object() || !old.is_object()) return false;
  Json copied = object;
  const Json& old_metadata = MemberOrNull(old, "metadata");
  Json& metadata = copied["metadata"];
  if (!metadata.is_object()) metadata = Json::object();
  for (const char* key : {"ownerReferences", "finalizers", "selfLink"}) {
    const Json& kept = MemberOrNull(old_metadata, key);
    if (kept.is_null()) {
      metadata.erase(key);
    } else {
      metadata[key] = kept;
    }
  }
  // Internal objects carry no type information, so kind and apiVersion never differ there.
  Json old_copy = old;
  for (Json* j : {&copied, &old_copy}) {
    j->erase("kind");
    j->erase("apiVersion");
  }
  return WithoutZeroValues(copied) == WithoutZeroValues(old_copy);
}

EscalationDecision Refuse(int code, std::string reason, std::string message, Json details) {
  return EscalationDecision{false, code, std::move(reason), std::move(message), std::move(details)};
}

// apierrors.NewForbidden(rbac.Resource(resource), name, cause).
EscalationDecision Forbidden(const std::string& resource, const std::string& name,
                             const std::string& cause) {
  Json details = {{"group", kRbacGroup}, {"kind", resource}};
  if (!name.empty()) details["name"] = name;
  return Refuse(403, "Forbidden", ForbiddenStatusMessage(kRbacGroup, resource, name, cause),
                std::move(details));
}

// The Role and ClusterRole storages.
EscalationDecision CheckRoleWrite(const ObjectReader& objects, const UserInfo& user,
                                  const RbacWrite& write) {
  // RoleEscalationAuthorized: `escalate` with the request's name, which is empty on create.
  if (AuthorizedOnRole(objects, user, "escalate", kRbacGroup, write.resource, write.namespace_name,
                       write.request_name)) {
    return EscalationDecision{};
  }
  if (write.old != nullptr && IsOnlyMutatingGcFields(write.object, *write.old)) {
    return EscalationDecision{};
  }
  const std::string name = StringAt(MemberOrNull(write.object, "metadata"), "name");
  if (std::optional<std::string> cause = ConfirmNoEscalation(objects, user, write.namespace_name,
                                                             MemberOrNull(write.object, "rules"))) {
    return Forbidden(write.resource, name, *cause);
  }
  if (write.resource != "clusterroles") return EscalationDecision{};
  // An aggregationRule can gather any rules, so setting or changing one needs cluster-admin.
  auto has_aggregation = [](const Json& role) {
    return !MemberOrNull(MemberOrNull(role, "aggregationRule"), "clusterRoleSelectors").empty();
  };
  if ((has_aggregation(write.object) || (write.old != nullptr && has_aggregation(*write.old))) &&
      ConfirmNoEscalation(objects, user, "", FullAuthority()).has_value()) {
    return Forbidden(write.resource, name,
                     "must have cluster-admin privileges to use the aggregationRule");
  }
  return EscalationDecision{};
}

// The RoleBinding and ClusterRoleBinding storages.
EscalationDecision CheckBindingWrite(const ObjectReader& objects, const UserInfo& user,
                                     const RbacWrite& write) {
  if (write.old != nullptr && IsOnlyMutatingGcFields(write.object, *write.old)) {
    return EscalationDecision{};
  }
  const Json& role_ref = MemberOrNull(write.object, "roleRef");
  const std::string kind = StringAt(role_ref, "kind");
  const std::string role_name = StringAt(role_ref, "name");
  // BindingAuthorized: `bind` on the referenced role, in the binding's namespace.
  if ((kind == "ClusterRole" || kind == "Role") &&
      AuthorizedOnRole(objects, user, "bind", StringAt(role_ref, "apiGroup"),
                       kind == "Role" ? "roles" : "clusterroles", write.namespace_name,
                       role_name)) {
    return EscalationDecision{};
  }
  std::optional<Json> role = GetReferencedRole(objects, role_ref, write.namespace_name);
  if (!role.has_value()) {
    // The storage's own error for the role, which kube-apiserver passes on unchanged.
    const std::string message =
        StorageResolutionError(UnresolvedRole{kind, role_name, write.namespace_name});
    if (kind == "ClusterRole" || (kind == "Role" && !write.namespace_name.empty())) {
      return Refuse(404, "NotFound", message,
                    {{"name", role_name},
                     {"group", kRbacGroup},
                     {"kind", kind == "Role" ? "roles" : "clusterroles"}});
    }
    if (kind == "Role") return Refuse(400, "BadRequest", message, Json::object());
    return Refuse(500, "", message, Json::object());
  }
  if (std::optional<std::string> cause =
          ConfirmNoEscalation(objects, user, write.namespace_name, MemberOrNull(*role, "rules"))) {
    return Forbidden(write.resource, StringAt(MemberOrNull(write.object, "metadata"), "name"),
                     *cause);
  }
  return EscalationDecision{};
}

}  // namespace

bool Covers(const Json& owner_rules, const Json& servant_rules, std::vector<Json>* missing) {
  std::vector<PolicyRule> uncovered;
  const bool covered = CoversRules(owner_rules, servant_rules, &uncovered);
  if (missing != nullptr) {
    for (const PolicyRule& rule : uncovered) missing->push_back(rule.ToJson());
  }
  return covered;
}

std::optional<std::string> ConfirmNoEscalation(const ObjectReader& objects, const UserInfo& user,
                                               const std::string& namespace_name,
                                               const Json& rules) {
  Json owner_rules = Json::array();
  std::vector<std::string> resolution_errors;
  VisitRulesFor(
      objects, user, namespace_name,
      [&owner_rules](const RuleSource&, const Json& rule) {
        owner_rules.push_back(rule);
        return true;
      },
      [&resolution_errors](const UnresolvedRole& role) {
        resolution_errors.push_back(StorageResolutionError(role));
      });
  std::vector<PolicyRule> missing;
  if (CoversRules(owner_rules, rules, &missing)) return std::nullopt;

  // One line per compacted missing rule, sorted and without repeats (a sets.String).
  std::set<std::string> descriptions;
  for (const PolicyRule& rule : CompactRules(missing)) descriptions.insert(rule.CompactString());
  std::string message =
      absl::StrCat("user ", go::Quote(user.username), " (groups=", go::QuoteList(user.groups),
                   ") is attempting to grant RBAC permissions not currently held:\n",
                   absl::StrJoin(descriptions, "\n"));
  if (!resolution_errors.empty()) {
    absl::StrAppend(&message, "; resolution errors: [", AggregateError(resolution_errors), "]");
  }
  return message;
}

EscalationDecision CheckEscalation(const ObjectReader& objects, const UserInfo& user,
                                   const RbacWrite& write) {
  // EscalationAllowed: system:masters is how kube-apiserver's own loopback client authenticates.
  if (IsSystemMaster(user)) return EscalationDecision{};
  if (write.resource == "roles" || write.resource == "clusterroles") {
    return CheckRoleWrite(objects, user, write);
  }
  if (write.resource == "rolebindings" || write.resource == "clusterrolebindings") {
    return CheckBindingWrite(objects, user, write);
  }
  return EscalationDecision{};
}

}  // namespace kcred::devcluster
