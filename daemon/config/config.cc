#include "daemon/config/config.h"

#include <grp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
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
#include "common/yaml_reader.h"

namespace kcred::config {
namespace {

// Walks a YAML document, turning every problem into an error that names source:line:col and the
// dotted key path.
class Reader : public YamlReader {
 public:
  using YamlReader::YamlReader;

  // A readable file (its content is not checked here).
  absl::StatusOr<std::string> ReadableFile(const YAML::Node& node, const std::string& path) const {
    auto file = NonEmptyString(node, path);
    if (!file.ok()) return file;
    if (access(file->c_str(), F_OK) != 0) {
      return Error(node, path, absl::StrCat("file \"", *file, "\" does not exist"));
    }
    if (access(file->c_str(), R_OK) != 0) {
      return Error(node, path,
                   absl::StrCat("file \"", *file, "\" is not readable by uid ", getuid()));
    }
    return file;
  }

  // The PEM text of a certificate file (checked to hold a certificate).
  absl::StatusOr<std::string> CertificatePem(const YAML::Node& node,
                                             const std::string& path) const {
    auto file = CertificateFile(node, path);
    if (!file.ok()) return file;
    return ReadFileToString(*file);
  }

  // A readable file that holds at least one PEM certificate.
  absl::StatusOr<std::string> CertificateFile(const YAML::Node& node,
                                              const std::string& path) const {
    return PemFile(node, path, "certificate", [](const std::string& data) {
      BioPtr bio = MemoryBio(data);
      return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) != nullptr;
    });
  }

  // A readable file that holds a PEM private key (its content is never echoed).
  absl::StatusOr<std::string> PrivateKeyFile(const YAML::Node& node,
                                             const std::string& path) const {
    return PemFile(node, path, "private key", [](const std::string& data) {
      BioPtr bio = MemoryBio(data);
      return EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)) != nullptr;
    });
  }

  // The path at `path`, a readable file in which `holds` finds a PEM `what`.
  template <typename Holds>
  absl::StatusOr<std::string> PemFile(const YAML::Node& node, const std::string& path,
                                      absl::string_view what, Holds holds) const {
    auto file = NonEmptyString(node, path);
    if (!file.ok()) return file;
    auto data = ReadFileToString(*file);
    if (!data.ok()) return FileError(node, path, *file, data.status());
    if (!holds(*data)) {
      return Error(node, path, absl::StrCat("file \"", *file, "\" holds no PEM ", what));
    }
    return file;
  }

 private:
  absl::Status FileError(const YAML::Node& node, const std::string& path, const std::string& file,
                         const absl::Status& status) const {
    if (absl::IsNotFound(status)) {
      return Error(node, path, absl::StrCat("file \"", file, "\" does not exist"));
    }
    if (absl::IsPermissionDenied(status)) {
      return Error(node, path,
                   absl::StrCat("file \"", file, "\" is not readable by uid ", getuid()));
    }
    return Error(node, path, status.message());
  }
};

absl::StatusOr<int> ParseMode(const Reader& r, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return r.Error(node, path, "expected an octal mode such as \"0660\"");
  std::string s = node.Scalar();
  if (s.rfind("0o", 0) == 0) s = s.substr(2);
  int mode = 0;
  bool ok = !s.empty() && s.size() <= 4;
  for (char c : s) {
    if (c < '0' || c > '7') ok = false;
    mode = mode * 8 + (c - '0');
  }
  if (!ok || mode > 0777) {
    return r.Error(node, path,
                   absl::StrCat("\"", node.Scalar(), "\" is not an octal mode such as \"0660\""));
  }
  if ((mode & 0600) != 0600) {
    return r.Error(node, path, "the owner (kcredd) needs read and write access; use e.g. \"0660\"");
  }
  if ((mode & 0007) != 0) {
    return r.Error(node, path, "must not grant access to others; use \"0660\" and a group instead");
  }
  return mode;
}

absl::Status ValidateAddress(const Reader& r, const YAML::Node& node, const std::string& path,
                             const std::string& address) {
  std::string host, port;
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return r.Error(node, path,
                     absl::StrCat("\"", address, "\" is not host:port (IPv6 as [::1]:7443)"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) {
      return r.Error(node, path,
                     absl::StrCat("\"", address, "\" is not host:port, e.g. 127.0.0.1:7443"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int port_number = -1;
  if (host.empty() || !absl::SimpleAtoi(port, &port_number) || port_number < 0 ||
      port_number > 65535) {
    return r.Error(node, path,
                   absl::StrCat("\"", address, "\" needs a host and a port from 0 to 65535"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TlsConfig> ParseTls(const Reader& r, const YAML::Node& node,
                                   const std::string& path) {
  KCRED_RETURN_IF_ERROR(
      r.ExpectMap(node, path, {"cert_file", "client_ca_file", "key_file", "require_client_cert"}));
  TlsConfig tls;
  if (node["require_client_cert"]) {
    KCRED_ASSIGN_OR_RETURN(tls.require_client_cert,
                           r.Bool(node["require_client_cert"], path + ".require_client_cert"));
  }
  for (const char* key : {"cert_file", "key_file"}) {
    if (!node[key]) return r.Error(node, path, absl::StrCat("missing required key \"", key, "\""));
  }
  KCRED_ASSIGN_OR_RETURN(tls.cert_file, r.CertificateFile(node["cert_file"], path + ".cert_file"));
  KCRED_ASSIGN_OR_RETURN(tls.key_file, r.PrivateKeyFile(node["key_file"], path + ".key_file"));
  if (node["client_ca_file"]) {
    KCRED_ASSIGN_OR_RETURN(tls.client_ca_file,
                           r.CertificateFile(node["client_ca_file"], path + ".client_ca_file"));
  } else if (tls.require_client_cert) {
    return r.Error(
        node, path,
        "missing \"client_ca_file\": client certificates are required by default; name the "
        "CA that signs them, or set require_client_cert: false to accept any client");
  }
  return tls;
}

absl::StatusOr<ListenConfig> ParseListen(const Reader& r, const YAML::Node& node) {
  const std::string path = "listen";
  KCRED_RETURN_IF_ERROR(r.ExpectMap(node, path, {"tcp", "unix"}));
  ListenConfig listen;
  if (node["unix"]) {
    const YAML::Node u = node["unix"];
    const std::string upath = "listen.unix";
    if (u.IsNull() || (u.IsScalar() && u.Scalar() == "false")) {
      // `unix: false` (or null) turns the unix socket off.
    } else {
      KCRED_RETURN_IF_ERROR(r.ExpectMap(u, upath, {"group", "mode", "path"}));
      UnixListenerConfig unix_config;
      if (u["path"]) {
        KCRED_ASSIGN_OR_RETURN(unix_config.path, r.NonEmptyString(u["path"], upath + ".path"));
        if (unix_config.path.front() != '/') {
          return r.Error(u["path"], upath + ".path", "must be an absolute path");
        }
        if (unix_config.path.size() >= 108) {
          return r.Error(u["path"], upath + ".path",
                         "is longer than a unix socket path may be (107 bytes)");
        }
      }
      if (u["mode"]) {
        KCRED_ASSIGN_OR_RETURN(unix_config.mode, ParseMode(r, u["mode"], upath + ".mode"));
      }
      if (u["group"]) {
        KCRED_ASSIGN_OR_RETURN(unix_config.group, r.NonEmptyString(u["group"], upath + ".group"));
        if (getgrnam(unix_config.group.c_str()) == nullptr) {
          return r.Error(
              u["group"], upath + ".group",
              absl::StrCat("group \"", unix_config.group, "\" does not exist on this host"));
        }
      }
      listen.unix_socket = unix_config;
    }
  } else {
    listen.unix_socket = UnixListenerConfig{};
  }
  if (node["tcp"]) {
    const YAML::Node t = node["tcp"];
    const std::string tpath = "listen.tcp";
    KCRED_RETURN_IF_ERROR(r.ExpectMap(t, tpath, {"address", "allow_anonymous", "tls"}));
    TcpListenerConfig tcp;
    if (t["allow_anonymous"]) {
      KCRED_ASSIGN_OR_RETURN(tcp.allow_anonymous,
                             r.Bool(t["allow_anonymous"], tpath + ".allow_anonymous"));
    }
    if (!t["address"])
      return r.Error(t, tpath, "missing required key \"address\" (e.g. 127.0.0.1:7443)");
    KCRED_ASSIGN_OR_RETURN(tcp.address, r.NonEmptyString(t["address"], tpath + ".address"));
    KCRED_RETURN_IF_ERROR(ValidateAddress(r, t["address"], tpath + ".address", tcp.address));
    if (t["tls"]) {
      KCRED_ASSIGN_OR_RETURN(tcp.tls, ParseTls(r, t["tls"], tpath + ".tls"));
      if (ServesAnonymous(tcp) && !tcp.allow_anonymous) {
        return r.Error(t["tls"], tpath + ".tls",
                       "serves callers without a client certificate (no client_ca_file, or "
                       "require_client_cert: false), whom no rule can identify; name a "
                       "client_ca_file and require client certificates, or set "
                       "listen.tcp.allow_anonymous: true to serve them deliberately");
      }
    }
    listen.tcp = tcp;
  }
  if (!listen.unix_socket && !listen.tcp) {
    return r.Error(node, path, "no listener left: enable listen.unix or configure listen.tcp");
  }
  return listen;
}

absl::StatusOr<LogOptions> ParseLog(const Reader& r, const YAML::Node& node) {
  KCRED_RETURN_IF_ERROR(r.ExpectMap(node, "log", {"format", "level"}));
  LogOptions log;
  if (node["level"]) {
    KCRED_ASSIGN_OR_RETURN(std::string level, r.String(node["level"], "log.level"));
    auto parsed = ParseLogLevel(level);
    if (!parsed.ok()) return r.Error(node["level"], "log.level", parsed.status().message());
    log.level = *parsed;
  }
  if (node["format"]) {
    KCRED_ASSIGN_OR_RETURN(std::string format, r.String(node["format"], "log.format"));
    auto parsed = ParseLogFormat(format);
    if (!parsed.ok()) return r.Error(node["format"], "log.format", parsed.status().message());
    log.format = *parsed;
  }
  return log;
}

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

absl::StatusOr<StoreConfig> ParseStore(const Reader& r, const YAML::Node& node) {
  KCRED_RETURN_IF_ERROR(r.ExpectMap(node, "store", {"sealing_key_credential", "sealing_key_file"}));
  StoreConfig store;
  if (node["sealing_key_file"]) {
    KCRED_ASSIGN_OR_RETURN(store.sealing_key_file,
                           r.ReadableFile(node["sealing_key_file"], "store.sealing_key_file"));
  }
  if (node["sealing_key_credential"]) {
    KCRED_ASSIGN_OR_RETURN(
        store.sealing_key_credential,
        r.NonEmptyString(node["sealing_key_credential"], "store.sealing_key_credential"));
  }
  return store;
}

// "source:line:col" of `node`: where something is declared, for log lines and messages that
// point at a second place.
std::string Where(const Reader& r, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return absl::StrCat(r.source(), ":", mark.line + 1, ":", mark.column + 1);
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

// A size in bytes: a number with an optional unit (KiB, MiB, GiB, or K, M, G as powers of 1024),
// e.g. "100MiB".
absl::StatusOr<int64_t> ParseSize(const Reader& r, const YAML::Node& node,
                                  const std::string& path) {
  if (!node.IsScalar()) return r.Error(node, path, "expected a size such as 100MiB");
  absl::string_view text = node.Scalar();
  int64_t unit = 1;
  for (auto [suffix, factor] : {std::pair<absl::string_view, int64_t>{"KiB", 1 << 10},
                                {"MiB", 1 << 20},
                                {"GiB", int64_t{1} << 30},
                                {"K", 1 << 10},
                                {"M", 1 << 20},
                                {"G", int64_t{1} << 30}}) {
    if (absl::ConsumeSuffix(&text, suffix)) {
      unit = factor;
      break;
    }
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0 || value > (int64_t{1} << 40) / unit) {
    return r.Error(node, path,
                   absl::StrCat("\"", node.Scalar(), "\" is not a size such as 100MiB or 1GiB"));
  }
  return value * unit;
}

// `authorization:`: rules, each granting actions on account globs to subjects.
absl::StatusOr<AuthorizationConfig> ParseAuthorization(const Reader& r, const YAML::Node& node) {
  AuthorizationConfig authz;
  authz.configured = true;
  KCRED_RETURN_IF_ERROR(r.ExpectMap(node, "authorization", {"rules"}));
  if (!node["rules"]) return authz;  // a section without rules denies everyone, deliberately
  const YAML::Node rules = node["rules"];
  if (rules.IsSequence() && rules.size() == 0) return authz;
  if (!rules.IsSequence()) {
    return r.Error(rules, "authorization.rules",
                   "expected a list of rules, each with subjects, actions and accounts");
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const YAML::Node item = rules[i];
    const std::string path = absl::StrCat("authorization.rules[", i, "]");
    KCRED_RETURN_IF_ERROR(r.ExpectMap(item, path, {"accounts", "actions", "subjects"}));
    AuthorizationRule rule;
    for (const char* key : {"subjects", "actions", "accounts"}) {
      if (!item[key]) {
        return r.Error(item, path, absl::StrCat("missing required key \"", key, "\""));
      }
    }
    KCRED_ASSIGN_OR_RETURN(rule.subjects, r.StringList(item["subjects"], path + ".subjects"));
    for (std::size_t j = 0; j < rule.subjects.size(); ++j) {
      if (auto s = ValidateSubject(rule.subjects[j]); !s.ok()) {
        return r.Error(item["subjects"][j], absl::StrCat(path, ".subjects[", j, "]"), s.message());
      }
    }
    KCRED_ASSIGN_OR_RETURN(rule.actions, r.StringList(item["actions"], path + ".actions"));
    for (std::size_t j = 0; j < rule.actions.size(); ++j) {
      if (rule.actions[j] == "*") continue;
      if (auto a = ParseAction(rule.actions[j]); !a.ok()) {
        return r.Error(item["actions"][j], absl::StrCat(path, ".actions[", j, "]"),
                       a.status().message());
      }
    }
    KCRED_ASSIGN_OR_RETURN(rule.accounts, r.StringList(item["accounts"], path + ".accounts"));
    for (std::size_t j = 0; j < rule.accounts.size(); ++j) {
      if (auto p = ParseAccountPattern(rule.accounts[j]); !p.ok()) {
        return r.Error(item["accounts"][j], absl::StrCat(path, ".accounts[", j, "]"),
                       p.status().message());
      }
    }
    for (const char* key : {"subjects", "actions", "accounts"}) {
      if (item[key].size() == 0) {
        return r.Error(item[key], absl::StrCat(path, ".", key),
                       "must not be empty: a rule that names nothing grants nothing");
      }
    }
    rule.source = absl::StrCat(path, " (", Where(r, item), ")");
    authz.rules.push_back(std::move(rule));
  }
  return authz;
}

// `audit:`: where records go and whether secret-returning calls depend on them.
absl::StatusOr<AuditConfig> ParseAudit(const Reader& r, const YAML::Node& node) {
  KCRED_RETURN_IF_ERROR(
      r.ExpectMap(node, "audit", {"max_files", "max_size", "path", "required", "sink"}));
  AuditConfig audit;
  if (node["sink"]) {
    KCRED_ASSIGN_OR_RETURN(std::string sink, r.String(node["sink"], "audit.sink"));
    if (sink == "file") {
      audit.sink = AuditConfig::Sink::kFile;
    } else if (sink == "journal") {
      audit.sink = AuditConfig::Sink::kJournal;
    } else {
      return r.Error(node["sink"], "audit.sink",
                     absl::StrCat("unknown sink \"", sink,
                                  "\"; use file (JSON lines) or journal; the audit log cannot be "
                                  "turned off"));
    }
  }
  if (node["path"]) {
    if (audit.sink != AuditConfig::Sink::kFile) {
      return r.Error(node["path"], "audit.path", "only with sink: file");
    }
    KCRED_ASSIGN_OR_RETURN(audit.path, r.NonEmptyString(node["path"], "audit.path"));
    if (audit.path.front() != '/') {
      return r.Error(node["path"], "audit.path", "must be an absolute path");
    }
  }
  if (node["max_size"]) {
    KCRED_ASSIGN_OR_RETURN(audit.max_bytes, ParseSize(r, node["max_size"], "audit.max_size"));
    if (audit.max_bytes < 4096) {
      return r.Error(node["max_size"], "audit.max_size", "must be at least 4KiB");
    }
  }
  if (node["max_files"]) {
    KCRED_ASSIGN_OR_RETURN(audit.max_files, r.Int(node["max_files"], "audit.max_files"));
    if (audit.max_files < 1 || audit.max_files > 1000) {
      return r.Error(node["max_files"], "audit.max_files", "must lie between 1 and 1000");
    }
  }
  if (node["required"]) {
    KCRED_ASSIGN_OR_RETURN(audit.required, r.Bool(node["required"], "audit.required"));
  }
  return audit;
}

absl::StatusOr<LimitsConfig> ParseLimits(const Reader& r, const YAML::Node& node) {
  KCRED_RETURN_IF_ERROR(
      r.ExpectMap(node, "limits",
                  {"calls_per_caller", "secret_reads_burst", "secret_reads_per_second",
                   "watches_per_caller", "watches_total"}));
  LimitsConfig limits;
  for (auto [key, field] :
       {std::pair<const char*, int*>{"calls_per_caller", &limits.calls_per_caller},
        {"watches_per_caller", &limits.watches_per_caller},
        {"watches_total", &limits.watches_total},
        {"secret_reads_burst", &limits.secret_reads_burst}}) {
    if (!node[key]) continue;
    KCRED_ASSIGN_OR_RETURN(*field, r.Int(node[key], YamlReader::Join("limits", key)));
    if (*field < 1)
      return r.Error(node[key], YamlReader::Join("limits", key), "must be at least 1");
  }
  if (node["secret_reads_per_second"]) {
    KCRED_ASSIGN_OR_RETURN(
        limits.secret_reads_per_second,
        r.Double(node["secret_reads_per_second"], "limits.secret_reads_per_second"));
    if (!(limits.secret_reads_per_second > 0)) {
      return r.Error(node["secret_reads_per_second"], "limits.secret_reads_per_second",
                     "must be positive");
    }
  }
  if (limits.watches_per_caller > limits.watches_total) {
    return r.Error(node, "limits", "watches_per_caller must not exceed watches_total");
  }
  return limits;
}

}  // namespace

bool ServesAnonymous(const TcpListenerConfig& tcp) {
  return !tcp.tls || tcp.tls->client_ca_file.empty() || !tcp.tls->require_client_cert;
}

std::string ClusterConfig::PolicyKey(absl::string_view key) const {
  return absl::StrCat("clusters[\"", name, "\"].policy.", key);
}

Config DefaultConfig() {
  Config config;
  config.listen.unix_socket = UnixListenerConfig{};
  return config;
}

absl::StatusOr<Config> ParseConfig(const std::string& yaml, const std::string& source) {
  Reader r(source);
  KCRED_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(yaml, source));
  Config config = DefaultConfig();
  config.source = source;
  if (root.IsNull()) return config;  // an empty file means all defaults
  KCRED_RETURN_IF_ERROR(r.ExpectMap(root, "",
                                    {"accounts", "audit", "authorization", "clusters", "defaults",
                                     "limits", "listen", "log", "state_dir", "store"}));
  if (root["listen"]) {
    KCRED_ASSIGN_OR_RETURN(config.listen, ParseListen(r, root["listen"]));
  }
  if (root["log"]) {
    KCRED_ASSIGN_OR_RETURN(config.log, ParseLog(r, root["log"]));
  }
  if (root["state_dir"]) {
    KCRED_ASSIGN_OR_RETURN(config.state_dir, r.NonEmptyString(root["state_dir"], "state_dir"));
    if (config.state_dir.front() != '/') {
      return r.Error(root["state_dir"], "state_dir", "must be an absolute path");
    }
  }
  if (root["store"]) {
    KCRED_ASSIGN_OR_RETURN(config.store, ParseStore(r, root["store"]));
  }
  if (root["defaults"]) {
    KCRED_RETURN_IF_ERROR(r.ExpectMap(root["defaults"], "defaults", {"token"}));
    if (root["defaults"]["token"]) {
      KCRED_ASSIGN_OR_RETURN(config.token_defaults,
                             ParseTokenDefaults(r, root["defaults"]["token"], "defaults.token"));
    }
  }
  if (root["clusters"]) {
    const YAML::Node clusters = root["clusters"];
    if (!clusters.IsSequence()) return r.Error(clusters, "clusters", "expected a list of clusters");
    for (std::size_t i = 0; i < clusters.size(); ++i) {
      const std::string path = absl::StrCat("clusters[", i, "]");
      KCRED_ASSIGN_OR_RETURN(ClusterConfig cluster, ParseCluster(r, clusters[i], path));
      for (const auto& other : config.clusters) {
        if (other.name == cluster.name) {
          return r.Error(clusters[i]["name"], path + ".name",
                         absl::StrCat("cluster \"", cluster.name, "\" is defined twice"));
        }
      }
      if (config.token_defaults.grace > cluster.policy.max_grace) {
        return r.Error(clusters[i], path + ".policy.max_grace",
                       absl::StrCat("is shorter than defaults.token.grace (",
                                    absl::FormatDuration(config.token_defaults.grace),
                                    "): every account would be refused; raise max_grace or "
                                    "lower the default grace"));
      }
      config.clusters.push_back(std::move(cluster));
    }
  }
  if (root["accounts"]) {
    KCRED_ASSIGN_OR_RETURN(config.accounts, ParseAccounts(r, root["accounts"], config.clusters));
  }
  if (root["authorization"]) {
    KCRED_ASSIGN_OR_RETURN(config.authorization, ParseAuthorization(r, root["authorization"]));
  }
  if (root["audit"]) {
    KCRED_ASSIGN_OR_RETURN(config.audit, ParseAudit(r, root["audit"]));
  }
  if (root["limits"]) {
    KCRED_ASSIGN_OR_RETURN(config.limits, ParseLimits(r, root["limits"]));
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  auto data = ReadFileToString(path);
  if (!data.ok()) {
    if (absl::IsNotFound(data.status())) {
      return absl::NotFoundError(
          absl::StrCat("config file \"", path, "\" does not exist; create it or pass --config"));
    }
    return data.status();
  }
  return ParseConfig(*data, path);
}

bool SameConnection(const ClusterConfig& a, const ClusterConfig& b) {
  auto fields = [](const ClusterConfig& c) {
    return std::tie(c.name, c.server, c.ca_pem, c.ca_file, c.credential.token_file,
                    c.credential.kubeconfig_file, c.credential.kubeconfig_context, c.qps, c.burst,
                    c.cluster_name_template, c.context_name_template, c.min_token_ttl,
                    c.max_token_ttl, c.audiences);
  };
  return fields(a) == fields(b);
}

bool operator==(const AdmissionPolicy& a, const AdmissionPolicy& b) {
  auto fields = [](const AdmissionPolicy& p) {
    return std::tie(p.namespaces, p.denied_namespaces, p.namespace_selector, p.allow_cluster_scope,
                    p.allow_create_namespace, p.allow_token_only, p.allow_legacy_tokens,
                    p.allow_adopt, p.allowed_role_refs, p.forbidden.verbs, p.forbidden.api_groups,
                    p.forbidden.resources, p.forbidden.non_resource_urls,
                    p.forbidden.cluster_resources, p.max_ttl, p.max_grace, p.allowed_audiences,
                    p.reserved_label_prefixes);
  };
  return fields(a) == fields(b);
}

bool operator==(const ClusterConfig& a, const ClusterConfig& b) {
  return SameConnection(a, b) && a.policy == b.policy;
}

}  // namespace kcred::config
