#include "client/provision_spec.h"

#include <yaml-cpp/yaml.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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
  if (docs.empty() || !docs[0].IsDefined() || docs[0].IsNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     ": empty; expected a document with account (or ref) and spec; see kcred "
                     "provision --help"));
  }
  return ReadAccountDocument(YamlReader(source), docs[0], "");
}

}  // namespace kcred::client
