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
#include "absl/strings/string_view.h"
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
  // Callers without a verified client certificate (no client_ca_file, require_client_cert: false,
  // or plaintext with --insecure) are served only when this says so; kcredd then warns.
  bool allow_anonymous = false;
};

// Whether `tcp` serves callers that present no verified client certificate.
bool ServesAnonymous(const TcpListenerConfig& tcp);

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

// Limits on the accounts a cluster hands out, applied to every provision whoever asks (admission;
// `clusters[].policy`). The defaults allow namespace-scoped accounts with rules of ordinary verbs
// and resources, nothing more.
struct ForbiddenRules {
  // A rule may grant none of these, neither by name nor through a wildcard that covers them.
  std::vector<std::string> verbs = {"*", "escalate", "bind", "impersonate"};
  std::vector<std::string> api_groups = {"*"};
  std::vector<std::string> resources = {"*"};
  std::vector<std::string> non_resource_urls = {"*"};
  // Also forbidden, in cluster-scope accounts only (a namespace's Secrets are fine, all are not).
  std::vector<std::string> cluster_resources = {"secrets"};
};

struct AdmissionPolicy {
  // Globs over the account's namespace: it must match one of `namespaces` and none of
  // `denied_namespaces`.
  std::vector<std::string> namespaces = {"*"};
  std::vector<std::string> denied_namespaces = {"kube-system", "kube-public", "kube-node-lease"};
  // A label selector the (existing) namespace must match; empty: any. With a selector, kcred does
  // not create namespaces (their labels would be the caller's choice).
  std::string namespace_selector;
  bool allow_cluster_scope = false;
  bool allow_create_namespace = false;
  bool allow_token_only = false;
  bool allow_legacy_tokens = false;
  bool allow_adopt = false;
  // Roles that role_ref may bind, as "ClusterRole/<name>" or "Role/<name>" (globs); none by
  // default.
  std::vector<std::string> allowed_role_refs;
  ForbiddenRules forbidden;
  absl::Duration max_ttl = absl::Hours(24);
  absl::Duration max_grace = absl::Hours(1);  // for RotateToken's grace too
  // Audiences bound tokens may request beyond the cluster's `audiences`; none by default.
  std::vector<std::string> allowed_audiences;
  // Label and annotation key prefixes accounts may not set ("*." matches any subdomain).
  std::vector<std::string> reserved_label_prefixes = {"kubernetes.io/", "*.kubernetes.io/",
                                                      "k8s.io/", "*.k8s.io/"};
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
  AdmissionPolicy policy;
  // "clusters[\"prod\"].policy" in messages that name a limit's key.
  std::string PolicyKey(absl::string_view key) const;
};

// Field by field (a reload compares the running and the new config of each cluster).
bool operator==(const ClusterConfig& a, const ClusterConfig& b);
bool operator==(const AdmissionPolicy& a, const AdmissionPolicy& b);
inline bool operator!=(const AdmissionPolicy& a, const AdmissionPolicy& b) { return !(a == b); }
// Everything but the policy: a cluster whose connection is unchanged keeps its API client.
bool SameConnection(const ClusterConfig& a, const ClusterConfig& b);
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

// Who may call kcredd (`authorization:`). Default deny: a call is allowed only when a rule names
// one of the caller's subjects, the action and a glob matching the account.
struct AuthorizationRule {
  std::vector<std::string>
      subjects;  // "unix:uid:0", "unix:user:x", "unix:group:x", "x509:cn:x", ...
  std::vector<std::string> actions;   // action names, or "*"
  std::vector<std::string> accounts;  // "cluster/namespace/name" globs
  std::string source;                 // "authorization.rules[1] (kcredd.yaml:12:3)"
};

struct AuthorizationConfig {
  // False without an `authorization:` section: then only root and kcredd's own uid may call.
  bool configured = false;
  std::vector<AuthorizationRule> rules;
};

// The audit log (`audit:`): one record per call, independent of log.level.
struct AuditConfig {
  enum class Sink { kFile, kJournal };
  Sink sink = Sink::kFile;
  std::string path;  // kFile; empty: <state_dir>/audit.log
  int64_t max_bytes = int64_t{100} << 20;
  int max_files = 10;
  // Refuse secret-returning calls whose record cannot be written. Default: on under systemd.
  std::optional<bool> required;
};

// Per-caller and total limits on what callers may hold at once (`limits:`).
struct LimitsConfig {
  int calls_per_caller = 64;            // concurrent unary calls per caller
  int watches_per_caller = 32;          // concurrent WatchAccounts streams per caller
  int watches_total = 512;              // concurrent WatchAccounts streams in all
  double secret_reads_per_second = 50;  // GetKubeconfig + GetToken per caller, on average
  int secret_reads_burst = 200;
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
  AuthorizationConfig authorization;
  AuditConfig audit;
  LimitsConfig limits;
};

// The configuration kcredd runs with when no file is given: the unix socket only.
Config DefaultConfig();

// Reads and validates a YAML file. InvalidArgument/NotFound with file:line:col and the key path.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Parses and validates YAML text; `source` names it in errors (a file name).
absl::StatusOr<Config> ParseConfig(const std::string& yaml, const std::string& source);

}  // namespace kcred::config
