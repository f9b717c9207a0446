#pragma once
// kcredd's configuration policy on top of daemon/config: which file, what the command line
// overrides, what kcredd refuses to serve (plaintext TCP unless asked for, twice), the
// authorization policy and audit sink a configuration means, and `kcredd check-config`.

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/audit/audit_log.h"
#include "daemon/authz/policy.h"
#include "daemon/config/config.h"

namespace kcred::app {

// The command line's say in the configuration (kcredd's flags of the same names).
struct ConfigFlags {
  std::string config_path;  // --config; empty: default_config_path when it exists, else defaults
  std::string socket;       // --socket: serve on this unix socket instead of listen.unix.path
  bool insecure = false;    // --insecure: allow listen.tcp without TLS
  std::string log_level;    // --log_level: overrides log.level
  std::string log_format;   // --log_format: overrides log.format
  std::string default_config_path = config::kDefaultConfigPath;
};

// `config` with the --socket override applied (dev mode's config takes it too).
config::Config ApplyFlagOverrides(config::Config config, const ConfigFlags& flags);

// Reads and validates the configuration `flags` name (declared accounts included) and applies the
// overrides. InvalidArgument (or the loader's NotFound) saying what to fix, also for listen.tcp
// without TLS unless --insecure, and then unless listen.tcp.allow_anonymous.
absl::StatusOr<config::Config> LoadKcreddConfig(const ConfigFlags& flags);

// The authorization policy of `config`: dev mode's, the file's rules, or the default.
authz::Policy PolicyFor(const config::Config& config, bool dev);

// Where audit records go: the file's audit section, by default <state_dir>/audit.log.
audit::AuditSinkOptions AuditOptions(const config::Config& config);

// `kcredd check-config`: validates the file --config names and writes one line, a summary to `out`
// or the error to `err`. Returns the exit code: 0 valid, 1 invalid, 2 without --config.
int CheckConfig(const ConfigFlags& flags, std::ostream& out, std::ostream& err);

}  // namespace kcred::app
