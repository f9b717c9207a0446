// The cluster sections of kcredd's configuration: defaults.token, clusters[] (connection and
// admission policy) and the declared accounts.

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/account/access.h"
#include "common/account/account_ref.h"
#include "common/account/spec_yaml.h"
#include "common/files.h"
#include "common/label_selector.h"
#include "common/names.h"
#include "common/openssl.h"
#include "common/status.h"
#include "daemon/config/config_reader.h"

namespace kcred::config::internal {
namespace {

bool HoldsPemCertificate(const std::string& pem) {
  BioPtr bio = MemoryBio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) != nullptr;
}

absl::Status ValidateTemplate(const Reader& r, const YAML::Node& node, const std::string& path,
                              const std::string& value) {
  std::string rest = value;
  for (const char* placeholder : {"{cluster}", "{namespace}", "{name}"}) {
    for (std::size_t pos; (pos = rest.find(placeholder)) != std::string::npos;) {
      rest.replace(pos, std::string(placeholder).size(), "x");
    }
  }
  if (rest.find('{') != std::string::npos || rest.find('}') != std::string::npos) {
    return r.Error(
        node, path,
        absl::StrCat("\"", value,
                     "\" has an unknown placeholder; use {cluster}, {namespace} and {name}"));
  }
  return absl::OkStatus();
}

// A list of globs (`*` any run of characters); every entry non-empty, without spaces or control
// characters.
absl::StatusOr<std::vector<std::string>> GlobList(const Reader& r, const YAML::Node& node,
                                                  const std::string& path) {
  KCRED_ASSIGN_OR_RETURN(std::vector<std::string> list, r.StringList(node, path));
  for (std::size_t i = 0; i < list.size(); ++i) {
    for (char c : list[i]) {
      if (c == ' ' || absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
        return r.Error(node[i], absl::StrCat(path, "[", i, "]"),
                       "must not hold spaces or control characters");
      }
    }
  }
  return list;
}

absl::StatusOr<ForbiddenRules> ParseForbidden(const Reader& r, const YAML::Node& node,
                                              const std::string& path) {
  KCRED_RETURN_IF_ERROR(r.ExpectMap(
      node, path, {"api_groups", "cluster_resources", "non_resource_urls", "resources", "verbs"}));
  ForbiddenRules f;
  for (auto [key, field] : {std::pair<const char*, std::vector<std::string>*>{"verbs", &f.verbs},
                            {"api_groups", &f.api_groups},
                            {"resources", &f.resources},
                            {"non_resource_urls", &f.non_resource_urls},
                            {"cluster_resources", &f.cluster_resources}}) {
    if (!node[key]) continue;
    // An empty list is allowed: the operator widens what rules may hold, deliberately.
    if (node[key].IsSequence() && node[key].size() == 0) {
      field->clear();
      continue;
    }
    KCRED_ASSIGN_OR_RETURN(*field, r.StringList(node[key], YamlReader::Join(path, key)));
  }
  return f;
}

absl::StatusOr<AdmissionPolicy> ParsePolicy(const Reader& r, const YAML::Node& node,
                                            const std::string& path) {
  KCRED_RETURN_IF_ERROR(
      r.ExpectMap(node, path,
                  {"allow_adopt", "allow_cluster_scope", "allow_create_namespace",
                   "allow_legacy_tokens", "allow_token_only", "allowed_audiences",
                   "allowed_role_refs", "denied_namespaces", "forbidden", "max_grace", "max_ttl",
                   "namespace_selector", "namespaces", "reserved_label_prefixes"}));
  AdmissionPolicy p;
  for (auto [key, field] : {std::pair<const char*, bool*>{"allow_adopt", &p.allow_adopt},
                            {"allow_cluster_scope", &p.allow_cluster_scope},
                            {"allow_create_namespace", &p.allow_create_namespace},
                            {"allow_legacy_tokens", &p.allow_legacy_tokens},
                            {"allow_token_only", &p.allow_token_only}}) {
    if (!node[key]) continue;
    KCRED_ASSIGN_OR_RETURN(*field, r.Bool(node[key], YamlReader::Join(path, key)));
  }
  auto empty_list = [](const YAML::Node& n) { return n.IsSequence() && n.size() == 0; };
  for (auto [key, field] :
       {std::pair<const char*, std::vector<std::string>*>{"namespaces", &p.namespaces},
        {"denied_namespaces", &p.denied_namespaces},
        {"allowed_role_refs", &p.allowed_role_refs},
        {"allowed_audiences", &p.allowed_audiences},
        {"reserved_label_prefixes", &p.reserved_label_prefixes}}) {
    if (!node[key]) continue;
    if (empty_list(node[key])) {
      field->clear();
      continue;
    }
    KCRED_ASSIGN_OR_RETURN(*field, GlobList(r, node[key], YamlReader::Join(path, key)));
  }
  for (std::size_t i = 0; i < p.allowed_role_refs.size(); ++i) {
    const std::string& ref = p.allowed_role_refs[i];
    if (!absl::StartsWith(ref, "ClusterRole/") && !absl::StartsWith(ref, "Role/")) {
      return r.Error(node["allowed_role_refs"][i],
                     absl::StrCat(path, ".allowed_role_refs[", i, "]"),
                     absl::StrCat("\"", ref,
                                  "\" must name ClusterRole/NAME or Role/NAME (the name may be a "
                                  "glob), e.g. ClusterRole/view"));
    }
  }
  for (std::size_t i = 0; i < p.reserved_label_prefixes.size(); ++i) {
    if (!absl::EndsWith(p.reserved_label_prefixes[i], "/")) {
      return r.Error(node["reserved_label_prefixes"][i],
                     absl::StrCat(path, ".reserved_label_prefixes[", i, "]"),
                     absl::StrCat("\"", p.reserved_label_prefixes[i],
                                  "\" must end with \"/\", e.g. \"example.com/\" or "
                                  "\"*.example.com/\""));
    }
  }
  if (node["namespace_selector"]) {
    KCRED_ASSIGN_OR_RETURN(
        p.namespace_selector,
        r.String(node["namespace_selector"], YamlReader::Join(path, "namespace_selector")));
    if (auto parsed = LabelSelector::Parse(p.namespace_selector); !parsed.ok()) {
      return r.Error(node["namespace_selector"], YamlReader::Join(path, "namespace_selector"),
                     parsed.status().message());
    }
  }
  if (node["forbidden"]) {
    KCRED_ASSIGN_OR_RETURN(
        p.forbidden, ParseForbidden(r, node["forbidden"], YamlReader::Join(path, "forbidden")));
  }
  for (auto [key, field] : {std::pair<const char*, absl::Duration*>{"max_ttl", &p.max_ttl},
                            {"max_grace", &p.max_grace}}) {
    if (!node[key]) continue;
    KCRED_ASSIGN_OR_RETURN(*field, r.Duration(node[key], YamlReader::Join(path, key)));
  }
  return p;
}

}  // namespace

absl::StatusOr<TokenDefaults> ParseTokenDefaults(const Reader& r, const YAML::Node& node,
                                                 const std::string& path) {
  KCRED_RETURN_IF_ERROR(
      r.ExpectMap(node, path, {"grace", "legacy_token_wait", "rotate_fraction", "ttl"}));
  TokenDefaults d;
  if (node["ttl"]) {
    KCRED_ASSIGN_OR_RETURN(d.ttl, r.Duration(node["ttl"], path + ".ttl"));
    if (d.ttl <= absl::ZeroDuration())
      return r.Error(node["ttl"], path + ".ttl", "must be positive");
  }
  if (node["rotate_fraction"]) {
    KCRED_ASSIGN_OR_RETURN(d.rotate_fraction,
                           r.Double(node["rotate_fraction"], path + ".rotate_fraction"));
    if (!(d.rotate_fraction > 0 && d.rotate_fraction < 1)) {
      return r.Error(node["rotate_fraction"], path + ".rotate_fraction",
                     "must lie strictly between 0 and 1 (e.g. 0.8: rotate at 80% of the lifetime)");
    }
  }
  if (node["grace"]) {
    KCRED_ASSIGN_OR_RETURN(d.grace, r.Duration(node["grace"], path + ".grace"));
  }
  if (node["legacy_token_wait"]) {
    KCRED_ASSIGN_OR_RETURN(d.legacy_token_wait,
                           r.Duration(node["legacy_token_wait"], path + ".legacy_token_wait"));
  }
  return d;
}

absl::StatusOr<ClusterConfig> ParseCluster(const Reader& r, const YAML::Node& node,
                                           const std::string& path) {
  KCRED_RETURN_IF_ERROR(r.ExpectMap(
      node, path,
      {"audiences", "burst", "ca_file", "ca_pem", "cluster_name_template", "context_name_template",
       "credential", "max_token_ttl", "min_token_ttl", "name", "policy", "qps", "server"}));
  ClusterConfig c;
  for (const char* key : {"name", "server", "credential"}) {
    if (!node[key]) return r.Error(node, path, absl::StrCat("missing required key \"", key, "\""));
  }
  KCRED_ASSIGN_OR_RETURN(c.name, r.NonEmptyString(node["name"], path + ".name"));
  if (auto s = ValidateDns1123Label(c.name, "cluster name"); !s.ok()) {
    return r.Error(node["name"], path + ".name", s.message());
  }
  KCRED_ASSIGN_OR_RETURN(c.server, r.NonEmptyString(node["server"], path + ".server"));
  if (c.server.rfind("https://", 0) != 0 || c.server.size() <= 8) {
    return r.Error(node["server"], path + ".server",
                   absl::StrCat("\"", c.server, "\" must be an https:// URL of the API server"));
  }
  while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
  if (node["ca_file"] && node["ca_pem"]) {
    return r.Error(node, path, "give either ca_file or ca_pem, not both");
  }
  if (node["ca_file"]) {
    KCRED_ASSIGN_OR_RETURN(c.ca_file, r.CertificateFile(node["ca_file"], path + ".ca_file"));
    KCRED_ASSIGN_OR_RETURN(c.ca_pem, ReadFileToString(c.ca_file));
  } else if (node["ca_pem"]) {
    KCRED_ASSIGN_OR_RETURN(c.ca_pem, r.NonEmptyString(node["ca_pem"], path + ".ca_pem"));
    if (!HoldsPemCertificate(c.ca_pem)) {
      return r.Error(node["ca_pem"], path + ".ca_pem", "holds no PEM certificate");
    }
  } else {
    return r.Error(node, path,
                   "missing \"ca_file\" (or \"ca_pem\"): kcred always verifies the API server's "
                   "certificate");
  }
  const YAML::Node cred = node["credential"];
  const std::string cpath = path + ".credential";
  KCRED_RETURN_IF_ERROR(r.ExpectMap(cred, cpath, {"context", "kubeconfig_file", "token_file"}));
  if (cred["token_file"].IsDefined() == cred["kubeconfig_file"].IsDefined()) {
    return r.Error(cred, cpath, "give exactly one of token_file or kubeconfig_file");
  }
  if (cred["token_file"]) {
    KCRED_ASSIGN_OR_RETURN(c.credential.token_file,
                           r.ReadableFile(cred["token_file"], cpath + ".token_file"));
    if (cred["context"])
      return r.Error(cred["context"], cpath + ".context", "only with kubeconfig_file");
  } else {
    KCRED_ASSIGN_OR_RETURN(c.credential.kubeconfig_file,
                           r.ReadableFile(cred["kubeconfig_file"], cpath + ".kubeconfig_file"));
    if (cred["context"]) {
      KCRED_ASSIGN_OR_RETURN(c.credential.kubeconfig_context,
                             r.NonEmptyString(cred["context"], cpath + ".context"));
    }
  }
  if (node["qps"]) {
    KCRED_ASSIGN_OR_RETURN(c.qps, r.Double(node["qps"], path + ".qps"));
    if (!(c.qps > 0)) return r.Error(node["qps"], path + ".qps", "must be positive");
  }
  if (node["burst"]) {
    KCRED_ASSIGN_OR_RETURN(c.burst, r.Int(node["burst"], path + ".burst"));
    if (c.burst < 1) return r.Error(node["burst"], path + ".burst", "must be at least 1");
  }
  for (auto [key, field] :
       {std::pair<const char*, std::string*>{"cluster_name_template", &c.cluster_name_template},
        {"context_name_template", &c.context_name_template}}) {
    if (!node[key]) continue;
    KCRED_ASSIGN_OR_RETURN(*field, r.NonEmptyString(node[key], path + "." + key));
    KCRED_RETURN_IF_ERROR(ValidateTemplate(r, node[key], path + "." + key, *field));
  }
  if (node["min_token_ttl"]) {
    KCRED_ASSIGN_OR_RETURN(c.min_token_ttl,
                           r.Duration(node["min_token_ttl"], path + ".min_token_ttl"));
  }
  if (node["max_token_ttl"]) {
    KCRED_ASSIGN_OR_RETURN(c.max_token_ttl,
                           r.Duration(node["max_token_ttl"], path + ".max_token_ttl"));
    if (c.max_token_ttl < c.min_token_ttl) {
      return r.Error(node["max_token_ttl"], path + ".max_token_ttl",
                     "must not be below min_token_ttl");
    }
  }
  if (node["audiences"]) {
    KCRED_ASSIGN_OR_RETURN(c.audiences, r.StringList(node["audiences"], path + ".audiences"));
  }
  if (node["policy"]) {
    KCRED_ASSIGN_OR_RETURN(c.policy, ParsePolicy(r, node["policy"], path + ".policy"));
    if (c.policy.max_ttl < c.min_token_ttl) {
      return r.Error(node["policy"]["max_ttl"] ? node["policy"]["max_ttl"] : node["policy"],
                     path + ".policy.max_ttl",
                     absl::StrCat("must not be below the cluster's min_token_ttl (",
                                  absl::FormatDuration(c.min_token_ttl), ")"));
    }
  }
  return c;
}

// `accounts:`: prune and the declared items, each in the shape of `kcred provision -f`, on a
// configured cluster, each account once.
absl::StatusOr<DeclaredAccounts> ParseAccounts(const Reader& r, const YAML::Node& node,
                                               const std::vector<ClusterConfig>& clusters) {
  KCRED_RETURN_IF_ERROR(r.ExpectMap(node, "accounts", {"items", "prune"}));
  DeclaredAccounts accounts;
  if (node["prune"]) {
    KCRED_ASSIGN_OR_RETURN(accounts.prune, r.Bool(node["prune"], "accounts.prune"));
  }
  if (!node["items"]) return accounts;
  const YAML::Node items = node["items"];
  if (!items.IsSequence()) {
    return r.Error(items, "accounts.items",
                   "expected a list of accounts, each with account (or ref) and spec");
  }
  std::vector<std::string> cluster_names;
  for (const ClusterConfig& c : clusters) cluster_names.push_back(c.name);
  std::map<std::string, std::size_t> first_index;  // "c/ns/name" -> where it is first declared
  for (std::size_t i = 0; i < items.size(); ++i) {
    const YAML::Node item = items[i];
    const std::string path = absl::StrCat("accounts.items[", i, "]");
    KCRED_ASSIGN_OR_RETURN(AccountDocument doc, ReadAccountDocument(r, item, path));
    if (!doc.has_ref) {
      return r.Error(item, path,
                     "names no account; add account: CLUSTER/NAMESPACE/NAME (or ref: {cluster, "
                     "namespace, name})");
    }
    // Point at what names the account: the short form, or the ref mapping's cluster.
    const bool short_form = item["account"].IsDefined();
    const YAML::Node named = short_form ? item["account"] : item["ref"];
    const std::string named_path = path + (short_form ? ".account" : ".ref");
    const std::string& cluster = doc.ref.cluster();
    if (std::find(cluster_names.begin(), cluster_names.end(), cluster) == cluster_names.end()) {
      return r.Error(
          short_form ? named : named["cluster"], short_form ? named_path : named_path + ".cluster",
          cluster_names.empty()
              ? absl::StrCat("cluster \"", cluster,
                             "\" is not configured: there are no clusters; add it under clusters:")
              : absl::StrCat("cluster \"", cluster, "\" is not configured; the clusters are ",
                             absl::StrJoin(cluster_names, ", ")));
    }
    const std::string key = FormatAccountRef(doc.ref);
    if (auto [first, inserted] = first_index.emplace(key, i); !inserted) {
      return r.Error(named, named_path,
                     absl::StrCat("account \"", key, "\" is declared twice; first at ",
                                  accounts.items[first->second].where, " (accounts.items[",
                                  first->second, "]); keep one"));
    }
    accounts.items.push_back(
        DeclaredAccount{std::move(doc.ref), std::move(doc.spec), Where(r, item)});
  }
  return accounts;
}

}  // namespace kcred::config::internal
