#include "daemon/declared/declared_accounts.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/account/account_ref.h"
#include "common/logging.h"
#include "daemon/broker/admission.h"
#include "daemon/broker/validation.h"

namespace kcred::declared {
namespace {

// Whether the account's cluster is no longer configured (its Ready condition says so).
bool ClusterNotConfigured(const v1::Account& account) {
  for (const v1::Condition& condition : account.status().conditions()) {
    if (condition.reason() == "ClusterNotConfigured") return true;
  }
  return false;
}

}  // namespace

absl::Status ValidateDeclaredAccounts(const config::Config& config) {
  for (size_t i = 0; i < config.accounts.items.size(); ++i) {
    const config::DeclaredAccount& item = config.accounts.items[i];
    const config::ClusterConfig* cluster = nullptr;
    for (const config::ClusterConfig& c : config.clusters) {
      if (c.name == item.ref.cluster()) cluster = &c;
    }
    absl::Status valid = broker::ValidateRefNames(item.ref);
    if (valid.ok() && cluster == nullptr) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("cluster \"", item.ref.cluster(), "\" is not configured"));
    }
    if (valid.ok()) valid = broker::ValidateSpec(item.spec, *cluster, config.token_defaults);
    if (valid.ok()) {
      // The operator's own file passes admission too: a declared account gets no more than the
      // cluster's policy allows anyone.
      valid =
          broker::Admit(item.ref, item.spec, *cluster,
                        broker::ResolvePolicy(item.spec, *cluster, config.token_defaults).grace);
    }
    if (!valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(item.where, ": accounts.items[", i, "] (",
                                                     FormatAccountRef(item.ref),
                                                     "): ", valid.message()));
    }
  }
  return absl::OkStatus();
}

std::string PassReport::Summary() const {
  std::vector<std::string> parts;
  auto add = [&parts](int n, const char* what) {
    if (n > 0) parts.push_back(absl::StrCat(n, " ", what));
  };
  add(created, "created");
  add(updated, "updated");
  add(unchanged, "unchanged");
  add(pruned, "pruned");
  add(kept, "kept though no longer declared (prune: false)");
  std::string out = absl::StrCat(declared, " declared");
  if (!parts.empty()) absl::StrAppend(&out, ": ", absl::StrJoin(parts, ", "));
  if (!failures.empty()) absl::StrAppend(&out, "; ", failures.size(), " failed");
  return out;
}

DeclaredAccountsReconciler::DeclaredAccountsReconciler(Clock& clock, broker::Broker& broker,
                                                       ReconcilerOptions options)
    : clock_(clock), broker_(broker), options_(options) {}

DeclaredAccountsReconciler::~DeclaredAccountsReconciler() { Stop(); }

void DeclaredAccountsReconciler::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void DeclaredAccountsReconciler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void DeclaredAccountsReconciler::Apply(config::DeclaredAccounts accounts) {
  absl::MutexLock lock(&mu_);
  accounts_ = std::move(accounts);
  full_pass_wanted_ = true;
}

PassReport DeclaredAccountsReconciler::Reconcile(const config::DeclaredAccounts& accounts) {
  std::set<std::string> failed;
  return Pass(accounts, nullptr, &failed);
}

std::optional<PassReport> DeclaredAccountsReconciler::last_report() const {
  absl::MutexLock lock(&mu_);
  return last_report_;
}

int DeclaredAccountsReconciler::passes() const {
  absl::MutexLock lock(&mu_);
  return passes_;
}

PassReport DeclaredAccountsReconciler::Pass(const config::DeclaredAccounts& accounts,
                                            const std::set<std::string>* only,
                                            std::set<std::string>* failed) {
  auto log = Logger("declared");
  PassReport report;
  report.declared = static_cast<int>(accounts.items.size());
  auto fail = [&](const std::string& key, absl::string_view message) {
    report.failures.push_back(absl::StrCat(key, ": ", message));
    failed->insert(key);
    log->warn("declared account {}: {}", key, message);
  };

  std::set<std::string> declared;
  for (const config::DeclaredAccount& item : accounts.items) {
    const std::string key = FormatAccountRef(item.ref);
    declared.insert(key);
    if (only != nullptr && only->count(key) == 0) continue;
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = item.ref;
    *request.mutable_spec() = item.spec;
    absl::StatusOr<v1::ProvisionAccountResponse> provisioned =
        broker_.Provision(request, v1::ORIGIN_CONFIG);
    if (!provisioned.ok()) {
      fail(key, absl::StrCat(provisioned.status().message(), " (declared at ", item.where, ")"));
      continue;
    }
    switch (provisioned->outcome()) {
      case v1::PROVISION_OUTCOME_CREATED:
        ++report.created;
        log->info("declared account {}: created (declared at {})", key, item.where);
        break;
      case v1::PROVISION_OUTCOME_UPDATED:
        ++report.updated;
        log->info("declared account {}: updated to its declared spec", key);
        break;
      default:
        ++report.unchanged;
        break;
    }
  }

  // Accounts declared before and no longer: pruned or kept.
  absl::StatusOr<std::vector<v1::Account>> all = broker_.AllAccounts();
  if (!all.ok()) {
    fail("(listing accounts)", all.status().message());
    return report;
  }
  for (const v1::Account& account : *all) {
    if (account.origin() != v1::ORIGIN_CONFIG) continue;
    const std::string key = FormatAccountRef(account.ref());
    if (declared.count(key) > 0) continue;
    if (only != nullptr && only->count(key) == 0) continue;
    if (ClusterNotConfigured(account)) {
      // Nothing can be deleted there; kept (not served) until the cluster is configured again.
      ++report.kept;
      continue;
    }
    if (!accounts.prune) {
      ++report.kept;
      if (only == nullptr) {
        log->info("account {} is no longer declared; kept because prune is off", key);
      }
      continue;
    }
    v1::DeleteAccountRequest request;
    *request.mutable_ref() = account.ref();
    absl::StatusOr<v1::DeleteAccountResponse> deleted =
        broker_.DeleteAccount(request, v1::ORIGIN_CONFIG);
    if (!deleted.ok() && !absl::IsNotFound(deleted.status())) {
      fail(key, absl::StrCat("pruning: ", deleted.status().message()));
      continue;
    }
    ++report.pruned;
    log->info("account {} is no longer declared: deprovisioned (prune: true)", key);
  }
  return report;
}

void DeclaredAccountsReconciler::Run() {
  std::set<std::string> failed;  // keys to retry
  absl::Duration backoff = options_.min_retry;
  absl::Time retry_at = absl::InfiniteFuture();
  mu_.Lock();
  for (;;) {
    const bool woken =
        clock_.WaitUntil(&mu_,
                         absl::Condition(
                             +[](DeclaredAccountsReconciler* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                  self->mu_) { return self->stop_ || self->full_pass_wanted_; },
                             this),
                         retry_at);
    if (stop_) break;
    const bool full = full_pass_wanted_;
    full_pass_wanted_ = false;
    // Not woken by Stop or Apply: the retry deadline has come.
    const bool retry_due = !woken && !failed.empty();
    if (!full && !retry_due) continue;
    const config::DeclaredAccounts accounts = accounts_;
    mu_.Unlock();

    std::set<std::string> still_failed;
    const absl::Time started = clock_.Now();
    PassReport report = Pass(accounts, full ? nullptr : &failed, &still_failed);
    const bool nothing =
        report.declared == 0 && report.pruned + report.kept == 0 && report.failures.empty();
    Logger("declared")
        ->log(nothing ? spdlog::level::debug : spdlog::level::info, "{}: {} in {}",
              full ? "declared accounts" : "retried declared accounts", report.Summary(),
              absl::FormatDuration(clock_.Now() - started));

    mu_.Lock();
    if (full || !last_report_.has_value()) {
      last_report_ = report;
      backoff = options_.min_retry;
    } else {
      // A retry: those that now worked move from failed to what happened to them.
      last_report_->created += report.created;
      last_report_->updated += report.updated;
      last_report_->unchanged += report.unchanged;
      last_report_->pruned += report.pruned;
      last_report_->failures = report.failures;
    }
    ++passes_;
    failed = std::move(still_failed);
    if (failed.empty()) {
      retry_at = absl::InfiniteFuture();
      backoff = options_.min_retry;
    } else {
      retry_at = clock_.Now() + backoff;
      Logger("declared")
          ->info("retrying {} declared account(s) in {}", failed.size(),
                 absl::FormatDuration(backoff));
      backoff = std::min(backoff * 2, options_.max_retry);
    }
  }
  mu_.Unlock();
}

}  // namespace kcred::declared
