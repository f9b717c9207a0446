#include "daemon/app/reload.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/rotation/broker_rotation.h"

namespace kcred::app {
namespace {

bool SameTls(const std::optional<config::TlsConfig>& a, const std::optional<config::TlsConfig>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return std::tie(a->cert_file, a->key_file, a->client_ca_file, a->require_client_cert) ==
         std::tie(b->cert_file, b->key_file, b->client_ca_file, b->require_client_cert);
}

// The listener settings that differ (they need a restart: the sockets stay as they are).
std::vector<std::string> ListenChanges(const config::ListenConfig& a,
                                       const config::ListenConfig& b) {
  std::vector<std::string> changed;
  if (a.unix_socket.has_value() != b.unix_socket.has_value()) {
    changed.push_back("listen.unix");
  } else if (a.unix_socket) {
    if (a.unix_socket->path != b.unix_socket->path) changed.push_back("listen.unix.path");
    if (a.unix_socket->mode != b.unix_socket->mode) changed.push_back("listen.unix.mode");
    if (a.unix_socket->group != b.unix_socket->group) changed.push_back("listen.unix.group");
  }
  if (a.tcp.has_value() != b.tcp.has_value()) {
    changed.push_back("listen.tcp");
  } else if (a.tcp) {
    if (a.tcp->address != b.tcp->address) changed.push_back("listen.tcp.address");
    if (a.tcp->tls.has_value() != b.tcp->tls.has_value()) changed.push_back("listen.tcp.tls");
  }
  return changed;
}

bool SameAuthorization(const config::AuthorizationConfig& a, const config::AuthorizationConfig& b) {
  if (a.configured != b.configured || a.rules.size() != b.rules.size()) return false;
  for (size_t i = 0; i < a.rules.size(); ++i) {
    const config::AuthorizationRule& x = a.rules[i];
    const config::AuthorizationRule& y = b.rules[i];
    if (std::tie(x.subjects, x.actions, x.accounts) !=
        std::tie(y.subjects, y.actions, y.accounts)) {
      return false;
    }
  }
  return true;
}

bool SameAudit(const config::AuditConfig& a, const config::AuditConfig& b) {
  return std::tie(a.sink, a.path, a.max_bytes, a.max_files, a.required) ==
         std::tie(b.sink, b.path, b.max_bytes, b.max_files, b.required);
}

bool SameLimits(const config::LimitsConfig& a, const config::LimitsConfig& b) {
  return std::tie(a.calls_per_caller, a.watches_per_caller, a.watches_total,
                  a.secret_reads_per_second, a.secret_reads_burst) ==
         std::tie(b.calls_per_caller, b.watches_per_caller, b.watches_total,
                  b.secret_reads_per_second, b.secret_reads_burst);
}

bool SameTokenDefaults(const config::TokenDefaults& a, const config::TokenDefaults& b) {
  return std::tie(a.ttl, a.rotate_fraction, a.grace, a.legacy_token_wait) ==
         std::tie(b.ttl, b.rotate_fraction, b.grace, b.legacy_token_wait);
}

}  // namespace

absl::StatusOr<int> ScheduleRotations(rotation::BrokerRotation& rotation,
                                      rotation::Scheduler& scheduler, broker::Broker& broker,
                                      const config::Config& config) {
  std::set<std::string> configured;
  for (const config::ClusterConfig& cluster : config.clusters) {
    configured.insert(cluster.name);
    KCRED_RETURN_IF_ERROR(scheduler.SetClusterLimits(cluster.name, rotation::LimitsFor(cluster)));
  }
  KCRED_ASSIGN_OR_RETURN(int scheduled, rotation.Seed());
  // Accounts of clusters no longer configured are kept but neither served nor rotated.
  KCRED_ASSIGN_OR_RETURN(std::vector<v1::Account> accounts, broker.AllAccounts());
  for (const v1::Account& account : accounts) {
    if (configured.count(account.ref().cluster()) > 0) continue;
    if (scheduler.Remove(rotation::BrokerRotation::KeyOf(account.ref())).ok()) --scheduled;
  }
  return scheduled;
}

absl::StatusOr<ReloadReport> ApplyReload(const ReloadTargets& targets,
                                         const config::Config& current, const config::Config& next,
                                         const Context& context) {
  ReloadReport report;
  report.effective = next;
  config::Config& effective = report.effective;

  Runtime& runtime = *targets.runtime;
  // kcredd started without clusters has no store or broker: the first clusters open them (with
  // the new file's state_dir, store and token defaults, which nothing used so far).
  std::optional<Runtime> opened;
  if (runtime.broker == nullptr && !next.clusters.empty()) {
    absl::StatusOr<Runtime> built = BuildRuntime(next, context);
    if (!built.ok()) return built.status();
    opened = *std::move(built);
    report.changes.push_back(absl::StrCat(
        next.clusters.size(), " cluster(s) configured: store opened at ", next.state_dir));
  }
  const bool clusters_reloadable = runtime.broker != nullptr;

  // Restart-only settings keep their running values.
  for (std::string& what : ListenChanges(current.listen, next.listen)) {
    report.needs_restart.push_back(std::move(what));
  }
  effective.listen = current.listen;
  if (!SameAudit(current.audit, next.audit)) report.needs_restart.push_back("audit");
  effective.audit = current.audit;
  if (clusters_reloadable) {
    if (next.state_dir != current.state_dir) report.needs_restart.push_back("state_dir");
    effective.state_dir = current.state_dir;
    if (std::tie(next.store.sealing_key_file, next.store.sealing_key_credential) !=
        std::tie(current.store.sealing_key_file, current.store.sealing_key_credential)) {
      report.needs_restart.push_back("store");
    }
    effective.store = current.store;
    if (!SameTokenDefaults(next.token_defaults, current.token_defaults)) {
      report.needs_restart.push_back("defaults.token");
    }
    effective.token_defaults = current.token_defaults;
  }

  // 1. Connect added and changed clusters (nothing is swapped yet).
  std::map<std::string, broker::ClusterHandle> handles;
  std::vector<std::string> cluster_changes;
  if (clusters_reloadable) {
    std::map<std::string, const config::ClusterConfig*> before;
    for (const config::ClusterConfig& c : current.clusters) before[c.name] = &c;
    for (const config::ClusterConfig& cluster : next.clusters) {
      auto old = before.find(cluster.name);
      auto running = runtime.clusters.find(cluster.name);
      // A kubeconfig credential is re-read on every reload (its file may hold a renewed
      // certificate); a token file is re-read by the client whenever it changes.
      const bool same_connection = old != before.end() && running != runtime.clusters.end() &&
                                   config::SameConnection(*old->second, cluster) &&
                                   cluster.credential.kubeconfig_file.empty();
      if (same_connection) {
        // Keeps its API client; a changed admission policy travels with the handle.
        broker::ClusterHandle handle = running->second;
        handle.config = cluster;
        handles[cluster.name] = std::move(handle);
        if (old->second->policy != cluster.policy) {
          cluster_changes.push_back(absl::StrCat("cluster \"", cluster.name, "\" policy changed"));
        }
        continue;
      }
      absl::StatusOr<broker::ClusterHandle> connected = ConnectCluster(cluster, context.connector);
      if (!connected.ok()) return connected.status();
      handles[cluster.name] = *std::move(connected);
      if (old == before.end()) {
        cluster_changes.push_back(absl::StrCat("cluster \"", cluster.name, "\" added"));
      } else if (*old->second != cluster) {
        cluster_changes.push_back(absl::StrCat("cluster \"", cluster.name, "\" changed"));
      }
    }
    for (const config::ClusterConfig& c : current.clusters) {
      if (handles.count(c.name) == 0) {
        cluster_changes.push_back(absl::StrCat(
            "cluster \"", c.name, "\" removed (", runtime.broker->account_count(c.name),
            " account(s) kept but not served until it is configured again)"));
      }
    }
  }

  // 2. TLS: validated and installed in one step; a refusal leaves everything as it was.
  if (targets.server != nullptr && current.listen.tcp && current.listen.tcp->tls &&
      next.listen.tcp && next.listen.tcp->tls) {
    KCRED_RETURN_IF_ERROR(targets.server->ReloadTls(*next.listen.tcp->tls));
    effective.listen.tcp->tls = next.listen.tcp->tls;
    report.changes.push_back(SameTls(current.listen.tcp->tls, next.listen.tcp->tls)
                                 ? "TLS files re-read"
                                 : "TLS settings changed");
  }

  // 3. From here on nothing is refused.
  if (opened) {
    runtime = *std::move(opened);
    report.opened_store = true;  // the caller starts rotation and declared accounts
  }
  if (clusters_reloadable) {
    std::vector<broker::ClusterHandle> list;
    for (const config::ClusterConfig& cluster : next.clusters)
      list.push_back(handles[cluster.name]);
    KCRED_RETURN_IF_ERROR(runtime.broker->UpdateClusters(list));
    runtime.clusters = std::move(handles);
    for (std::string& change : cluster_changes) report.changes.push_back(std::move(change));
  }
  if (targets.scheduler != nullptr && targets.rotation != nullptr && clusters_reloadable) {
    absl::StatusOr<int> scheduled =
        ScheduleRotations(*targets.rotation, *targets.scheduler, *runtime.broker, effective);
    if (!scheduled.ok()) {
      Logger("kcredd")->error("rescheduling rotations after the reload: {}",
                              scheduled.status().message());
    }
  }
  if (targets.authorizer != nullptr &&
      !SameAuthorization(current.authorization, next.authorization)) {
    targets.authorizer->Replace(authz::Policy::ForConfig(next.authorization, getuid()));
    report.changes.push_back(
        absl::StrCat("authorization: ", targets.authorizer->policy()->description()));
  }
  if (next.limits.watches_total > current.limits.watches_total) {
    // kcredd's thread cap was sized for the streams allowed at start.
    report.needs_restart.push_back("limits.watches_total (raised)");
    effective.limits.watches_total = current.limits.watches_total;
    effective.limits.watches_per_caller =
        std::min(effective.limits.watches_per_caller, effective.limits.watches_total);
  }
  if (targets.limits != nullptr && !SameLimits(current.limits, effective.limits)) {
    targets.limits->Reconfigure(effective.limits);
    report.changes.push_back("limits");
  }
  if (next.log.level != current.log.level || next.log.format != current.log.format) {
    SetupLogging(next.log);
    report.changes.push_back("logging");
  }
  if (targets.declared != nullptr && clusters_reloadable) {
    targets.declared->Apply(next.accounts);
    report.changes.push_back(absl::StrCat(next.accounts.items.size(), " declared account(s)",
                                          next.accounts.prune ? " (prune: true)" : ""));
  }
  return report;
}

}  // namespace kcred::app
