#pragma once
// kcredd's configuration: YAML (default /etc/kcred/kcredd.yaml) read into typed structs. Loading
// validates everything once; afterwards the rest of kcredd trusts the types. Errors name the file,
// line, column and key path: `kcredd.yaml:7:3: listen.tcp.tls.cert_file: file "/x.pem" does not exist`.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/logging.h"

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

struct Config {
  std::string source;  // the file it was read from ("" for defaults)
  ListenConfig listen;
  LogOptions log;
  std::string state_dir = kDefaultStateDir;
};

// The configuration kcredd runs with when no file is given: the unix socket only.
Config DefaultConfig();

// Reads and validates a YAML file. InvalidArgument/NotFound with file:line:col and the key path.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Parses and validates YAML text; `source` names it in errors (a file name).
absl::StatusOr<Config> ParseConfig(const std::string& yaml, const std::string& source);

}  // namespace kcred::config
