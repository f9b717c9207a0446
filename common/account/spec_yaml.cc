#include "common/account/spec_yaml.h"

#include <initializer_list>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/account/account_ref.h"

namespace kcred {
namespace {

// The key path of item `i` of the list at `path`: "path[i]".
std::string Item(const std::string& path, std::size_t i) { return absl::StrCat(path, "[", i, "]"); }

// A list of strings; `allow_empty` permits "" items (the core API group).
absl::Status ReadStrings(const YamlReader& r, const YAML::Node& node, const std::string& path,
                         bool allow_empty, google::protobuf::RepeatedPtrField<std::string>* out) {
  if (!node.IsSequence()) return r.Error(node, path, "expected a list of strings, e.g. [a, b]");
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto s =
        allow_empty ? r.String(node[i], Item(path, i)) : r.NonEmptyString(node[i], Item(path, i));
    if (!s.ok()) return s.status();
    out->Add(std::move(*s));
  }
  return absl::OkStatus();
}

// A duration as kcred's command line takes it (same words in the error as for the flags).
absl::StatusOr<absl::Duration> ReadDuration(const YamlReader& r, const YAML::Node& node,
                                            const std::string& path) {
  auto s = r.String(node, path);
  if (!s.ok()) return s.status();
  auto d = ParseDurationArg(*s, "duration");
  if (!d.ok()) return r.Error(node, path, d.status().message());
  return d;
}

// A positive duration written into `out`; `example` completes "must be longer than 0s, e.g. ".
absl::Status ReadPositiveDuration(const YamlReader& r, const YAML::Node& node,
                                  const std::string& path, const char* example,
                                  google::protobuf::Duration* out) {
  auto d = ReadDuration(r, node, path);
  if (!d.ok()) return d.status();
  if (*d == absl::ZeroDuration()) {
    return r.Error(node, path, absl::StrCat("must be longer than 0s, e.g. ", example));
  }
  *out = ToProtoDuration(*d);
  return absl::OkStatus();
}

// One of a few words at `node`, as its enum value; otherwise an error quoting the word followed by
// `not_one` (" is not a scope; use namespace or cluster").
template <typename Enum>
absl::StatusOr<Enum> ReadChoice(const YamlReader& r, const YAML::Node& node,
                                const std::string& path,
                                std::initializer_list<std::pair<const char*, Enum>> choices,
                                const char* not_one) {
  auto word = r.String(node, path);
  if (!word.ok()) return word.status();
  for (const auto& [text, value] : choices) {
    if (*word == text) return value;
  }
  return r.Error(node, path, absl::StrCat("\"", *word, "\"", not_one));
}

absl::Status ReadStringMap(const YamlReader& r, const YAML::Node& node, const std::string& path,
                           google::protobuf::Map<std::string, std::string>* out) {
  if (!node.IsMap()) return r.Error(node, path, "expected a mapping of strings, e.g. {team: ci}");
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    if (key.empty()) return r.Error(kv.first, path, "keys must not be empty");
    auto value = r.String(kv.second, YamlReader::Join(path, key));
    if (!value.ok()) return value.status();
    (*out)[key] = *value;
  }
  return absl::OkStatus();
}

absl::Status ReadRule(const YamlReader& r, const YAML::Node& node, const std::string& path,
                      v1::PolicyRule* rule) {
  if (auto s = r.ExpectMap(
          node, path, {"verbs", "resources", "api_groups", "resource_names", "non_resource_urls"});
      !s.ok()) {
    return s;
  }
  const std::string verbs_path = YamlReader::Join(path, "verbs");
  if (!node["verbs"]) return r.Error(node, path, "verbs is required, e.g. verbs: [get, list]");
  if (auto s = ReadStrings(r, node["verbs"], verbs_path, false, rule->mutable_verbs()); !s.ok()) {
    return s;
  }
  if (rule->verbs().empty()) return r.Error(node["verbs"], verbs_path, "must not be empty");
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
    if (auto s = ReadStrings(r, node[f.key], YamlReader::Join(path, f.key), f.allow_empty, f.out);
        !s.ok()) {
      return s;
    }
  }
  if (rule->resources().empty() && rule->non_resource_urls().empty()) {
    return r.Error(node, path, "needs resources (e.g. resources: [pods]) or non_resource_urls");
  }
  if (!rule->resources().empty() && !rule->non_resource_urls().empty()) {
    return r.Error(node, path, "resources and non_resource_urls are exclusive; use two rules");
  }
  return absl::OkStatus();
}

absl::Status ReadRoleRef(const YamlReader& r, const YAML::Node& node, const std::string& path,
                         v1::RoleRef* ref) {
  if (auto s = r.ExpectMap(node, path, {"kind", "name"}); !s.ok()) return s;
  if (!node["kind"] || !node["name"]) {
    return r.Error(node, path, "needs kind (Role or ClusterRole) and name");
  }
  auto kind = ReadChoice<v1::RoleKind>(
      r, node["kind"], YamlReader::Join(path, "kind"),
      {{"Role", v1::ROLE_KIND_ROLE}, {"ClusterRole", v1::ROLE_KIND_CLUSTER_ROLE}},
      " is not Role or ClusterRole");
  if (!kind.ok()) return kind.status();
  ref->set_kind(*kind);
  auto name = r.NonEmptyString(node["name"], YamlReader::Join(path, "name"));
  if (!name.ok()) return name.status();
  ref->set_name(*name);
  return absl::OkStatus();
}

absl::Status ReadAccess(const YamlReader& r, const YAML::Node& node, const std::string& path,
                        v1::Access* access) {
  if (auto s = r.ExpectMap(node, path, {"rules", "role_ref", "token_only"}); !s.ok()) return s;
  if (node.size() != 1) {
    return r.Error(node, path, "give exactly one of rules, role_ref, token_only");
  }
  if (node["rules"]) {
    const YAML::Node rules = node["rules"];
    const std::string rules_path = YamlReader::Join(path, "rules");
    if (!rules.IsSequence() || rules.size() == 0) {
      return r.Error(rules, rules_path, "expected a non-empty list of rules");
    }
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (auto s = ReadRule(r, rules[i], Item(rules_path, i), access->mutable_rules()->add_rules());
          !s.ok()) {
        return s;
      }
    }
  } else if (node["role_ref"]) {
    return ReadRoleRef(r, node["role_ref"], YamlReader::Join(path, "role_ref"),
                       access->mutable_role_ref());
  } else {
    const std::string token_only_path = YamlReader::Join(path, "token_only");
    auto on = r.Bool(node["token_only"], token_only_path);
    if (!on.ok()) return on.status();
    if (!*on) {
      return r.Error(node["token_only"], token_only_path,
                     "only true is meaningful; use rules or role_ref for other access");
    }
    access->mutable_token_only();
  }
  return absl::OkStatus();
}

absl::Status ReadTokenPolicy(const YamlReader& r, const YAML::Node& node, const std::string& path,
                             v1::TokenPolicy* token) {
  if (auto s = r.ExpectMap(
          node, path, {"mode", "ttl", "audiences", "rotate_fraction", "rotate_interval", "grace"});
      !s.ok()) {
    return s;
  }
  if (node["mode"]) {
    auto mode = ReadChoice<v1::TokenMode>(
        r, node["mode"], YamlReader::Join(path, "mode"),
        {{"bound", v1::TOKEN_MODE_BOUND}, {"legacy", v1::TOKEN_MODE_LEGACY}},
        " is not a token mode; use bound or legacy");
    if (!mode.ok()) return mode.status();
    token->set_mode(*mode);
  }
  if (node["ttl"]) {
    if (auto s = ReadPositiveDuration(r, node["ttl"], YamlReader::Join(path, "ttl"), "1h",
                                      token->mutable_ttl());
        !s.ok()) {
      return s;
    }
  }
  if (node["audiences"]) {
    if (auto s = ReadStrings(r, node["audiences"], YamlReader::Join(path, "audiences"), false,
                             token->mutable_audiences());
        !s.ok()) {
      return s;
    }
  }
  if (node["rotate_fraction"] && node["rotate_interval"]) {
    return r.Error(node["rotate_interval"], YamlReader::Join(path, "rotate_interval"),
                   "rotate_fraction and rotate_interval are exclusive; keep one");
  }
  if (node["rotate_fraction"]) {
    double fraction = 0;
    if (!node["rotate_fraction"].IsScalar() ||
        !absl::SimpleAtod(node["rotate_fraction"].Scalar(), &fraction) ||
        !(fraction > 0 && fraction < 1)) {
      return r.Error(node["rotate_fraction"], YamlReader::Join(path, "rotate_fraction"),
                     "expected a fraction between 0 and 1 (exclusive), e.g. 0.8");
    }
    token->set_rotate_fraction(fraction);
  }
  if (node["rotate_interval"]) {
    if (auto s = ReadPositiveDuration(r, node["rotate_interval"],
                                      YamlReader::Join(path, "rotate_interval"), "30m",
                                      token->mutable_rotate_interval());
        !s.ok()) {
      return s;
    }
  }
  if (node["grace"]) {
    auto grace = ReadDuration(r, node["grace"], YamlReader::Join(path, "grace"));
    if (!grace.ok()) return grace.status();
    *token->mutable_grace() = ToProtoDuration(*grace);
  }
  return absl::OkStatus();
}

absl::Status ReadSpec(const YamlReader& r, const YAML::Node& node, const std::string& path,
                      v1::AccountSpec* spec) {
  if (auto s = r.ExpectMap(
          node, path,
          {"scope", "access", "create_namespace", "adopt", "token", "labels", "annotations"});
      !s.ok()) {
    return s;
  }
  if (node["scope"]) {
    auto scope =
        ReadChoice<v1::Scope>(r, node["scope"], YamlReader::Join(path, "scope"),
                              {{"namespace", v1::SCOPE_NAMESPACE}, {"cluster", v1::SCOPE_CLUSTER}},
                              " is not a scope; use namespace or cluster");
    if (!scope.ok()) return scope.status();
    spec->set_scope(*scope);
  }
  if (!node["access"]) {
    return r.Error(
        node, path,
        "access is required (rules, role_ref or token_only); see kcred provision --help");
  }
  if (auto s =
          ReadAccess(r, node["access"], YamlReader::Join(path, "access"), spec->mutable_access());
      !s.ok()) {
    return s;
  }
  struct Flag {
    const char* key;
    void (v1::AccountSpec::*set)(bool);
  };
  for (const Flag& f : {Flag{"create_namespace", &v1::AccountSpec::set_create_namespace},
                        Flag{"adopt", &v1::AccountSpec::set_adopt}}) {
    if (!node[f.key]) continue;
    auto b = r.Bool(node[f.key], YamlReader::Join(path, f.key));
    if (!b.ok()) return b.status();
    (spec->*f.set)(*b);
  }
  if (node["token"]) {
    if (auto s = ReadTokenPolicy(r, node["token"], YamlReader::Join(path, "token"),
                                 spec->mutable_token());
        !s.ok()) {
      return s;
    }
  }
  struct MapField {
    const char* key;
    google::protobuf::Map<std::string, std::string>* out;
  };
  for (const MapField& f : {MapField{"labels", spec->mutable_labels()},
                            MapField{"annotations", spec->mutable_annotations()}}) {
    if (!node[f.key]) continue;
    if (auto s = ReadStringMap(r, node[f.key], YamlReader::Join(path, f.key), f.out); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// `ref: {cluster, namespace, name}`, validated as ParseAccountRef validates the short form.
absl::Status ReadRef(const YamlReader& r, const YAML::Node& node, const std::string& path,
                     v1::AccountRef* ref) {
  if (auto s = r.ExpectMap(node, path, {"cluster", "namespace", "name"}); !s.ok()) return s;
  std::string parts[3];
  const char* keys[3] = {"cluster", "namespace", "name"};
  for (int i = 0; i < 3; ++i) {
    if (!node[keys[i]]) {
      return r.Error(node, path, absl::StrCat(keys[i], " is required (cluster, namespace, name)"));
    }
    auto v = r.NonEmptyString(node[keys[i]], YamlReader::Join(path, keys[i]));
    if (!v.ok()) return v.status();
    parts[i] = *v;
  }
  auto parsed = ParseAccountRef(absl::StrCat(parts[0], "/", parts[1], "/", parts[2]));
  if (!parsed.ok()) return r.Error(node, path, parsed.status().message());
  *ref = *parsed;
  return absl::OkStatus();
}

absl::StatusOr<AccountDocument> ReadDocument(const YamlReader& r, const YAML::Node& node,
                                             const std::string& path) {
  AccountDocument doc;
  if (auto s = r.ExpectMap(node, path, {"account", "ref", "spec"}); !s.ok()) return s;
  const std::string account_path = YamlReader::Join(path, "account");
  const std::string ref_path = YamlReader::Join(path, "ref");
  if (node["account"] && node["ref"]) {
    return r.Error(node["ref"], ref_path, "account and ref name the same thing; keep one");
  }
  if (node["account"]) {
    auto text = r.String(node["account"], account_path);
    if (!text.ok()) return text.status();
    auto ref = ParseAccountRef(*text);
    if (!ref.ok()) return r.Error(node["account"], account_path, ref.status().message());
    doc.ref = *ref;
    doc.has_ref = true;
  }
  if (node["ref"]) {
    if (auto s = ReadRef(r, node["ref"], ref_path, &doc.ref); !s.ok()) return s;
    doc.has_ref = true;
  }
  if (!node["spec"]) {
    return r.Error(node, path, "spec is required; see kcred provision --help for its shape");
  }
  if (auto s = ReadSpec(r, node["spec"], YamlReader::Join(path, "spec"), &doc.spec); !s.ok()) {
    return s;
  }
  return doc;
}

// yaml-cpp throws on some malformed input even after parsing; its exceptions end here.
absl::Status FromYamlException(const YamlReader& r, const YAML::Exception& e) {
  return absl::InvalidArgumentError(
      absl::StrCat(r.source(), ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
}

}  // namespace

absl::Status ReadAccountSpec(const YamlReader& reader, const YAML::Node& node,
                             const std::string& path, v1::AccountSpec* spec) {
  try {
    return ReadSpec(reader, node, path, spec);
  } catch (const YAML::Exception& e) {
    return FromYamlException(reader, e);
  }
}

absl::StatusOr<AccountDocument> ReadAccountDocument(const YamlReader& reader,
                                                    const YAML::Node& node,
                                                    const std::string& path) {
  try {
    return ReadDocument(reader, node, path);
  } catch (const YAML::Exception& e) {
    return FromYamlException(reader, e);
  }
}

}  // namespace kcred
