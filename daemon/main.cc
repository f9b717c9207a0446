// kcredd: the kcred daemon. Wiring only: flags, config, logging, signals, the gRPC server.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/logging.h"
#include "daemon/app/reload.h"
#include "daemon/app/wiring.h"
#include "daemon/audit/audit_log.h"
#include "daemon/authz/authorizer.h"
#include "daemon/authz/limits.h"
#include "daemon/config/config.h"
#include "daemon/declared/declared_accounts.h"
#include "daemon/rotation/broker_rotation.h"
#include "daemon/rotation/scheduler.h"
#include "daemon/server/account_events.h"
#include "daemon/server/broker_service.h"
#include "daemon/server/grpc_server.h"
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

// Threads for unary calls beyond those the WatchAccounts streams may hold (limits.watches_total).
constexpr int kUnaryCallThreads = 256;

constexpr char kUsage[] = R"(the kcred credential broker daemon.

Usage (flags may be written --ready-file or --ready_file):
  kcredd [flags]                      serve (unix socket /run/kcred/kcredd.sock by default)
  kcredd --dev                        try kcred: embedded dev cluster, temporary state
  kcredd check-config --config FILE   validate a configuration file and exit 0 (valid) or 1

kcredd provisions Kubernetes ServiceAccounts with RBAC, rotates their tokens and serves kubeconfigs
over gRPC. Talk to it with the `kcred` client. SIGHUP reloads the configuration file (clusters,
declared accounts, logging, TLS files; a broken file is refused and the running configuration
stays). SIGTERM/SIGINT stop it cleanly.)";

kcred::config::Config ApplyFlagOverrides(kcred::config::Config config) {
  if (const std::string socket = absl::GetFlag(FLAGS_socket); !socket.empty()) {
    if (!config.listen.unix_socket) config.listen.unix_socket = kcred::config::UnixListenerConfig{};
    config.listen.unix_socket->path = socket;
  }
  return config;
}

absl::StatusOr<kcred::config::Config> LoadConfig() {
  std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty() && access(kcred::config::kDefaultConfigPath, F_OK) == 0) {
    path = kcred::config::kDefaultConfigPath;
  }
  absl::StatusOr<kcred::config::Config> config =
      path.empty() ? kcred::config::DefaultConfig() : kcred::config::LoadConfigFile(path);
  if (!config.ok()) return config.status();
  if (auto s = kcred::declared::ValidateDeclaredAccounts(*config); !s.ok()) return s;
  if (const std::string level = absl::GetFlag(FLAGS_log_level); !level.empty()) {
    auto parsed = kcred::ParseLogLevel(level);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--log_level: ", parsed.status().message()));
    }
    config->log.level = *parsed;
  }
  if (const std::string format = absl::GetFlag(FLAGS_log_format); !format.empty()) {
    auto parsed = kcred::ParseLogFormat(format);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--log_format: ", parsed.status().message()));
    }
    config->log.format = *parsed;
  }
  if (config->listen.tcp && !config->listen.tcp->tls) {
    if (!absl::GetFlag(FLAGS_insecure)) {
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
  return ApplyFlagOverrides(*std::move(config));
}

// The authorization policy of `config`: dev mode's, the file's rules, or the default.
kcred::authz::Policy PolicyFor(const kcred::config::Config& config, bool dev) {
  return dev ? kcred::authz::Policy::DevMode(getuid())
             : kcred::authz::Policy::ForConfig(config.authorization, getuid());
}

// Where audit records go: the file's audit section, by default <state_dir>/audit.log.
kcred::audit::AuditSinkOptions AuditOptions(const kcred::config::Config& config) {
  kcred::audit::AuditSinkOptions options;
  options.kind = config.audit.sink == kcred::config::AuditConfig::Sink::kJournal
                     ? kcred::audit::AuditSinkOptions::Kind::kJournal
                     : kcred::audit::AuditSinkOptions::Kind::kFile;
  options.path = config.audit.path.empty() ? config.state_dir + "/audit.log" : config.audit.path;
  options.max_bytes = config.audit.max_bytes;
  options.max_files = config.audit.max_files;
  return options;
}

int CheckConfig() {
  if (absl::GetFlag(FLAGS_config).empty()) {
    std::cerr << "kcredd check-config: --config FILE is required\n";
    return 2;
  }
  auto config = LoadConfig();
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 1;
  }
  const size_t declared = config->accounts.items.size();
  std::cout << config->source << ": OK (" << config->clusters.size()
            << (config->clusters.size() == 1 ? " cluster, " : " clusters, ") << declared
            << (declared == 1 ? " declared account" : " declared accounts")
            << (config->accounts.prune ? ", prune on" : "")
            << "; authorization: " << PolicyFor(*config, false).description() << ")\n";
  return 0;
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
  // systemd: take the socket kcredd.socket passed and the notification settings before any thread
  // starts (reading LISTEN_* clears them from the environment).
  auto activated = kcred::server::TakeActivatedUnixSocket();
  kcred::server::Notifier notifier;

  kcred::RealClock clock;
  std::optional<kcred::DevMode> dev;
  absl::StatusOr<kcred::config::Config> config;
  if (absl::GetFlag(FLAGS_dev)) {
    kcred::SetupLogging(kcred::LogOptions{});
    kcred::DevOptions dev_options;
    dev_options.dir = absl::GetFlag(FLAGS_dev_dir);
    dev_options.min_token_ttl = absl::GetFlag(FLAGS_dev_min_token_ttl);
    auto started = kcred::StartDevMode(dev_options, clock);
    if (!started.ok()) {
      std::cerr << "kcredd --dev: " << started.status().message() << "\n";
      return 1;
    }
    dev = *std::move(started);
    config = ApplyFlagOverrides(dev->config);
  } else {
    config = LoadConfig();
  }
  if (!config.ok()) {
    std::cerr << "kcredd: " << config.status().message() << "\n";
    return 1;
  }
  kcred::SetupLogging(config->log);
  auto log = kcred::Logger("kcredd");
  auto cleanup_dev = [&] {
    if (!dev) return;
    dev->cluster->Stop();
    if (dev->remove_dir) {
      std::error_code ec;
      std::filesystem::remove_all(dev->dir, ec);
    }
  };
  auto notify = [&log](const absl::Status& s) {
    if (!s.ok()) log->warn("{}", s.message());
  };
  if (!activated.ok()) {
    log->error("{}", activated.status().message());
    cleanup_dev();
    return 1;
  }

  auto runtime = kcred::BuildRuntime(*config, clock);
  if (!runtime.ok()) {
    log->error("{}", runtime.status().message());
    cleanup_dev();
    return 1;
  }
  // Who may call: the policy (replaced on reload), per-caller limits, and the audit log that
  // records every call.
  kcred::authz::Authorizer authorizer(PolicyFor(*config, dev.has_value()));
  kcred::authz::CallLimits limits(clock, config->limits);
  if (!dev && !config->authorization.configured) {
    log->warn(
        "{} has no authorization section: only root and uid {} (kcredd's own) may call kcredd; "
        "add authorization.rules to let other users, groups or certificates in",
        config->source.empty() ? "the configuration" : config->source, getuid());
  }
  if (config->listen.tcp && config->listen.tcp->allow_anonymous) {
    log->warn(
        "listen.tcp.allow_anonymous: TCP callers without a client certificate are served as "
        "\"anonymous\"; only rules naming the subject anonymous grant them anything");
  }
  absl::StatusOr<std::unique_ptr<kcred::audit::AuditLog>> audit =
      kcred::audit::AuditLog::Open(AuditOptions(*config));
  if (!audit.ok()) {
    log->error("audit log: {}", audit.status().message());
    cleanup_dev();
    return 1;
  }
  // Under systemd (INVOCATION_ID is set for every unit it runs) the audit log is required unless
  // the file says otherwise: secret-returning calls fail when their record cannot be written.
  const bool audit_required =
      config->audit.required.value_or(!dev && std::getenv("INVOCATION_ID") != nullptr);
  log->info("audit log: {}{}; authorization: {}",
            config->audit.sink == kcred::config::AuditConfig::Sink::kJournal
                ? std::string("journal (SYSLOG_IDENTIFIER=kcredd-audit)")
                : AuditOptions(*config).path,
            audit_required ? ", required" : "", authorizer.policy()->description());

  // Account events (provisioned, rotated, revoked, ...) for WatchAccounts, scheduled ones included.
  kcred::server::AccountEventHub events;
  kcred::server::PeerRegistry peers;
  kcred::server::ServiceDeps deps;
  deps.peers = &peers;
  deps.authorizer = &authorizer;
  deps.limits = &limits;
  deps.audit = audit->get();
  deps.audit_required = audit_required;
  deps.clock = &clock;
  deps.version = KCRED_VERSION;
  deps.start_time = clock.Now();
  deps.events = &events;
  kcred::server::BrokerService broker(std::move(deps));
  // What runs on the broker: revocations of previous tokens, scheduled rotations of every account,
  // and the accounts declared in the configuration (provisioned on their own thread, so they never
  // hold up start). Started now, or by the reload that configures the first cluster.
  std::optional<kcred::rotation::Revoker> revoker;
  std::optional<kcred::rotation::BrokerRotation> rotation;
  std::optional<kcred::rotation::Scheduler> scheduler;
  std::optional<kcred::declared::DeclaredAccountsReconciler> declared;
  auto start_engine = [&] {
    runtime->broker->SetEventListener(
        [&events](const kcred::v1::AccountEvent& event) { events.Publish(event); });
    revoker.emplace(clock, *runtime->broker, config->token_defaults.grace + absl::Seconds(5));
    rotation.emplace(*runtime->broker, config->token_defaults, &*revoker);
    kcred::rotation::SchedulerOptions scheduler_options;
    scheduler_options.workers = 16;  // at least any cluster's max_in_flight (LimitsFor)
    scheduler.emplace(clock, *rotation, scheduler_options, &*rotation);
    rotation->Attach(&*scheduler);
    auto seeded = kcred::ScheduleRotations(*rotation, *scheduler, *runtime->broker, *config);
    if (!seeded.ok()) {
      log->error("scheduling rotations: {}", seeded.status().message());
    } else {
      log->info("scheduled rotations for {} account(s)", *seeded);
    }
    if (auto s = scheduler->Start(); !s.ok()) log->error("rotation scheduler: {}", s.message());
    declared.emplace(clock, *runtime->broker);
    declared->Start();
    declared->Apply(config->accounts);
    broker.Attach(runtime->broker.get(), &*rotation);
  };
  if (runtime->broker) start_engine();
  auto stop_rotation = [&] {
    if (declared) declared->Stop();
    if (scheduler) scheduler->Stop();
    revoker.reset();
  };

  kcred::server::ServerOptions options;
  options.listen = config->listen;
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.max_receive_message_bytes = 1 << 20;
  // Every open WatchAccounts stream holds a thread; the rest serve unary calls and the health
  // check, so no number of callers can make kcredd's thread count grow without bound.
  options.max_threads = config->limits.watches_total + kUnaryCallThreads;
  options.health_service_names = {kcred::v1::CredentialBroker::service_full_name()};
  if (activated->has_value()) options.activated_fd = **activated;
  // The TLS material the server reads (validated copies; see GrpcServer::ReloadTls): under systemd
  // in RuntimeDirectory=, otherwise in a private temporary directory.
  if (const char* runtime_dir = std::getenv("RUNTIME_DIRECTORY"); runtime_dir != nullptr) {
    const std::string first(runtime_dir, strcspn(runtime_dir, ":"));
    if (!first.empty()) options.tls_work_dir = first + "/tls";
  }
  auto server = kcred::server::GrpcServer::Start(options, {&broker}, &peers);
  if (!server.ok()) {
    log->error("{}", server.status().message());
    stop_rotation();
    cleanup_dev();
    return 1;
  }
  log->info("kcredd {} serving (config: {}, {} cluster(s))", KCRED_VERSION,
            config->source.empty() ? "built-in defaults" : config->source, config->clusters.size());
  if (config->clusters.empty()) {
    log->warn("no clusters configured: only health and server info are served");
  }
  if (dev) std::cout << kcred::DevModeBanner(*dev) << std::flush;

  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    nlohmann::json addresses;
    if (!(*server)->unix_path().empty()) addresses["unix"] = "unix:" + (*server)->unix_path();
    if ((*server)->tcp_port() != 0) addresses["tcp_port"] = (*server)->tcp_port();
    addresses["pid"] = getpid();
    if (auto s = kcred::WriteFileAtomic(ready, addresses.dump() + "\n", 0644); !s.ok()) {
      log->error("cannot write --ready_file: {}", s.message());
      (*server)->Shutdown(absl::ZeroDuration());
      return 1;
    }
  }

  std::string reload_error;  // why the last reload was refused ("" when it was not)
  auto serving_status = [&] {
    std::string text = kcred::server::ServingStatusText(
        runtime->broker ? runtime->broker->account_count() : 0, config->clusters.size());
    if (declared) {
      if (auto report = declared->last_report();
          report.has_value() && (report->declared > 0 || report->pruned + report->kept > 0)) {
        absl::StrAppend(&text, "; declared accounts: ", report->Summary());
      }
    }
    if (!reload_error.empty()) absl::StrAppend(&text, "; reload refused: ", reload_error);
    return text;
  };
  auto reload_targets = [&] {
    kcred::ReloadTargets targets;
    targets.runtime = &*runtime;
    targets.server = server->get();
    targets.scheduler = scheduler ? &*scheduler : nullptr;
    targets.rotation = rotation ? &*rotation : nullptr;
    targets.declared = declared ? &*declared : nullptr;
    targets.authorizer = &authorizer;
    targets.limits = &limits;
    return targets;
  };
  auto reload = [&] {
    log->info("SIGHUP received: reloading {}", config->source);
    absl::StatusOr<kcred::config::Config> next =
        dev ? absl::FailedPreconditionError(
                  "dev mode has no configuration file to reload; restart kcredd --dev instead")
            : LoadConfig();
    absl::StatusOr<kcred::ReloadReport> applied =
        next.ok() ? kcred::ApplyReload(reload_targets(), *config, *next, clock) : next.status();
    if (!applied.ok()) {
      reload_error = std::string(applied.status().message());
      log->error("reload refused, still running the previous configuration: {}", reload_error);
      return;
    }
    reload_error.clear();
    *config = std::move(applied->effective);
    if (applied->opened_store) start_engine();
    log->info("configuration reloaded: {}",
              applied->changes.empty() ? "no changes" : absl::StrJoin(applied->changes, "; "));
    for (const std::string& setting : applied->needs_restart) {
      log->warn("{} changed: kcredd keeps the running value until it is restarted", setting);
    }
  };
  notify(notifier.Ready(serving_status()));
  // The watchdog is petted only while the server answers its own health check.
  const absl::Duration health_timeout = notifier.watchdog_timeout().value_or(absl::Seconds(20)) / 4;
  notify(notifier.StartWatchdog([&server, log, health_timeout] {
    absl::Status serving = (*server)->CheckServing(health_timeout);
    if (!serving.ok()) log->error("health check failed: {}", serving.message());
    return serving.ok();
  }));

  // The main thread waits for signals; every few seconds it refreshes the STATUS line when the
  // account counts or the declared accounts' state changed.
  std::string last_status = serving_status();
  for (;;) {
    const timespec refresh{5, 0};
    const int sig = sigtimedwait(&signals, nullptr, &refresh);
    if (sig < 0) {
      if (std::string now = serving_status(); now != last_status) {
        notify(notifier.Status(now));
        last_status = std::move(now);
      }
      continue;
    }
    if (sig == SIGHUP) {
      notify(notifier.Reloading());
      reload();
      last_status = serving_status();
      notify(notifier.ReadyAfterReload(last_status));
      continue;
    }
    log->info("{} received: finishing in-flight calls (up to {}) and stopping", strsignal(sig),
              absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)));
    break;
  }
  notify(notifier.Stopping());
  notifier.StopWatchdog();
  events.Close();  // ends open WatchAccounts streams so the drain is not held up
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  stop_rotation();
  if (runtime->broker) runtime->broker->SetEventListener(nullptr);
  // What uses the broker goes first, then the broker and its API clients, before the embedded
  // dev cluster stops, so that their kept-alive connections do not hold up its stop.
  declared.reset();
  scheduler.reset();
  rotation.reset();
  *runtime = kcred::Runtime();
  cleanup_dev();
  log->info("stopped");
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
    if (command == "check-config" && args.size() == 2) return CheckConfig();
    std::cerr << "kcredd: unknown command \"" << command << "\"; try `kcredd --help`\n";
    return 2;
  }
  return Serve();
}
