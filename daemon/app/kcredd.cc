#include "daemon/app/kcredd.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/app/kcredd_config.h"
#include "daemon/config/grace_check.h"
#include "daemon/server/systemd.h"

namespace kcred::app {

absl::Duration HealthCheckTimeout(std::optional<absl::Duration> watchdog_timeout) {
  return watchdog_timeout.value_or(kDefaultWatchdogTimeout) / kHealthCheckTimeoutDivisor;
}

Kcredd::Kcredd(KcreddOptions options, Context context)
    : context_(std::move(context)),
      insecure_(options.insecure),
      activated_fd_(options.activated_fd),
      version_(std::move(options.version)),
      dev_(std::move(options.dev)),
      config_(std::move(options.config)),
      authorizer_(PolicyFor(config_, dev_ != nullptr)),
      limits_(context_.clock, config_.limits) {}

Kcredd::~Kcredd() { Shutdown(absl::ZeroDuration()); }

absl::Status Kcredd::Start() {
  if (state_ != State::kNew) return absl::FailedPreconditionError("kcredd: Start called twice");
  state_ = State::kStarted;
  auto log = Logger("kcredd");
  const bool dev = dev_mode();

  KCRED_ASSIGN_OR_RETURN(runtime_, BuildRuntime(config_, context_));
  if (!dev && !config_.authorization.configured) {
    log->warn(
        "{} has no authorization section: only root and uid {} (kcredd's own) may call kcredd; "
        "add authorization.rules to let other users, groups or certificates in",
        config_.source.empty() ? "the configuration" : config_.source, getuid());
  }
  for (const std::string& warning : config::ShortGraceWarnings(config_)) log->warn("{}", warning);
  if (config_.listen.tcp && config_.listen.tcp->allow_anonymous) {
    log->warn(
        "listen.tcp.allow_anonymous: TCP callers without a client certificate are served as "
        "\"anonymous\"; only rules naming the subject anonymous grant them anything");
  }
  const audit::AuditSinkOptions audit_options = AuditOptions(config_);
  absl::StatusOr<audit::AuditLogPtr> audit = audit::AuditLog::Open(audit_options);
  if (!audit.ok()) {
    return absl::Status(audit.status().code(),
                        absl::StrCat("audit log: ", audit.status().message()));
  }
  audit_ = *std::move(audit);
  // Under systemd the audit log is required unless the file says otherwise: secret-returning calls
  // fail when their record cannot be written.
  const bool audit_required =
      config_.audit.required.value_or(!dev && context_.environment.under_systemd);
  log->info("audit log: {}{}; authorization: {}",
            config_.audit.sink == config::AuditConfig::Sink::kJournal
                ? std::string("journal (SYSLOG_IDENTIFIER=kcredd-audit)")
                : audit_options.path,
            audit_required ? ", required" : "", authorizer_.policy()->description());

  server::ServiceDeps deps;
  deps.peers = &peers_;
  deps.authorizer = &authorizer_;
  deps.limits = &limits_;
  deps.audit = audit_.get();
  deps.audit_required = audit_required;
  deps.clock = &context_.clock;
  deps.version = version_;
  deps.start_time = context_.clock.Now();
  deps.events = &events_;
  service_ = std::make_unique<server::BrokerService>(std::move(deps));
  // Without clusters there is no broker yet: the reload that configures the first one starts this.
  if (runtime_->broker != nullptr) StartEngine();

  server::ServerOptions options;
  options.listen = config_.listen;
  options.insecure = insecure_;
  options.max_receive_message_bytes = kMaxReceiveMessageBytes;
  options.max_threads = config_.limits.watches_total + kUnaryCallThreads;
  options.health_service_names = {v1::CredentialBroker::service_full_name()};
  options.activated_fd = activated_fd_;
  // The TLS material the server reads (validated copies; see GrpcServer::ReloadTls): under systemd
  // in RuntimeDirectory=, otherwise in a private temporary directory.
  if (!context_.environment.runtime_directory.empty()) {
    options.tls_work_dir = context_.environment.runtime_directory + "/tls";
  }
  KCRED_ASSIGN_OR_RETURN(server_, server::GrpcServer::Start(options, {service_.get()}, &peers_));
  log->info("kcredd {} serving (config: {}, {} cluster(s))", version_,
            config_.source.empty() ? "built-in defaults" : config_.source, config_.clusters.size());
  if (config_.clusters.empty()) {
    log->warn("no clusters configured: only health and server info are served");
  }
  return absl::OkStatus();
}

void Kcredd::StartEngine() {
  broker::Broker& broker = *runtime_->broker;
  broker.SetEventListener([this](const v1::AccountEvent& event) { events_.Publish(event); });
  engine_ = std::make_unique<Engine>(context_.clock, broker, config_);
  service_->Attach(&broker, &engine_->rotation());
}

ReloadTargets Kcredd::Targets() {
  ReloadTargets targets;
  targets.runtime = &*runtime_;
  targets.server = server_.get();
  targets.scheduler = engine_ ? &engine_->scheduler() : nullptr;
  targets.rotation = engine_ ? &engine_->rotation() : nullptr;
  targets.declared = engine_ ? &engine_->declared() : nullptr;
  targets.authorizer = &authorizer_;
  targets.limits = &limits_;
  return targets;
}

absl::StatusOr<ReloadReport> Kcredd::Reload(absl::StatusOr<config::Config> next) {
  auto log = Logger("kcredd");
  if (state_ != State::kStarted || server_ == nullptr) {
    next = absl::FailedPreconditionError("kcredd is not serving");
  } else if (dev_mode()) {
    next = absl::FailedPreconditionError(
        "dev mode has no configuration file to reload; restart kcredd --dev instead");
  }
  absl::StatusOr<ReloadReport> applied =
      next.ok() ? ApplyReload(Targets(), config_, *next, context_) : next.status();
  if (!applied.ok()) {
    reload_error_ = std::string(applied.status().message());
    log->error("reload refused, still running the previous configuration: {}", reload_error_);
    return applied;
  }
  reload_error_.clear();
  config_ = applied->effective;
  if (applied->opened_store) StartEngine();
  log->info("configuration reloaded: {}",
            applied->changes.empty() ? "no changes" : absl::StrJoin(applied->changes, "; "));
  for (const std::string& warning : config::ShortGraceWarnings(config_)) log->warn("{}", warning);
  for (const std::string& setting : applied->needs_restart) {
    log->warn("{} changed: kcredd keeps the running value until it is restarted", setting);
  }
  return applied;
}

std::string Kcredd::StatusText() const {
  const size_t accounts =
      runtime_.has_value() && runtime_->broker != nullptr ? runtime_->broker->account_count() : 0;
  std::string text = server::ServingStatusText(accounts, config_.clusters.size());
  if (engine_ != nullptr) {
    if (auto report = engine_->declared().last_report();
        report.has_value() && (report->declared > 0 || report->pruned + report->kept > 0)) {
      absl::StrAppend(&text, "; declared accounts: ", report->Summary());
    }
  }
  if (!reload_error_.empty()) absl::StrAppend(&text, "; reload refused: ", reload_error_);
  return text;
}

std::string Kcredd::unix_path() const { return server_ ? server_->unix_path() : ""; }

int Kcredd::tcp_port() const { return server_ ? server_->tcp_port() : 0; }

absl::Status Kcredd::WriteReadyFile(const std::string& path) const {
  if (server_ == nullptr) return absl::FailedPreconditionError("kcredd is not serving");
  nlohmann::json addresses;
  if (!server_->unix_path().empty()) addresses["unix"] = "unix:" + server_->unix_path();
  if (server_->tcp_port() != 0) addresses["tcp_port"] = server_->tcp_port();
  addresses["pid"] = getpid();
  return WriteFileAtomic(path, addresses.dump() + "\n", kReadyFileMode);
}

absl::Status Kcredd::CheckServing(absl::Duration timeout) {
  if (server_ == nullptr) return absl::UnavailableError("kcredd is not serving");
  return server_->CheckServing(timeout);
}

void Kcredd::Stop(absl::Duration grace) {
  if (Shutdown(grace)) Logger("kcredd")->info("stopped");
}

bool Kcredd::Shutdown(absl::Duration grace) {
  if (state_ == State::kStopped) return false;
  state_ = State::kStopped;
  events_.Close();  // ends open WatchAccounts streams so the drain is not held up
  if (server_ != nullptr) server_->Shutdown(grace);
  // The calls had their grace; what still talks to a cluster (a rotation, a revocation, the
  // orphan sweep) ends now with CANCELLED, so the stop does not wait on the clusters.
  if (runtime_.has_value() && runtime_->broker != nullptr) runtime_->broker->Shutdown();
  if (engine_ != nullptr) engine_->Stop();
  if (runtime_.has_value() && runtime_->broker != nullptr)
    runtime_->broker->SetEventListener(nullptr);
  // What uses the broker goes first, then the broker and its API clients, before the embedded
  // dev cluster stops, so that their kept-alive connections do not hold up its stop.
  engine_.reset();
  runtime_.reset();
  dev_.reset();
  return true;
}

}  // namespace kcred::app
