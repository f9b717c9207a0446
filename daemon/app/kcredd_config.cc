#include "daemon/app/kcredd_config.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "daemon/declared/declared_accounts.h"

namespace kcred::app {

config::Config ApplyFlagOverrides(config::Config config, const ConfigFlags& flags) {
  if (!flags.socket.empty()) {
    if (!config.listen.unix_socket) config.listen.unix_socket = config::UnixListenerConfig{};
    config.listen.unix_socket->path = flags.socket;
  }
  return config;
}

absl::StatusOr<config::Config> LoadKcreddConfig(const ConfigFlags& flags) {
  std::string path = flags.config_path;
  if (path.empty() && access(flags.default_config_path.c_str(), F_OK) == 0) {
    path = flags.default_config_path;
  }
  absl::StatusOr<config::Config> config =
      path.empty() ? config::DefaultConfig() : config::LoadConfigFile(path);
  if (!config.ok()) return config.status();
  if (auto s = declared::ValidateDeclaredAccounts(*config); !s.ok()) return s;
  if (!flags.log_level.empty()) {
    auto parsed = ParseLogLevel(flags.log_level);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--log_level: ", parsed.status().message()));
    }
    config->log.level = *parsed;
  }
  if (!flags.log_format.empty()) {
    auto parsed = ParseLogFormat(flags.log_format);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--log_format: ", parsed.status().message()));
    }
    config->log.format = *parsed;
  }
  if (config->listen.tcp && !config->listen.tcp->tls) {
    if (!flags.insecure) {
      return absl::InvalidArgumentError(
          absl::StrCat(config->source,
                       ": listen.tcp: no tls section; kcredd refuses plaintext TCP (add "
                       "listen.tcp.tls, or run with --insecure for local development only)"));
    }
    if (!config->listen.tcp->allow_anonymous) {
      return absl::InvalidArgumentError(
          absl::StrCat(config->source,
                       ": listen.tcp: plaintext TCP (--insecure) identifies no caller; set "
                       "listen.tcp.allow_anonymous: true to serve anonymous callers deliberately"));
    }
  }
  return ApplyFlagOverrides(*std::move(config), flags);
}

authz::Policy PolicyFor(const config::Config& config, bool dev) {
  return dev ? authz::Policy::DevMode(getuid())
             : authz::Policy::ForConfig(config.authorization, getuid());
}

audit::AuditSinkOptions AuditOptions(const config::Config& config) {
  audit::AuditSinkOptions options;
  options.kind = config.audit.sink == config::AuditConfig::Sink::kJournal
                     ? audit::AuditSinkOptions::Kind::kJournal
                     : audit::AuditSinkOptions::Kind::kFile;
  options.path = config.audit.path.empty() ? config.state_dir + "/audit.log" : config.audit.path;
  options.max_bytes = config.audit.max_bytes;
  options.max_files = config.audit.max_files;
  return options;
}

int CheckConfig(const ConfigFlags& flags, std::ostream& out, std::ostream& err) {
  if (flags.config_path.empty()) {
    err << "kcredd check-config: --config FILE is required\n";
    return 2;
  }
  auto config = LoadKcreddConfig(flags);
  if (!config.ok()) {
    err << config.status().message() << "\n";
    return 1;
  }
  const size_t declared = config->accounts.items.size();
  out << config->source << ": OK (" << config->clusters.size()
      << (config->clusters.size() == 1 ? " cluster, " : " clusters, ") << declared
      << (declared == 1 ? " declared account" : " declared accounts")
      << (config->accounts.prune ? ", prune on" : "")
      << "; authorization: " << PolicyFor(*config, false).description() << ")\n";
  return 0;
}

}  // namespace kcred::app
