#pragma once
// Kcredd: the daemon as one object. Start composes it from a validated configuration: the store,
// sealer, clusters and broker (wiring.h); who may call, how much, and the audit log of each call;
// the event hub behind WatchAccounts, the gRPC service and server; revocations, scheduled rotations
// and declared accounts (engine.h). Reload applies a new configuration (reload.h), Stop shuts it
// all down in order. kcredd's main() adds flags, signals and systemd's notifications, nothing else.
//
// Cleanup is by destruction: members are declared in the order they depend on each other, so an
// error anywhere in Start, or a Kcredd destroyed without Stop, releases what was built correctly.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/app/context.h"
#include "daemon/app/dev_mode.h"
#include "daemon/app/engine.h"
#include "daemon/app/reload.h"
#include "daemon/app/wiring.h"
#include "daemon/audit/audit_log.h"
#include "daemon/authz/authorizer.h"
#include "daemon/authz/limits.h"
#include "daemon/config/config.h"
#include "daemon/server/account_events.h"
#include "daemon/server/broker_service.h"
#include "daemon/server/caller.h"
#include "daemon/server/grpc_server.h"

namespace kcred::app {

// Threads for unary calls beyond those the WatchAccounts streams may hold (limits.watches_total).
// Together they cap the server's threads, so no number of callers can make kcredd's thread count
// grow without bound.
inline constexpr int kUnaryCallThreads = 256;

// The largest request kcredd accepts. Requests are account references and specs, far smaller;
// gRPC's default (4 MiB) would only let a caller make kcredd allocate more.
inline constexpr int kMaxReceiveMessageBytes = 1 << 20;  // 1 MiB

// How often main() looks whether the STATUS line (account counts, declared accounts) changed.
inline constexpr absl::Duration kStatusRefreshInterval = absl::Seconds(5);

// The ready file holds addresses and a pid, nothing secret: readable by all.
inline constexpr int kReadyFileMode = 0644;

// The systemd watchdog is petted every half of its timeout, and only after the server answered its
// own health check: that check may take this fraction of the timeout...
inline constexpr int kHealthCheckTimeoutDivisor = 4;
// ...of this timeout when systemd set none (then there is no watchdog to pet, and no check).
inline constexpr absl::Duration kDefaultWatchdogTimeout = absl::Seconds(20);

// How long the watchdog's health check may take, given systemd's watchdog timeout (if any).
absl::Duration HealthCheckTimeout(std::optional<absl::Duration> watchdog_timeout);

struct KcreddOptions {
  // What to serve: a validated configuration (LoadKcreddConfig), or dev mode's config() with
  // ApplyFlagOverrides.
  config::Config config;
  // Dev mode: the embedded cluster `config` points at. The Kcredd owns it and stops it last, after
  // the broker's API clients are gone.
  std::unique_ptr<DevMode> dev;
  // --insecure: listen.tcp may be plaintext (LoadKcreddConfig checked allow_anonymous).
  bool insecure = false;
  // A listening unix socket systemd passed (server::TakeActivatedUnixSocket), or -1: it replaces
  // listen.unix. The server takes it over.
  int activated_fd = -1;
  // kcredd's version, for GetServerInfo and the log.
  std::string version;
};

class Kcredd {
 public:
  // Nothing starts before Start. `context`'s clock and connector must outlive the Kcredd.
  Kcredd(KcreddOptions options, Context context);
  // Stops what is still running (no grace for calls in flight), without Stop's log line.
  ~Kcredd();
  Kcredd(const Kcredd&) = delete;
  Kcredd& operator=(const Kcredd&) = delete;

  // Builds everything and starts serving. On error nothing serves and the message says what failed
  // and what to fix, with the code of the failing part: the store or sealing key (BuildRuntime),
  // "audit log: ..." (AuditLog::Open), a listener or TLS file (GrpcServer::Start). What was already
  // started is stopped by Stop or the destructor. FailedPrecondition when called twice.
  absl::Status Start();

  // Applies `next` (a freshly loaded configuration, or why it could not be loaded) over the running
  // one, as ApplyReload does, and starts rotation and declared accounts when the first clusters
  // were configured. Logs the outcome. A refusal (the error loading `next`, ApplyReload's errors,
  // every reload in dev mode, which has no file, or one before Start or after Stop) changes nothing
  // and is shown in StatusText until a reload succeeds.
  absl::StatusOr<ReloadReport> Reload(absl::StatusOr<config::Config> next);

  // The sd_notify STATUS line: "serving 2 accounts on 1 cluster", then the declared accounts' last
  // pass and why the last reload was refused, when there is something to say.
  std::string StatusText() const;

  // Writes {"unix": "unix:<path>", "tcp_port": N, "pid": N} (listeners that exist only) atomically
  // to `path`, for scripts and tests. FailedPrecondition when not serving; the write's error.
  absl::Status WriteReadyFile(const std::string& path) const;

  // OK while the server answers its own health check within `timeout` (GrpcServer::CheckServing);
  // for the systemd watchdog. Thread-safe between Start and Stop.
  absl::Status CheckServing(absl::Duration timeout);

  // In order: ends open WatchAccounts streams (the event hub closes), lets calls in flight finish
  // for up to `grace` while the server drains, cancels what still talks to a cluster (rotations,
  // revocations, the orphan sweep: Broker::Shutdown), stops declared accounts, rotations,
  // revocations and the sweep, releases the broker and its API clients, and last stops dev mode's
  // cluster. So a stop takes at most `grace` and a moment, whatever the clusters do. Logs
  // "stopped".
  // Idempotent; also after a failed Start.
  void Stop(absl::Duration grace);

  // The running configuration: the one started with, as changed by successful reloads.
  const config::Config& config() const { return config_; }
  bool dev_mode() const { return dev_ != nullptr; }
  // The bound unix socket path ("" without one) and TCP port (0 without one), once serving.
  std::string unix_path() const;
  int tcp_port() const;

 private:
  // Stop without the log line; false when there was nothing left to stop.
  bool Shutdown(absl::Duration grace);
  // Publishes the broker's events on the hub, starts the Engine and lets the service use both.
  void StartEngine();
  ReloadTargets Targets();

  Context context_;
  const bool insecure_;
  const int activated_fd_;
  const std::string version_;
  enum class State { kNew, kStarted, kStopped };
  State state_ = State::kNew;
  std::string reload_error_;  // why the last reload was refused ("" when it was not)

  // Destroyed last, so that nothing still talks to the dev cluster when it stops.
  std::unique_ptr<DevMode> dev_;
  config::Config config_;
  // Who may call (the policy is replaced on reload), how much, and the record of every call.
  authz::Authorizer authorizer_;
  authz::CallLimits limits_;
  audit::AuditLogPtr audit_;
  // Account events (provisioned, rotated, revoked, ...) for WatchAccounts; the broker publishes.
  server::AccountEventHub events_;
  server::PeerRegistry peers_;
  std::optional<Runtime> runtime_;                  // the store, sealer, clusters and broker
  std::unique_ptr<server::BrokerService> service_;  // uses all of the above
  std::unique_ptr<Engine> engine_;                  // null until the first cluster is configured
  std::unique_ptr<server::GrpcServer> server_;      // serves service_; destroyed first
};

}  // namespace kcred::app
