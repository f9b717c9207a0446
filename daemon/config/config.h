#pragma once
// kcredd's configuration: YAML (default /etc/kcred/kcredd.yaml) read into typed structs: listeners,
// clusters, token defaults, the store, logging, and the accounts kcredd provisions on its own
// (declared accounts, in the shape of `kcred provision -f`). Loading validates everything once;
// afterwards the rest of kcredd trusts the types. Errors name the file, line, column and key path:
// `kcredd.yaml:7:3: listen.tcp.tls.cert_file: file "/x.pem" does not exist`.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::config {

inline constexpr char kDefaultConfigPath[] = "/etc/kcred/kcredd.yaml";
inline constexpr char kDefaultSocketPath[] = "/run/kcred/kcredd.sock";
inline constexpr char kDefaultStateDir[] = "/var/lib/kcred";

struct TlsConfig {
  std::string cert_file;       // server certificate chain (PEM); required
  std::string key_file;        // its private key (PEM); required
  std::string client_ca_file;  // CA for client certificates; required unless require_client_cert
                               // is false
  bool require_client_cert = true;  // mTLS; turning it off needs an explicit `false`
};

struct UnixListenerConfig {
  std::string path = kDefaultSocketPath;
  int mode = 0660;    // permission bits of the socket file
  std::string group;  // group owner of the socket file; empty keeps the process's group
};

struct TcpListenerConfig {
  std::string address;           // host:port, e.g. 127.0.0.1:7443 or [::1]:7443; port 0 picks one
  std::optional<TlsConfig> tls;  // required unless kcredd runs with --insecure
};

struct ListenConfig {
  std::optional<UnixListenerConfig> unix_socket;  // on by default
  std::optional<TcpListenerConfig> tcp;           // off by default
};

// kcredd's own credential towards a cluster's API server: exactly one of a token file (re-read when
// it changes) or a kubeconfig file (with an optional context; default: its current-context).
struct ClusterCredentialConfig {
  std::string token_file;
  std::string kubeconfig_file;
  std::string kubeconfig_context;
};

// Token policy defaults; an account's spec may override each.
struct TokenDefaults {
  absl::Duration ttl = absl::Hours(1);
  double rotate_fraction = 0.8;             // rotate at 80% of the lifetime (the kubelet's habit)
  absl::Duration grace = absl::Minutes(5);  // the previous token stays valid this long
  // How long to wait for the token controller to fill a legacy token Secret.
  absl::Duration legacy_token_wait = absl::Seconds(30);
};

struct ClusterConfig {
  std::string name;     // the cluster ID users type (a DNS-1123 label)
  std::string server;   // https://host:port
  std::string ca_pem;   // the cluster CA, read from ca_file or given inline as ca_pem
  std::string ca_file;  // where ca_pem came from ("" when inline)
  ClusterCredentialConfig credential;
  double qps = 20;  // requests per second towards this API server
  int burst = 30;
  // Names of the kubeconfig entries kcred renders. Placeholders: {cluster}, {namespace}, {name}.
  // Cluster entries are shared by the accounts of a cluster; context and user names should be
  // unique per account so that several accounts merge into one file.
  std::string cluster_name_template = "kcred-{cluster}";
  std::string context_name_template = "kcred-{cluster}-{namespace}-{name}";
  // Token lifetimes the cluster accepts (kube-apiserver: at least 10 minutes; a cap when
  // --service-account-max-token-expiration is set).
  absl::Duration min_token_ttl = absl::Minutes(10);
  absl::Duration max_token_ttl = absl::InfiniteDuration();
  std::vector<std::string> audiences;  // the API audiences; empty: the server's default
};

// Field by field (a reload compares the running and the new config of each cluster).
bool operator==(const ClusterConfig& a, const ClusterConfig& b);
inline bool operator!=(const ClusterConfig& a, const ClusterConfig& b) { return !(a == b); }

struct StoreConfig {
  // The sealing key: a file, or the name of a systemd credential ($CREDENTIALS_DIRECTORY/<name>).
  std::string sealing_key_file;
  std::string sealing_key_credential = "sealing-key";
};

// An account the configuration declares: kcredd provisions it and keeps it as declared.
struct DeclaredAccount {
  v1::AccountRef ref;    // its cluster is one of Config::clusters
  v1::AccountSpec spec;  // as read; unset fields take kcredd's defaults
  std::string where;     // "kcredd.yaml:42:5" — where it is declared, for log lines
};

struct DeclaredAccounts {
  bool prune = false;                  // delete accounts that were declared here and no longer are
  std::vector<DeclaredAccount> items;  // in file order; each account at most once
};

struct Config {
  std::string source;  // the file it was read from ("" for defaults)
  ListenConfig listen;
  LogOptions log;
  std::string state_dir = kDefaultStateDir;
  StoreConfig store;
  TokenDefaults token_defaults;
  std::vector<ClusterConfig> clusters;  // in file order; names unique
  DeclaredAccounts accounts;            // none when the file has no `accounts:`
};

// The configuration kcredd runs with when no file is given: the unix socket only.
Config DefaultConfig();

// Reads and validates a YAML file. InvalidArgument/NotFound with file:line:col and the key path.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Parses and validates YAML text; `source` names it in errors (a file name).
absl::StatusOr<Config> ParseConfig(const std::string& yaml, const std::string& source);

}  // namespace kcred::config
