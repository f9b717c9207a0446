#pragma once
// SIGHUP: applying a new configuration to a running kcredd without dropping connections or
// in-flight rotations. Everything that can fail is checked before anything changes, so a refused
// reload leaves the old configuration running untouched.
//
// Reloaded: clusters (added, changed, removed: changed ones get a new API client, operations in
// flight finish on the old one; a changed admission policy alone keeps the client), per-cluster
// rotation limits, declared accounts (reconciled afterwards on their own thread), logging, the
// authorization policy and the per-caller limits (calls that start afterwards use them), and the
// TLS certificate, key and client CA (new handshakes use them; open connections keep theirs).
// Settings that only take effect after a restart (listen addresses and socket, state_dir, store,
// defaults.token, audit) are reported, not applied: the running kcredd keeps their old values. A
// kcredd that started without clusters has no store yet: the reload that configures the first
// clusters opens it (with the file's state_dir, store and defaults).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/app/context.h"
#include "daemon/app/wiring.h"
#include "daemon/authz/authorizer.h"
#include "daemon/authz/limits.h"
#include "daemon/config/config.h"
#include "daemon/declared/declared_accounts.h"
#include "daemon/rotation/broker_rotation.h"
#include "daemon/rotation/scheduler.h"
#include "daemon/server/grpc_server.h"

namespace kcred::app {

// What a reload acts on; null members are absent (e.g. no broker without clusters).
struct ReloadTargets {
  Runtime* runtime = nullptr;
  server::GrpcServer* server = nullptr;
  rotation::Scheduler* scheduler = nullptr;
  rotation::BrokerRotation* rotation = nullptr;
  declared::DeclaredAccountsReconciler* declared = nullptr;
  authz::Authorizer* authorizer = nullptr;  // takes the new authorization policy
  authz::CallLimits* limits = nullptr;      // takes the new limits
};

struct ReloadReport {
  config::Config effective;                // `next`, with the restart-only settings of `current`
  std::vector<std::string> changes;        // what was applied, e.g. `cluster "dev" changed`
  std::vector<std::string> needs_restart;  // e.g. "listen.unix.path"
  // kcredd had no clusters, and this reload configured the first ones: the runtime now has a
  // store and a broker, and the caller must start what uses them (rotation, declared accounts).
  bool opened_store = false;
};

// Sets the per-cluster rotation limits and schedules every account of a configured cluster
// (accounts of clusters no longer configured are kept but neither served nor rotated). Returns how
// many accounts are scheduled. At start and after each reload.
absl::StatusOr<int> ScheduleRotations(rotation::BrokerRotation& rotation,
                                      rotation::Scheduler& scheduler, broker::Broker& broker,
                                      const config::Config& config);

// Applies `next` over `current`, connecting added and changed clusters through `context`. On error
// nothing was applied and the message says why.
absl::StatusOr<ReloadReport> ApplyReload(const ReloadTargets& targets,
                                         const config::Config& current, const config::Config& next,
                                         const Context& context);

}  // namespace kcred::app
