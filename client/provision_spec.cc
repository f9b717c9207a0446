#include "client/provision_spec.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/arguments.h"
#include "common/yaml_reader.h"

namespace kcred::client {

const char kProvisionFileHelp[] =
    "The file of -f is one YAML document (field names as in the API's AccountSpec):\n"
    "\n"
    "  account: dev/automation/ci-bot    # or ref: {cluster: dev, namespace: automation, name: "
    "ci-bot}\n"
    "  spec:\n"
    "    scope: cluster                  # namespace (default) or cluster\n"
    "    access:                         # exactly one of rules, role_ref, token_only\n"
    "      rules:\n"
    "        - verbs: [get, list, watch]\n"
    "          resources: [pods, configmaps]\n"
    "          api_groups: [\"\"]          # \"\" is the core group (the default)\n"
    "          resource_names: [app-config]   # optional: only these objects\n"
    "        - verbs: [get]\n"
    "          non_resource_urls: [/healthz]  # cluster scope only\n"
    "      # role_ref: {kind: ClusterRole, name: view}   # kind Role or ClusterRole\n"
    "      # token_only: true            # an existing ServiceAccount, no RBAC objects\n"
    "    create_namespace: true          # default false\n"
    "    adopt: false                    # take over same-named objects kcred did not create\n"
    "    token:\n"
    "      mode: bound                   # bound (default) or legacy\n"
    "      ttl: 1h\n"
    "      audiences: [https://kubernetes.default.svc]\n"
    "      rotate_fraction: 0.8          # or rotate_interval: 30m\n"
    "      grace: 5m\n"
    "    labels: {team: ci}\n"
    "    annotations: {owner: ci@example.com}\n"
    "\n"
    "Unset fields take kcredd's defaults. Unknown keys are errors. The account may instead be\n"
    "given as the argument (then the file must not name one). -f - reads the file from stdin.";

const std::vector<FlagDef>& ProvisionSpecFlags() {
  static const std::vector<FlagDef> kFlags = {
      {"rule", 0, true, "VERBS:RESOURCES[:APIGROUPS[:NAMES]]",
       "grant a rule (repeatable), e.g. 'get,list:pods,configmaps' or 'get:deployments:apps'",
       true},
      {"cluster-scope", 0, false, "", "access across the cluster (ClusterRole + binding)"},
      {"role-ref", 0, true, "KIND/NAME", "bind an existing Role/NAME or ClusterRole/NAME"},
      {"token-only", 0, false, "", "tokens for an existing ServiceAccount; no RBAC objects"},
      {"ttl", 0, true, "DURATION", "token lifetime, e.g. 1h (default: kcredd's)"},
      {"rotate-at", 0, true, "FRACTION", "rotate after this fraction of the ttl, e.g. 0.8"},
      {"rotate-every", 0, true, "DURATION", "rotate at this interval after issue, e.g. 30m"},
      {"grace", 0, true, "DURATION", "how long the previous token stays valid, e.g. 5m (0s: none)"},
      {"mode", 0, true, "bound|legacy", "token kind (default bound)"},
      {"audience", 0, true, "AUDIENCE", "audience of bound tokens (repeatable)", true},
      {"create-namespace", 0, false, "", "create the namespace when missing"},
      {"adopt", 0, false, "", "take over same-named objects that kcred did not create"},
      {"label", 0, true, "KEY=VALUE", "extra label on the objects kcred creates (repeatable)",
       true},
      {"annotation", 0, true, "KEY=VALUE", "extra annotation on those objects (repeatable)", true},
  };
  return kFlags;
}

absl::StatusOr<v1::AccountSpec> BuildSpecFromFlags(const ParsedArgs& args) {
  v1::AccountSpec spec;
  const int access_kinds = (args.Has("rule") ? 1 : 0) + (args.Has("role-ref") ? 1 : 0) +
                           (args.Has("token-only") ? 1 : 0);
  if (access_kinds == 0) {
    return absl::InvalidArgumentError(
        "no access given: use --rule (repeatable), --role-ref or --token-only (or -f FILE)");
  }
  if (access_kinds > 1) {
    return absl::InvalidArgumentError(
        "--rule, --role-ref and --token-only are exclusive: give one kind of access");
  }
  if (args.Has("cluster-scope")) spec.set_scope(v1::SCOPE_CLUSTER);
  for (const std::string& text : args.All("rule")) {
    auto rule = ParseRule(text);
    if (!rule.ok()) return rule.status();
    *spec.mutable_access()->mutable_rules()->add_rules() = *rule;
  }
  if (args.Has("role-ref")) {
    auto ref = ParseRoleRef(args.Get("role-ref"));
    if (!ref.ok()) return ref.status();
    if (ref->kind() == v1::ROLE_KIND_ROLE && args.Has("cluster-scope")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--role-ref ", args.Get("role-ref"),
          " is a namespaced Role, which cannot be bound cluster-wide; drop --cluster-scope or "
          "bind a ClusterRole/NAME"));
    }
    *spec.mutable_access()->mutable_role_ref() = *ref;
  }
  if (args.Has("token-only")) spec.mutable_access()->mutable_token_only();

  v1::TokenPolicy* token = spec.mutable_token();
  if (args.Has("mode")) {
    const std::string mode = args.Get("mode");
    if (mode == "bound") {
      token->set_mode(v1::TOKEN_MODE_BOUND);
    } else if (mode == "legacy") {
      token->set_mode(v1::TOKEN_MODE_LEGACY);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--mode \"", mode, "\" is not a token mode; use bound or legacy"));
    }
  }
  if (args.Has("ttl")) {
    auto ttl = ParseDurationArg(args.Get("ttl"), "--ttl");
    if (!ttl.ok()) return ttl.status();
    if (*ttl == absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--ttl must be longer than 0s, e.g. 1h");
    }
    *token->mutable_ttl() = ToProtoDuration(*ttl);
  }
  if (args.Has("rotate-at") && args.Has("rotate-every")) {
    return absl::InvalidArgumentError(
        "--rotate-at and --rotate-every are exclusive: rotate at a fraction of the ttl or at a "
        "fixed interval");
  }
  if (args.Has("rotate-at")) {
    double fraction = 0;
    if (!absl::SimpleAtod(args.Get("rotate-at"), &fraction) || !(fraction > 0 && fraction < 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rotate-at \"", args.Get("rotate-at"),
                       "\" is not a fraction between 0 and 1 (exclusive), e.g. 0.8"));
    }
    token->set_rotate_fraction(fraction);
  }
  if (args.Has("rotate-every")) {
    auto every = ParseDurationArg(args.Get("rotate-every"), "--rotate-every");
    if (!every.ok()) return every.status();
    if (*every == absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--rotate-every must be longer than 0s, e.g. 30m");
    }
    *token->mutable_rotate_interval() = ToProtoDuration(*every);
  }
  if (args.Has("grace")) {
    auto grace = ParseDurationArg(args.Get("grace"), "--grace");
    if (!grace.ok()) return grace.status();
    *token->mutable_grace() = ToProtoDuration(*grace);
  }
  for (const std::string& a : args.All("audience")) {
    if (a.empty()) return absl::InvalidArgumentError("--audience must not be empty");
    token->add_audiences(a);
  }
  if (args.Has("create-namespace")) spec.set_create_namespace(true);
  if (args.Has("adopt")) spec.set_adopt(true);
  struct MapFlag {
    const char* flag;
    google::protobuf::Map<std::string, std::string>* map;
  };
  for (const MapFlag& f : {MapFlag{"label", spec.mutable_labels()},
                           MapFlag{"annotation", spec.mutable_annotations()}}) {
    for (const std::string& text : args.All(f.flag)) {
      auto kv = ParseKeyValue(text, absl::StrCat("--", f.flag));
      if (!kv.ok()) return kv.status();
      if (f.map->count(kv->first) > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", f.flag, " ", kv->first, " is given twice; give each key once"));
      }
      (*f.map)[kv->first] = kv->second;
    }
  }
  return spec;
}

namespace {

// Walks the provision file, turning every problem into an error naming source:line:col and the
// dotted key path.
class Reader : public YamlReader {
 public:
  using YamlReader::YamlReader;

  // A list of strings; `allow_empty` permits "" items (the core API group).
  absl::Status Strings(const YAML::Node& node, const std::string& path, bool allow_empty,
                       google::protobuf::RepeatedPtrField<std::string>* out) const {
    if (!node.IsSequence()) return Error(node, path, "expected a list of strings, e.g. [a, b]");
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string item_path = absl::StrCat(path, "[", i, "]");
      auto s = allow_empty ? String(node[i], item_path) : NonEmptyString(node[i], item_path);
      if (!s.ok()) return s.status();
      out->Add(std::move(*s));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<absl::Duration> Duration(const YAML::Node& node, const std::string& path) const {
    auto s = String(node, path);
    if (!s.ok()) return s.status();
    auto d = ParseDurationArg(*s, "duration");
    if (!d.ok()) return Error(node, path, d.status().message());
    return d;
  }

  absl::Status StringMap(const YAML::Node& node, const std::string& path,
                         google::protobuf::Map<std::string, std::string>* out) const {
    if (!node.IsMap()) return Error(node, path, "expected a mapping of strings, e.g. {team: ci}");
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (key.empty()) return Error(kv.first, path, "keys must not be empty");
      auto value = String(kv.second, Join(path, key));
      if (!value.ok()) return value.status();
      (*out)[key] = *value;
    }
    return absl::OkStatus();
  }

  absl::Status Rule(const YAML::Node& node, const std::string& path, v1::PolicyRule* rule) const {
    if (auto s =
            ExpectMap(node, path,
                      {"verbs", "resources", "api_groups", "resource_names", "non_resource_urls"});
        !s.ok()) {
      return s;
    }
    if (!node["verbs"]) return Error(node, path, "verbs is required, e.g. verbs: [get, list]");
    if (auto s = Strings(node["verbs"], Join(path, "verbs"), false, rule->mutable_verbs());
        !s.ok()) {
      return s;
    }
    if (rule->verbs().empty())
      return Error(node["verbs"], Join(path, "verbs"), "must not be empty");
    struct Field {
      const char* key;
      bool allow_empty;
      google::protobuf::RepeatedPtrField<std::string>* out;
    };
    for (const Field& f : {Field{"resources", false, rule->mutable_resources()},
                           Field{"api_groups", true, rule->mutable_api_groups()},
                           Field{"resource_names", false, rule->mutable_resource_names()},
                           Field{"non_resource_urls", false, rule->mutable_non_resource_urls()}}) {
      if (!node[f.key]) continue;
      if (auto s = Strings(node[f.key], Join(path, f.key), f.allow_empty, f.out); !s.ok()) return s;
    }
    if (rule->resources().empty() && rule->non_resource_urls().empty()) {
      return Error(node, path, "needs resources (e.g. resources: [pods]) or non_resource_urls");
    }
    if (!rule->resources().empty() && !rule->non_resource_urls().empty()) {
      return Error(node, path, "resources and non_resource_urls are exclusive; use two rules");
    }
    return absl::OkStatus();
  }

  absl::Status Access(const YAML::Node& node, const std::string& path, v1::Access* access) const {
    if (auto s = ExpectMap(node, path, {"rules", "role_ref", "token_only"}); !s.ok()) return s;
    if (node.size() != 1) {
      return Error(node, path, "give exactly one of rules, role_ref, token_only");
    }
    if (node["rules"]) {
      const YAML::Node rules = node["rules"];
      const std::string rules_path = Join(path, "rules");
      if (!rules.IsSequence() || rules.size() == 0) {
        return Error(rules, rules_path, "expected a non-empty list of rules");
      }
      for (std::size_t i = 0; i < rules.size(); ++i) {
        if (auto s = Rule(rules[i], absl::StrCat(rules_path, "[", i, "]"),
                          access->mutable_rules()->add_rules());
            !s.ok()) {
          return s;
        }
      }
    } else if (node["role_ref"]) {
      const YAML::Node ref = node["role_ref"];
      const std::string ref_path = Join(path, "role_ref");
      if (auto s = ExpectMap(ref, ref_path, {"kind", "name"}); !s.ok()) return s;
      if (!ref["kind"] || !ref["name"]) {
        return Error(ref, ref_path, "needs kind (Role or ClusterRole) and name");
      }
      auto kind = String(ref["kind"], Join(ref_path, "kind"));
      if (!kind.ok()) return kind.status();
      if (*kind == "Role") {
        access->mutable_role_ref()->set_kind(v1::ROLE_KIND_ROLE);
      } else if (*kind == "ClusterRole") {
        access->mutable_role_ref()->set_kind(v1::ROLE_KIND_CLUSTER_ROLE);
      } else {
        return Error(ref["kind"], Join(ref_path, "kind"),
                     absl::StrCat("\"", *kind, "\" is not Role or ClusterRole"));
      }
      auto name = NonEmptyString(ref["name"], Join(ref_path, "name"));
      if (!name.ok()) return name.status();
      access->mutable_role_ref()->set_name(*name);
    } else {
      auto on = Bool(node["token_only"], Join(path, "token_only"));
      if (!on.ok()) return on.status();
      if (!*on) {
        return Error(node["token_only"], Join(path, "token_only"),
                     "only true is meaningful; use rules or role_ref for other access");
      }
      access->mutable_token_only();
    }
    return absl::OkStatus();
  }

  absl::Status Token(const YAML::Node& node, const std::string& path,
                     v1::TokenPolicy* token) const {
    if (auto s =
            ExpectMap(node, path,
                      {"mode", "ttl", "audiences", "rotate_fraction", "rotate_interval", "grace"});
        !s.ok()) {
      return s;
    }
    if (node["mode"]) {
      auto mode = String(node["mode"], Join(path, "mode"));
      if (!mode.ok()) return mode.status();
      if (*mode == "bound") {
        token->set_mode(v1::TOKEN_MODE_BOUND);
      } else if (*mode == "legacy") {
        token->set_mode(v1::TOKEN_MODE_LEGACY);
      } else {
        return Error(node["mode"], Join(path, "mode"),
                     absl::StrCat("\"", *mode, "\" is not a token mode; use bound or legacy"));
      }
    }
    if (node["ttl"]) {
      auto ttl = Duration(node["ttl"], Join(path, "ttl"));
      if (!ttl.ok()) return ttl.status();
      if (*ttl == absl::ZeroDuration()) {
        return Error(node["ttl"], Join(path, "ttl"), "must be longer than 0s, e.g. 1h");
      }
      *token->mutable_ttl() = ToProtoDuration(*ttl);
    }
    if (node["audiences"]) {
      if (auto s = Strings(node["audiences"], Join(path, "audiences"), false,
                           token->mutable_audiences());
          !s.ok()) {
        return s;
      }
    }
    if (node["rotate_fraction"] && node["rotate_interval"]) {
      return Error(node["rotate_interval"], Join(path, "rotate_interval"),
                   "rotate_fraction and rotate_interval are exclusive; keep one");
    }
    if (node["rotate_fraction"]) {
      double fraction = 0;
      if (!node["rotate_fraction"].IsScalar() ||
          !absl::SimpleAtod(node["rotate_fraction"].Scalar(), &fraction) ||
          !(fraction > 0 && fraction < 1)) {
        return Error(node["rotate_fraction"], Join(path, "rotate_fraction"),
                     "expected a fraction between 0 and 1 (exclusive), e.g. 0.8");
      }
      token->set_rotate_fraction(fraction);
    }
    if (node["rotate_interval"]) {
      auto every = Duration(node["rotate_interval"], Join(path, "rotate_interval"));
      if (!every.ok()) return every.status();
      if (*every == absl::ZeroDuration()) {
        return Error(node["rotate_interval"], Join(path, "rotate_interval"),
                     "must be longer than 0s, e.g. 30m");
      }
      *token->mutable_rotate_interval() = ToProtoDuration(*every);
    }
    if (node["grace"]) {
      auto grace = Duration(node["grace"], Join(path, "grace"));
      if (!grace.ok()) return grace.status();
      *token->mutable_grace() = ToProtoDuration(*grace);
    }
    return absl::OkStatus();
  }

  absl::Status Spec(const YAML::Node& node, const std::string& path, v1::AccountSpec* spec) const {
    if (auto s = ExpectMap(
            node, path,
            {"scope", "access", "create_namespace", "adopt", "token", "labels", "annotations"});
        !s.ok()) {
      return s;
    }
    if (node["scope"]) {
      auto scope = String(node["scope"], Join(path, "scope"));
      if (!scope.ok()) return scope.status();
      if (*scope == "namespace") {
        spec->set_scope(v1::SCOPE_NAMESPACE);
      } else if (*scope == "cluster") {
        spec->set_scope(v1::SCOPE_CLUSTER);
      } else {
        return Error(node["scope"], Join(path, "scope"),
                     absl::StrCat("\"", *scope, "\" is not a scope; use namespace or cluster"));
      }
    }
    if (!node["access"]) {
      return Error(
          node, path,
          "access is required (rules, role_ref or token_only); see kcred provision --help");
    }
    if (auto s = Access(node["access"], Join(path, "access"), spec->mutable_access()); !s.ok()) {
      return s;
    }
    if (node["create_namespace"]) {
      auto b = Bool(node["create_namespace"], Join(path, "create_namespace"));
      if (!b.ok()) return b.status();
      spec->set_create_namespace(*b);
    }
    if (node["adopt"]) {
      auto b = Bool(node["adopt"], Join(path, "adopt"));
      if (!b.ok()) return b.status();
      spec->set_adopt(*b);
    }
    if (node["token"]) {
      if (auto s = Token(node["token"], Join(path, "token"), spec->mutable_token()); !s.ok()) {
        return s;
      }
    }
    if (node["labels"]) {
      if (auto s = StringMap(node["labels"], Join(path, "labels"), spec->mutable_labels());
          !s.ok()) {
        return s;
      }
    }
    if (node["annotations"]) {
      if (auto s = StringMap(node["annotations"], Join(path, "annotations"),
                             spec->mutable_annotations());
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Ref(const YAML::Node& node, const std::string& path, v1::AccountRef* ref) const {
    if (auto s = ExpectMap(node, path, {"cluster", "namespace", "name"}); !s.ok()) return s;
    std::string parts[3];
    const char* keys[3] = {"cluster", "namespace", "name"};
    for (int i = 0; i < 3; ++i) {
      if (!node[keys[i]]) {
        return Error(node, path, absl::StrCat(keys[i], " is required (cluster, namespace, name)"));
      }
      auto v = NonEmptyString(node[keys[i]], Join(path, keys[i]));
      if (!v.ok()) return v.status();
      parts[i] = *v;
    }
    auto parsed = ParseAccountRef(absl::StrCat(parts[0], "/", parts[1], "/", parts[2]));
    if (!parsed.ok()) return Error(node, path, parsed.status().message());
    *ref = *parsed;
    return absl::OkStatus();
  }

  absl::StatusOr<ProvisionFile> Document(const YAML::Node& root) const {
    ProvisionFile file;
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source(),
                       ": empty; expected a document with account (or ref) and spec; see kcred "
                       "provision --help"));
    }
    if (auto s = ExpectMap(root, "", {"account", "ref", "spec"}); !s.ok()) return s;
    if (root["account"] && root["ref"]) {
      return Error(root["ref"], "ref", "account and ref name the same thing; keep one");
    }
    if (root["account"]) {
      auto text = String(root["account"], "account");
      if (!text.ok()) return text.status();
      auto ref = ParseAccountRef(*text);
      if (!ref.ok()) return Error(root["account"], "account", ref.status().message());
      file.ref = *ref;
      file.has_ref = true;
    }
    if (root["ref"]) {
      if (auto s = Ref(root["ref"], "ref", &file.ref); !s.ok()) return s;
      file.has_ref = true;
    }
    if (!root["spec"]) {
      return Error(root, "", "spec is required; see kcred provision --help for its shape");
    }
    if (auto s = Spec(root["spec"], "spec", &file.spec); !s.ok()) return s;
    return file;
  }

 private:
};

}  // namespace

absl::StatusOr<ProvisionFile> ParseProvisionFile(const std::string& text,
                                                 const std::string& source) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": not valid YAML: ", e.msg));
  }
  if (docs.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": holds ", docs.size(),
        " YAML documents; give one account per file (run kcred provision once per file)"));
  }
  Reader reader(source);
  try {
    return reader.Document(docs.empty() ? YAML::Node() : docs[0]);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
}

}  // namespace kcred::client
