#include "devcluster/auth/rbac.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "devcluster/auth/go_quote.h"

namespace kcred::devcluster {
namespace {

using Json = nlohmann::json;

const std::string& EmptyString() {
  static const auto* const empty = new std::string();
  return *empty;
}

// A string member of a JSON object, by reference; "" when absent or not a string. Authorization
// runs on every request, so the evaluation reads the objects in place instead of copying them.
const std::string& Str(const Json& object, const char* key) {
  if (!object.is_object()) return EmptyString();
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return EmptyString();
  return it->get_ref<const std::string&>();
}

// The member `key` of `object`, or null when absent.
const Json& Member(const Json& object, const char* key) {
  static const auto* const null_json = new Json();
  if (!object.is_object()) return *null_json;
  auto it = object.find(key);
  return it == object.end() ? *null_json : *it;
}

// The array member `key` of `object`, or nullptr.
const Json* Array(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return nullptr;
  return &*it;
}

// Whether the string array `key` of `rule` holds `value` (or "*" when `star` is set).
bool ListHas(const Json& rule, const char* key, std::string_view value, bool star) {
  const Json* list = Array(rule, key);
  if (list == nullptr) return false;
  for (const Json& item : *list) {
    if (!item.is_string()) continue;
    const std::string& s = item.get_ref<const std::string&>();
    if (s == value || (star && s == "*")) return true;
  }
  return false;
}

// Whether `r` is "resource/subresource" (or "resource" when there is no subresource).
bool IsCombinedResource(std::string_view r, std::string_view resource,
                        std::string_view subresource) {
  if (subresource.empty()) return r == resource;
  return r.size() == resource.size() + 1 + subresource.size() &&
         r.substr(0, resource.size()) == resource && r[resource.size()] == '/' &&
         r.substr(resource.size() + 1) == subresource;
}

bool ResourceMatches(const Json& rule, const RequestAttributes& attrs) {
  const Json* resources = Array(rule, "resources");
  if (resources == nullptr) return false;
  std::string_view sub = attrs.subresource;
  for (const Json& item : *resources) {
    if (!item.is_string()) continue;
    std::string_view r = item.get_ref<const std::string&>();
    if (r == "*" || IsCombinedResource(r, attrs.resource, sub)) return true;
    // "*/status" matches the status subresource of every resource.
    if (!sub.empty() && r.size() == sub.size() + 2 && r.substr(0, 2) == "*/" &&
        r.substr(2) == sub) {
      return true;
    }
  }
  return false;
}

// Empty resourceNames matches every name; otherwise the request's name (empty for list, create and
// deletecollection) must be listed, so such rules never allow those verbs.
bool ResourceNameMatches(const Json& rule, const std::string& name) {
  const Json* names = Array(rule, "resourceNames");
  if (names == nullptr || names->empty()) return true;
  return ListHas(rule, "resourceNames", name, /*star=*/false);
}

bool NonResourceUrlMatches(const Json& rule, const std::string& path) {
  const Json* urls = Array(rule, "nonResourceURLs");
  if (urls == nullptr) return false;
  for (const Json& item : *urls) {
    if (!item.is_string()) continue;
    std::string_view url = item.get_ref<const std::string&>();
    if (url == "*" || url == path) return true;
    if (!url.empty() && url.back() == '*') {
      std::string_view prefix = url;
      while (!prefix.empty() && prefix.back() == '*') prefix.remove_suffix(1);
      if (std::string_view(path).substr(0, prefix.size()) == prefix) return true;
    }
  }
  return false;
}

// Whether `username` is "system:serviceaccount:<ns>:<name>".
bool IsServiceAccount(std::string_view username, std::string_view ns, std::string_view name) {
  constexpr std::string_view kPrefix = "system:serviceaccount:";
  if (username.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = username.substr(kPrefix.size());
  return rest.size() == ns.size() + 1 + name.size() && rest.substr(0, ns.size()) == ns &&
         rest[ns.size()] == ':' && rest.substr(ns.size() + 1) == name;
}

// Whether `subject` names `user`. `binding_namespace` is the RoleBinding's namespace (the default
// for ServiceAccount subjects), empty for ClusterRoleBindings.
bool AppliesTo(const UserInfo& user, const Json& subject, const std::string& binding_namespace) {
  const std::string& kind = Str(subject, "kind");
  const std::string& name = Str(subject, "name");
  if (kind == "User") return user.username == name;
  if (kind == "Group")
    return std::find(user.groups.begin(), user.groups.end(), name) != user.groups.end();
  if (kind == "ServiceAccount") {
    const std::string& subject_ns = Str(subject, "namespace");
    const std::string& ns = subject_ns.empty() ? binding_namespace : subject_ns;
    if (ns.empty()) return false;
    return IsServiceAccount(user.username, ns, name);
  }
  return false;
}

// The first subject of `binding` that names `user`, or nullptr.
const Json* MatchingSubject(const UserInfo& user, const Json& binding,
                            const std::string& binding_namespace) {
  const Json* subjects = Array(binding, "subjects");
  if (subjects == nullptr) return nullptr;
  for (const Json& s : *subjects) {
    if (AppliesTo(user, s, binding_namespace)) return &s;
  }
  return nullptr;
}

std::string DescribeSubject(const Json& subject, const std::string& binding_namespace) {
  const std::string& kind = Str(subject, "kind");
  const std::string& name = Str(subject, "name");
  if (kind == "ServiceAccount") {
    const std::string& subject_ns = Str(subject, "namespace");
    const std::string& ns = subject_ns.empty() ? binding_namespace : subject_ns;
    return absl::StrCat(kind, " ", go::Quote(absl::StrCat(name, "/", ns)));
  }
  return absl::StrCat(kind, " ", go::Quote(name));
}

// `RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to User "u"`, or the RoleBinding
// form with "name/namespace", as kube-apiserver's RBAC authorizer words it.
std::string AllowedReason(const RuleSource& source) {
  const Json& role_ref = Member(source.binding, "roleRef");
  const std::string& name = Str(Member(source.binding, "metadata"), "name");
  std::string binding =
      source.binding_namespace.empty()
          ? absl::StrCat("ClusterRoleBinding ", go::Quote(name))
          : absl::StrCat("RoleBinding ",
                         go::Quote(absl::StrCat(name, "/", source.binding_namespace)));
  return absl::StrCat("RBAC: allowed by ", binding, " of ", Str(role_ref, "kind"), " ",
                      go::Quote(Str(role_ref, "name")), " to ",
                      DescribeSubject(source.subject, source.binding_namespace));
}

// The roleRef's role in JSON, or nullopt (after telling `on_unresolved`) when there is none to use.
std::optional<Json> ResolveRoleRef(const ObjectReader& objects, const Json& binding,
                                   const std::string& binding_namespace,
                                   absl::FunctionRef<void(const UnresolvedRole&)> on_unresolved) {
  const Json& role_ref = Member(binding, "roleRef");
  std::optional<Json> role = GetReferencedRole(objects, role_ref, binding_namespace);
  if (!role.has_value()) {
    on_unresolved(UnresolvedRole{Str(role_ref, "kind"), Str(role_ref, "name"), binding_namespace});
  }
  return role;
}

// The authorizer's reason for a role it cannot use, as kube-apiserver's informer listers word it.
std::string AuthorizerResolutionError(const UnresolvedRole& role) {
  if (role.kind == "ClusterRole") {
    return absl::StrCat("clusterrole.rbac.authorization.k8s.io ", go::Quote(role.name),
                        " not found");
  }
  if (role.kind == "Role") {
    return absl::StrCat("role.rbac.authorization.k8s.io ", go::Quote(role.name), " not found");
  }
  return absl::StrCat("unsupported role reference kind: ", go::Quote(role.kind));
}

// The bindings and roles of the bootstrap policy that kube-apiserver reconciles at start: the
// ClusterRoleBinding (named like its ClusterRole) and the ClusterRole's rules.
struct BootstrapBinding {
  Json binding;
  Json role;
};

BootstrapBinding MakeBootstrap(const char* name, Json subjects, Json rules) {
  return BootstrapBinding{
      Json{{"metadata", {{"name", name}}},
           {"roleRef",
            {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", name}}},
           {"subjects", std::move(subjects)}},
      Json{{"metadata", {{"name", name}}}, {"rules", std::move(rules)}}};
}

Json GroupSubject(const char* group) {
  return Json{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Group"}, {"name", group}};
}

const std::vector<BootstrapBinding>& BootstrapPolicy() {
  static const auto* const policy = new std::vector<BootstrapBinding>{
      MakeBootstrap("cluster-admin", Json::array({GroupSubject("system:masters")}),
                    Json::array({Json{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}},
                                 Json{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}})),
      MakeBootstrap(
          "system:basic-user", Json::array({GroupSubject("system:authenticated")}),
          Json::array({Json{{"verbs", {"create"}},
                            {"apiGroups", {"authorization.k8s.io"}},
                            {"resources", {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}}},
                       Json{{"verbs", {"create"}},
                            {"apiGroups", {"authentication.k8s.io"}},
                            {"resources", {"selfsubjectreviews"}}}})),
      MakeBootstrap(
          "system:discovery", Json::array({GroupSubject("system:authenticated")}),
          Json::array({Json{{"verbs", {"get"}},
                            {"nonResourceURLs",
                             {"/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi",
                              "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"}}}})),
      MakeBootstrap(
          "system:public-info-viewer",
          Json::array(
              {GroupSubject("system:authenticated"), GroupSubject("system:unauthenticated")}),
          Json::array({Json{
              {"verbs", {"get"}},
              {"nonResourceURLs", {"/livez", "/readyz", "/healthz", "/version", "/version/"}}}})),
  };
  return *policy;
}

}  // namespace

std::optional<Json> GetReferencedRole(const ObjectReader& objects, const Json& role_ref,
                                      const std::string& binding_namespace) {
  const std::string& kind = Str(role_ref, "kind");
  const std::string& name = Str(role_ref, "name");
  if (kind == "ClusterRole") return objects.Get("clusterroles", "", name);
  // A ClusterRoleBinding has no namespace to find a Role in.
  if (kind == "Role" && !binding_namespace.empty()) {
    return objects.Get("roles", binding_namespace, name);
  }
  return std::nullopt;
}

bool RuleAllows(const Json& rule, const RequestAttributes& attrs) {
  if (!rule.is_object() || !ListHas(rule, "verbs", attrs.verb, /*star=*/true)) return false;
  if (attrs.resource_request) {
    return ListHas(rule, "apiGroups", attrs.api_group, /*star=*/true) &&
           ResourceMatches(rule, attrs) && ResourceNameMatches(rule, attrs.name);
  }
  return NonResourceUrlMatches(rule, attrs.path);
}

void VisitRulesFor(const ObjectReader& objects, const UserInfo& user,
                   const std::string& namespace_name,
                   absl::FunctionRef<bool(const RuleSource&, const Json&)> on_rule,
                   absl::FunctionRef<void(const UnresolvedRole&)> on_unresolved) {
  // Every rule of `role`, until `on_rule` says stop; returns false when it did.
  auto visit_role = [&on_rule](const RuleSource& source, const Json& role) {
    const Json* rules = Array(role, "rules");
    if (rules == nullptr) return true;
    for (const Json& rule : *rules) {
      if (!on_rule(source, rule)) return false;
    }
    return true;
  };

  for (const BootstrapBinding& b : BootstrapPolicy()) {
    const Json* subject = MatchingSubject(user, b.binding, "");
    if (subject != nullptr && !visit_role(RuleSource{b.binding, *subject, EmptyString()}, b.role)) {
      return;
    }
  }

  for (const Json& binding : objects.List("clusterrolebindings", "")) {
    const Json* subject = MatchingSubject(user, binding, "");
    if (subject == nullptr) continue;
    std::optional<Json> role = ResolveRoleRef(objects, binding, EmptyString(), on_unresolved);
    if (role.has_value() && !visit_role(RuleSource{binding, *subject, EmptyString()}, *role)) {
      return;
    }
  }

  if (namespace_name.empty()) return;
  for (const Json& binding : objects.List("rolebindings", namespace_name)) {
    // The store answers for the namespace asked, but a binding only ever grants in its own.
    const std::string& binding_ns = Str(Member(binding, "metadata"), "namespace");
    if (!binding_ns.empty() && binding_ns != namespace_name) continue;
    const Json* subject = MatchingSubject(user, binding, namespace_name);
    if (subject == nullptr) continue;
    std::optional<Json> role = ResolveRoleRef(objects, binding, namespace_name, on_unresolved);
    if (role.has_value() && !visit_role(RuleSource{binding, *subject, namespace_name}, *role)) {
      return;
    }
  }
}

Decision Authorize(const ObjectReader& objects, const UserInfo& user,
                   const RequestAttributes& attrs) {
  Decision decision;
  // A binding whose role is missing is remembered for the denial reason.
  std::vector<std::string> errors;
  VisitRulesFor(
      objects, user, attrs.namespace_name,
      [&](const RuleSource& source, const Json& rule) {
        if (!RuleAllows(rule, attrs)) return true;
        decision = Decision{true, AllowedReason(source)};
        return false;
      },
      [&errors](const UnresolvedRole& role) { errors.push_back(AuthorizerResolutionError(role)); });
  if (decision.allowed) return decision;
  if (errors.size() == 1) {
    decision.reason = absl::StrCat("RBAC: ", errors[0]);
  } else if (errors.size() > 1) {
    decision.reason = absl::StrCat("RBAC: [", absl::StrJoin(errors, ", "), "]");
  }
  return decision;
}

std::string ForbiddenMessage(const UserInfo& user, const RequestAttributes& attrs) {
  std::string detail;
  if (!attrs.resource_request) {
    detail = absl::StrCat("User ", go::Quote(user.username), " cannot ", attrs.verb, " path ",
                          go::Quote(attrs.path));
  } else {
    std::string resource = attrs.resource;
    if (!attrs.subresource.empty()) absl::StrAppend(&resource, "/", attrs.subresource);
    detail = absl::StrCat("User ", go::Quote(user.username), " cannot ", attrs.verb, " resource ",
                          go::Quote(resource), " in API group ", go::Quote(attrs.api_group));
    if (!attrs.namespace_name.empty()) {
      absl::StrAppend(&detail, " in the namespace ", go::Quote(attrs.namespace_name));
    } else {
      absl::StrAppend(&detail, " at the cluster scope");
    }
  }
  // kube-apiserver escapes HTML metacharacters in the message it builds from request data.
  detail = absl::StrReplaceAll(detail, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}});

  if (!attrs.resource_request) return ForbiddenStatusMessage("", "", "", detail);
  return ForbiddenStatusMessage(attrs.api_group, attrs.resource, attrs.name, detail);
}

std::string ForbiddenStatusMessage(absl::string_view api_group, absl::string_view resource,
                                   absl::string_view name, absl::string_view cause) {
  // The qualified resource: "pods", "deployments.apps".
  std::string qualified(resource);
  if (qualified.empty()) return absl::StrCat("forbidden: ", cause);
  if (!api_group.empty()) absl::StrAppend(&qualified, ".", api_group);
  if (name.empty()) return absl::StrCat(qualified, " is forbidden: ", cause);
  return absl::StrCat(qualified, " ", go::Quote(std::string_view(name.data(), name.size())),
                      " is forbidden: ", cause);
}

}  // namespace kcred::devcluster
