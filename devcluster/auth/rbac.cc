#include "devcluster/auth/rbac.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace kcred::devcluster {
namespace {

using Json = nlohmann::json;

// A PolicyRule, read from its JSON form once per evaluation.
struct Rule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;
  std::vector<std::string> resource_names;
  std::vector<std::string> non_resource_urls;
};

struct Subject {
  std::string kind;
  std::string name;
  std::string namespace_name;
};

// The built-in bindings every cluster's bootstrap policy creates, as kube-apiserver reconciles
// them.
struct BootstrapBinding {
  const char* binding;  // ClusterRoleBinding and ClusterRole name
  std::vector<Subject> subjects;
  std::vector<Rule> rules;
};

const std::vector<BootstrapBinding>& BootstrapPolicy() {
  static const auto* const policy = new std::vector<BootstrapBinding>{
      {"cluster-admin",
       {{"Group", "system:masters", ""}},
       {{{"*"}, {"*"}, {"*"}, {}, {}}, {{"*"}, {}, {}, {}, {"*"}}}},
      {"system:basic-user",
       {{"Group", "system:authenticated", ""}},
       {{{"create"},
         {"authorization.k8s.io"},
         {"selfsubjectaccessreviews", "selfsubjectrulesreviews"},
         {},
         {}},
        {{"create"}, {"authentication.k8s.io"}, {"selfsubjectreviews"}, {}, {}}}},
      {"system:discovery",
       {{"Group", "system:authenticated", ""}},
       {{{"get"},
         {},
         {},
         {},
         {"/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi", "/openapi/*",
          "/api", "/api/*", "/apis", "/apis/*"}}}},
      {"system:public-info-viewer",
       {{"Group", "system:authenticated", ""}, {"Group", "system:unauthenticated", ""}},
       {{{"get"}, {}, {}, {}, {"/livez", "/readyz", "/healthz", "/version", "/version/"}}}},
  };
  return *policy;
}

// Go's %q for the strings RBAC messages quote: backslash, quote and control characters escaped.
std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

std::vector<std::string> StringList(const Json& object, const char* key) {
  std::vector<std::string> out;
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
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::vector<Rule> RulesOf(const Json& role) {
  std::vector<Rule> rules;
  auto it = role.find("rules");
  if (it == role.end() || !it->is_array()) return rules;
  for (const Json& r : *it) {
    if (!r.is_object()) continue;
    rules.push_back(Rule{StringList(r, "verbs"), StringList(r, "apiGroups"),
                         StringList(r, "resources"), StringList(r, "resourceNames"),
                         StringList(r, "nonResourceURLs")});
  }
  return rules;
}

std::vector<Subject> SubjectsOf(const Json& binding) {
  std::vector<Subject> subjects;
  auto it = binding.find("subjects");
  if (it == binding.end() || !it->is_array()) return subjects;
  for (const Json& s : *it) {
    subjects.push_back(Subject{StringAt(s, "kind"), StringAt(s, "name"), StringAt(s, "namespace")});
  }
  return subjects;
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool VerbMatches(const Rule& rule, const std::string& verb) {
  return Contains(rule.verbs, "*") || Contains(rule.verbs, verb);
}

bool ApiGroupMatches(const Rule& rule, const std::string& group) {
  return Contains(rule.api_groups, "*") || Contains(rule.api_groups, group);
}

bool ResourceMatches(const Rule& rule, const std::string& combined, const std::string& sub) {
  for (const std::string& r : rule.resources) {
    if (r == "*" || r == combined) return true;
    // "*/status" matches the status subresource of every resource.
    if (!sub.empty() && r.size() == sub.size() + 2 && absl::StartsWith(r, "*/") &&
        absl::EndsWith(r, sub)) {
      return true;
    }
  }
  return false;
}

// Empty resourceNames matches every name; otherwise the request's name (empty for list, create and
// deletecollection) must be listed, so such rules never allow those verbs.
bool ResourceNameMatches(const Rule& rule, const std::string& name) {
  return rule.resource_names.empty() || Contains(rule.resource_names, name);
}

bool NonResourceUrlMatches(const Rule& rule, const std::string& path) {
  for (const std::string& url : rule.non_resource_urls) {
    if (url == "*" || url == path) return true;
    if (absl::EndsWith(url, "*")) {
      absl::string_view prefix = url;
      while (!prefix.empty() && prefix.back() == '*') prefix.remove_suffix(1);
      if (absl::StartsWith(path, prefix)) return true;
    }
  }
  return false;
}

bool RuleAllows(const RequestAttributes& attrs, const Rule& rule) {
  if (attrs.resource_request) {
    std::string combined = attrs.resource;
    if (!attrs.subresource.empty()) absl::StrAppend(&combined, "/", attrs.subresource);
    return VerbMatches(rule, attrs.verb) && ApiGroupMatches(rule, attrs.api_group) &&
           ResourceMatches(rule, combined, attrs.subresource) &&
           ResourceNameMatches(rule, attrs.name);
  }
  return VerbMatches(rule, attrs.verb) && NonResourceUrlMatches(rule, attrs.path);
}

// Whether `subject` names `user`. `binding_namespace` is the RoleBinding's namespace (the default
// for ServiceAccount subjects), empty for ClusterRoleBindings.
bool AppliesTo(const UserInfo& user, const Subject& subject, const std::string& binding_namespace) {
  if (subject.kind == "User") return user.username == subject.name;
  if (subject.kind == "Group") return Contains(user.groups, subject.name);
  if (subject.kind == "ServiceAccount") {
    const std::string& ns =
        subject.namespace_name.empty() ? binding_namespace : subject.namespace_name;
    if (ns.empty()) return false;
    return user.username == absl::StrCat("system:serviceaccount:", ns, ":", subject.name);
  }
  return false;
}

std::string DescribeSubject(const Subject& subject, const std::string& binding_namespace) {
  if (subject.kind == "ServiceAccount") {
    const std::string& ns =
        subject.namespace_name.empty() ? binding_namespace : subject.namespace_name;
    return absl::StrCat(subject.kind, " ", GoQuote(absl::StrCat(subject.name, "/", ns)));
  }
  return absl::StrCat(subject.kind, " ", GoQuote(subject.name));
}

// The first subject of `subjects` that names `user`, or nullptr.
const Subject* MatchingSubject(const UserInfo& user, const std::vector<Subject>& subjects,
                               const std::string& binding_namespace) {
  for (const Subject& s : subjects) {
    if (AppliesTo(user, s, binding_namespace)) return &s;
  }
  return nullptr;
}

bool AnyRuleAllows(const RequestAttributes& attrs, const std::vector<Rule>& rules) {
  for (const Rule& rule : rules) {
    if (RuleAllows(attrs, rule)) return true;
  }
  return false;
}

// The roleRef's role in JSON, or the error kube-apiserver's rule resolver reports for it.
std::optional<Json> ResolveRoleRef(const ObjectReader& objects, const Json& role_ref,
                                   const std::string& binding_namespace, std::string* error) {
  std::string kind = StringAt(role_ref, "kind");
  std::string name = StringAt(role_ref, "name");
  if (kind == "ClusterRole") {
    std::optional<Json> role = objects.Get("clusterroles", "", name);
    if (!role.has_value()) {
      *error = absl::StrCat("clusterrole.rbac.authorization.k8s.io ", GoQuote(name), " not found");
    }
    return role;
  }
  if (kind == "Role") {
    // A ClusterRoleBinding has no namespace to find a Role in.
    std::optional<Json> role;
    if (!binding_namespace.empty()) role = objects.Get("roles", binding_namespace, name);
    if (!role.has_value()) {
      *error = absl::StrCat("role.rbac.authorization.k8s.io ", GoQuote(name), " not found");
    }
    return role;
  }
  *error = absl::StrCat("unsupported role reference kind: ", GoQuote(kind));
  return std::nullopt;
}

}  // namespace

Decision Authorize(const ObjectReader& objects, const UserInfo& user,
                   const RequestAttributes& attrs) {
  for (const BootstrapBinding& b : BootstrapPolicy()) {
    const Subject* subject = MatchingSubject(user, b.subjects, "");
    if (subject != nullptr && AnyRuleAllows(attrs, b.rules)) {
      return Decision{true, absl::StrCat("RBAC: allowed by ClusterRoleBinding ", GoQuote(b.binding),
                                         " of ClusterRole ", GoQuote(b.binding), " to ",
                                         DescribeSubject(*subject, ""))};
    }
  }

  std::vector<std::string> errors;
  for (const Json& binding : objects.List("clusterrolebindings", "")) {
    if (!binding.is_object()) continue;
    const std::vector<Subject> subjects = SubjectsOf(binding);
    const Subject* subject = MatchingSubject(user, subjects, "");
    if (subject == nullptr) continue;
    auto ref = binding.find("roleRef");
    if (ref == binding.end()) continue;
    const Json& role_ref = *ref;
    std::string error;
    std::optional<Json> role = ResolveRoleRef(objects, role_ref, "", &error);
    if (!role.has_value()) {
      errors.push_back(error);
      continue;
    }
    if (AnyRuleAllows(attrs, RulesOf(*role))) {
      std::string name = StringAt(binding.value("metadata", Json::object()), "name");
      return Decision{
          true, absl::StrCat("RBAC: allowed by ClusterRoleBinding ", GoQuote(name), " of ",
                             StringAt(role_ref, "kind"), " ", GoQuote(StringAt(role_ref, "name")),
                             " to ", DescribeSubject(*subject, ""))};
    }
  }

  if (!attrs.namespace_name.empty()) {
    for (const Json& binding : objects.List("rolebindings", attrs.namespace_name)) {
      if (!binding.is_object()) continue;
      const Json metadata = binding.value("metadata", Json::object());
      // The store answers for the namespace asked, but a binding only ever grants in its own.
      std::string binding_namespace = StringAt(metadata, "namespace");
      if (binding_namespace.empty()) binding_namespace = attrs.namespace_name;
      if (binding_namespace != attrs.namespace_name) continue;
      const std::vector<Subject> subjects = SubjectsOf(binding);
      const Subject* subject = MatchingSubject(user, subjects, binding_namespace);
      if (subject == nullptr) continue;
      auto ref = binding.find("roleRef");
      if (ref == binding.end()) continue;
      std::string error;
      std::optional<Json> role = ResolveRoleRef(objects, *ref, binding_namespace, &error);
      if (!role.has_value()) {
        errors.push_back(error);
        continue;
      }
      if (AnyRuleAllows(attrs, RulesOf(*role))) {
        return Decision{
            true,
            absl::StrCat("RBAC: allowed by RoleBinding ",
                         GoQuote(absl::StrCat(StringAt(metadata, "name"), "/", binding_namespace)),
                         " of ", StringAt(*ref, "kind"), " ", GoQuote(StringAt(*ref, "name")),
                         " to ", DescribeSubject(*subject, binding_namespace))};
      }
    }
  }

  Decision denied;
  if (errors.size() == 1) {
    denied.reason = absl::StrCat("RBAC: ", errors[0]);
  } else if (errors.size() > 1) {
    denied.reason = absl::StrCat("RBAC: [", absl::StrJoin(errors, ", "), "]");
  }
  return denied;
}

std::string ForbiddenMessage(const UserInfo& user, const RequestAttributes& attrs) {
  std::string detail;
  if (!attrs.resource_request) {
    detail = absl::StrCat("User ", GoQuote(user.username), " cannot ", attrs.verb, " path ",
                          GoQuote(attrs.path));
  } else {
    std::string resource = attrs.resource;
    if (!attrs.subresource.empty()) absl::StrAppend(&resource, "/", attrs.subresource);
    detail = absl::StrCat("User ", GoQuote(user.username), " cannot ", attrs.verb, " resource ",
                          GoQuote(resource), " in API group ", GoQuote(attrs.api_group));
    if (!attrs.namespace_name.empty()) {
      absl::StrAppend(&detail, " in the namespace ", GoQuote(attrs.namespace_name));
    } else {
      absl::StrAppend(&detail, " at the cluster scope");
    }
  }
  // kube-apiserver escapes HTML metacharacters in the message it builds from request data.
  detail = absl::StrReplaceAll(detail, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}});

  // apierrors.NewForbidden: the qualified resource ("pods", "deployments.apps") and the name.
  std::string qualified;
  if (attrs.resource_request) {
    qualified = attrs.resource;
    if (!attrs.api_group.empty()) absl::StrAppend(&qualified, ".", attrs.api_group);
  }
  if (qualified.empty()) return absl::StrCat("forbidden: ", detail);
  if (attrs.name.empty()) return absl::StrCat(qualified, " is forbidden: ", detail);
  return absl::StrCat(qualified, " ", GoQuote(attrs.name), " is forbidden: ", detail);
}

}  // namespace kcred::devcluster
