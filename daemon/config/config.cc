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
#include "daemon/config/config_reader.h"

namespace kcred::config {
namespace internal {

std::string Where(const Reader& r, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return absl::StrCat(r.source(), ":", mark.line + 1, ":", mark.column + 1);
}

}  // namespace internal

namespace {

using internal::Reader;

absl::StatusOr<int> ParseMode(const Reader& r, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return r.Error(node, path, "expected an octal mode such as \"0660\"");
  std::string s = node.Scalar();
  if (s.rfind("0o", 0) == 0) s = s.substr(2);
  // At most four octal digits ("0660", "660", "0o660"), checked before any arithmetic: a long
  // digit string must be refused, not overflow.
  const bool octal = !s.empty() && s.size() <= 4 &&
                     std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '7'; });
  int mode = 0;
  if (octal) {
    for (char c : s) mode = mode * 8 + (c - '0');
  }
  if (!octal || mode > 0777) {
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
      KCRED_ASSIGN_OR_RETURN(
          config.token_defaults,
          internal::ParseTokenDefaults(r, root["defaults"]["token"], "defaults.token"));
    }
  }
  if (root["clusters"]) {
    const YAML::Node clusters = root["clusters"];
    if (!clusters.IsSequence()) return r.Error(clusters, "clusters", "expected a list of clusters");
    for (std::size_t i = 0; i < clusters.size(); ++i) {
      const std::string path = absl::StrCat("clusters[", i, "]");
      KCRED_ASSIGN_OR_RETURN(ClusterConfig cluster, internal::ParseCluster(r, clusters[i], path));
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
    KCRED_ASSIGN_OR_RETURN(config.accounts,
                           internal::ParseAccounts(r, root["accounts"], config.clusters));
  }
  if (root["authorization"]) {
    KCRED_ASSIGN_OR_RETURN(config.authorization,
                           internal::ParseAuthorization(r, root["authorization"]));
  }
  if (root["audit"]) {
    KCRED_ASSIGN_OR_RETURN(config.audit, internal::ParseAudit(r, root["audit"]));
  }
  if (root["limits"]) {
    KCRED_ASSIGN_OR_RETURN(config.limits, internal::ParseLimits(r, root["limits"]));
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
