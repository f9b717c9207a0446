// kcredd: the kcred daemon. Wiring only: flags, the signal mask and the loop; daemon/app's Kcredd
// is the daemon (config policy, composition, reload, shutdown).
#include <signal.h>
#include <sys/prctl.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/logging.h"
#include "daemon/app/http_cluster_connector.h"
#include "daemon/app/kcredd.h"
#include "daemon/app/kcredd_config.h"
#include "daemon/server/systemd.h"

ABSL_FLAG(std::string, config, "",
          "Path of the YAML configuration file (default /etc/kcred/kcredd.yaml when it exists, "
          "else built-in defaults).");
ABSL_FLAG(std::string, socket, "", "Serve on this unix socket path instead of listen.unix.path.");
ABSL_FLAG(bool, insecure, false,
          "Allow listen.tcp without TLS (plaintext). For local development only; kcredd warns.");
ABSL_FLAG(std::string, log_level, "", "Override log.level: trace, debug, info, warn, error.");
ABSL_FLAG(std::string, log_format, "", "Override log.format: auto, text, json, journal.");
ABSL_FLAG(std::string, ready_file, "",
          "Once serving, write the bound addresses as JSON to this file (for scripts and tests).");
ABSL_FLAG(
    bool, dev, false,
    "Dev mode: embed kcred-devcluster as cluster \"dev\", keep state in a temporary directory "
    "(or --dev_dir), serve on a unix socket there, and print commands to try.");
ABSL_FLAG(
    std::string, dev_dir, "",
    "Dev mode: keep the dev cluster, the store and the socket in this directory across runs.");
ABSL_FLAG(
    absl::Duration, dev_min_token_ttl, absl::Minutes(10),
    "Dev mode: the shortest token lifetime the dev cluster accepts (Kubernetes: 10m); lower it "
    "to watch rotations happen quickly.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "How long in-flight calls may run after SIGTERM/SIGINT before they are cancelled.");

namespace {

constexpr char kUsage[] = R"(the kcred credential broker daemon.

Usage (flags may be written --ready-file or --ready_file):
  kcredd [flags]                      serve (unix socket /run/kcred/kcredd.sock by default)
  kcredd --dev                        try kcred: embedded dev cluster, temporary state
  kcredd check-config --config FILE   validate a configuration file and exit 0 (valid) or 1

kcredd provisions Kubernetes ServiceAccounts with RBAC, rotates their tokens and serves kubeconfigs
over gRPC. Talk to it with the `kcred` client. SIGHUP reloads the configuration file (clusters,
declared accounts, logging, TLS files; a broken file is refused and the running configuration
stays). SIGTERM/SIGINT stop it cleanly.)";

kcred::app::ConfigFlags ConfigFlagsFromCommandLine() {
  kcred::app::ConfigFlags flags;
  flags.config_path = absl::GetFlag(FLAGS_config);
  flags.socket = absl::GetFlag(FLAGS_socket);
  flags.insecure = absl::GetFlag(FLAGS_insecure);
  flags.log_level = absl::GetFlag(FLAGS_log_level);
  flags.log_format = absl::GetFlag(FLAGS_log_format);
  return flags;
}

int Serve() {
  // Tokens, the sealing key and cluster credentials live in this process's memory: no core dumps
  // and no ptrace by other processes of the same user.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Signals are taken synchronously by this thread; every thread started later
  // (the dev cluster's too) inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // systemd: take the socket kcredd.socket passed, the notification settings and the environment
  // before any thread starts (reading LISTEN_* clears them from the environment).
  auto activated = kcred::server::TakeActivatedUnixSocket();
  kcred::server::Notifier notifier;
  kcred::RealClock clock;
  kcred::app::HttpClusterConnector connector(clock);
  kcred::app::Context context{clock, connector, kcred::app::ReadSystemEnvironment()};

  const kcred::app::ConfigFlags flags = ConfigFlagsFromCommandLine();
  kcred::app::KcreddOptions options;
  options.insecure = flags.insecure;
  options.version = KCRED_VERSION;
  if (absl::GetFlag(FLAGS_dev)) {
    kcred::SetupLogging(kcred::LogOptions{});
    auto dev = kcred::app::DevMode::Start(
        {absl::GetFlag(FLAGS_dev_dir), absl::GetFlag(FLAGS_dev_min_token_ttl)}, clock);
    if (!dev.ok()) {
      std::cerr << "kcredd --dev: " << dev.status().message() << "\n";
      return 1;
    }
    options.dev = *std::move(dev);
    options.config = kcred::app::ApplyFlagOverrides(options.dev->config(), flags);
  } else if (auto config = kcred::app::LoadKcreddConfig(flags); config.ok()) {
    options.config = *std::move(config);
  } else {
    std::cerr << "kcredd: " << config.status().message() << "\n";
    return 1;
  }
  kcred::SetupLogging(options.config.log);
  auto log = kcred::Logger("kcredd");
  auto notify = [&log](const absl::Status& s) {
    if (!s.ok()) log->warn("{}", s.message());
  };
  if (!activated.ok()) {
    log->error("{}", activated.status().message());
    return 1;
  }
  if (activated->has_value()) options.activated_fd = **activated;
  const std::string banner = options.dev ? options.dev->Banner() : "";

  kcred::app::Kcredd kcredd(std::move(options), context);
  if (absl::Status started = kcredd.Start(); !started.ok()) {
    log->error("{}", started.message());
    return 1;
  }
  std::cout << banner << std::flush;
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    if (absl::Status s = kcredd.WriteReadyFile(ready); !s.ok()) {
      log->error("cannot write --ready_file: {}", s.message());
      return 1;
    }
  }
  notify(notifier.Ready(kcredd.StatusText()));
  // The watchdog is petted only while the server answers its own health check.
  const absl::Duration health_timeout = kcred::app::HealthCheckTimeout(notifier.watchdog_timeout());
  notify(notifier.StartWatchdog([&kcredd, log, health_timeout] {
    absl::Status serving = kcredd.CheckServing(health_timeout);
    if (!serving.ok()) log->error("health check failed: {}", serving.message());
    return serving.ok();
  }));

  // The main thread waits for signals; every few seconds it refreshes the STATUS line when the
  // account counts or the declared accounts' state changed.
  std::string last_status = kcredd.StatusText();
  const timespec refresh = absl::ToTimespec(kcred::app::kStatusRefreshInterval);
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &refresh);
    if (sig < 0) {
      if (std::string now = kcredd.StatusText(); now != last_status) {
        notify(notifier.Status(now));
        last_status = std::move(now);
      }
      continue;
    }
    if (sig == SIGHUP) {
      notify(notifier.Reloading());
      log->info("SIGHUP received: reloading {}", kcredd.config().source);
      // Dev mode has no file to read again; Kcredd refuses its reloads whatever they carry.
      (void)kcredd.Reload(kcredd.dev_mode() ? kcredd.config()
                                            : kcred::app::LoadKcreddConfig(flags));
      last_status = kcredd.StatusText();
      notify(notifier.ReadyAfterReload(last_status));
      continue;
    }
    log->info("{} received: finishing in-flight calls (up to {}) and stopping", strsignal(sig),
              absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)));
    break;
  }
  notify(notifier.Stopping());
  notifier.StopWatchdog();
  kcredd.Stop(absl::GetFlag(FLAGS_shutdown_grace));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "daemon/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] { return std::string("kcredd ") + KCRED_VERSION + "\n"; };
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(kUsage);
  std::vector<std::string> args =
      kcred::ParseNormalized(kcred::NormalizeFlagDashes(argc, argv),
                             [](int n, char** v) { return absl::ParseCommandLine(n, v); });

  if (args.size() > 1) {
    const std::string command = args[1];
    if (command == "check-config" && args.size() == 2) {
      return kcred::app::CheckConfig(ConfigFlagsFromCommandLine(), std::cout, std::cerr);
    }
    std::cerr << "kcredd: unknown command \"" << command << "\"; try `kcredd --help`\n";
    return 2;
  }
  return Serve();
}
