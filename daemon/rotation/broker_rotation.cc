#include "daemon/rotation/broker_rotation.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace kcred::rotation {
namespace {

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::StatusOr<v1::AccountRef> RefOf(const std::string& key) {
  std::vector<std::string> parts = absl::StrSplit(key, '/');
  if (parts.size() != 3) return absl::InvalidArgumentError(absl::StrCat("bad account key ", key));
  v1::AccountRef ref;
  ref.set_cluster(parts[0]);
  ref.set_namespace_(parts[1]);
  ref.set_name(parts[2]);
  return ref;
}

}  // namespace

Revoker::Revoker(Clock& clock, broker::Broker& broker) : clock_(clock), broker_(broker) {
  thread_ = std::thread([this] { Run(); });
}

Revoker::~Revoker() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void Revoker::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void Revoker::Run() {
  auto log = Logger("rotation");
  absl::Duration retry = absl::Seconds(1);
  for (;;) {
    absl::Time wake = absl::InfiniteFuture();
    auto next = broker_.RevokeDue();
    if (!next.ok()) {
      // Failed revocations stay pending; try again with a growing delay.
      if (!absl::IsCancelled(next.status())) {
        log->warn("revoking previous tokens: {}; retrying in {}", next.status().message(),
                  absl::FormatDuration(retry));
      }
      wake = clock_.Now() + retry;
      retry = std::min(retry * 2, absl::Minutes(5));
    } else {
      retry = absl::Seconds(1);
      if (next->has_value()) wake = **next;
    }
    absl::MutexLock lock(&mu_);
    auto signalled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || woken_; };
    clock_.WaitUntil(&mu_, absl::Condition(&signalled), wake);
    if (stop_) return;
    woken_ = false;
  }
}

OrphanSweeper::OrphanSweeper(Clock& clock, broker::Broker& broker, absl::Duration sweep_again_after)
    : clock_(clock), broker_(broker) {
  thread_ = std::thread([this, sweep_again_after] { Run(sweep_again_after); });
}

OrphanSweeper::~OrphanSweeper() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

int OrphanSweeper::sweeps() const {
  absl::MutexLock lock(&mu_);
  return sweeps_;
}

void OrphanSweeper::Run(absl::Duration sweep_again_after) {
  auto log = Logger("rotation");
  const absl::Time second = clock_.Now() + sweep_again_after;
  for (absl::Time due : {clock_.Now(), second}) {
    {
      absl::MutexLock lock(&mu_);
      clock_.WaitUntil(&mu_, absl::Condition(&stop_), due);
      if (stop_) return;
    }
    auto swept = broker_.SweepOrphans();
    if (!swept.ok()) {
      log->warn("sweeping orphaned token Secrets: {}", swept.status().message());
    } else if (*swept > 0) {
      log->info("deleted {} orphaned token Secret(s) left by an interrupted rotation", *swept);
    }
    absl::MutexLock lock(&mu_);
    ++sweeps_;
    if (absl::IsCancelled(swept.status())) return;
  }
}

BrokerRotation::BrokerRotation(broker::Broker& broker, config::TokenDefaults defaults,
                               Revoker* revoker)
    : broker_(broker), defaults_(std::move(defaults)), revoker_(revoker) {}

std::string BrokerRotation::KeyOf(const v1::AccountRef& ref) {
  return absl::StrCat(ref.cluster(), "/", ref.namespace_(), "/", ref.name());
}

std::optional<ScheduleEntry> BrokerRotation::EntryFor(const v1::Account& account,
                                                      const config::TokenDefaults& defaults) {
  const v1::AccountStatus& status = account.status();
  if (status.generation() == 0 || !status.has_issue_time()) return std::nullopt;
  ScheduleEntry entry;
  entry.key = KeyOf(account.ref());
  entry.cluster = account.ref().cluster();
  entry.issued = FromProto(status.issue_time());
  entry.expiry =
      status.has_expire_time() ? FromProto(status.expire_time()) : absl::InfiniteFuture();
  const v1::TokenPolicy& token = account.spec().token();
  entry.policy.fraction = defaults.rotate_fraction;
  if (token.rotate_at_case() == v1::TokenPolicy::kRotateFraction) {
    entry.policy.fraction = token.rotate_fraction();
  } else if (token.rotate_at_case() == v1::TokenPolicy::kRotateInterval) {
    entry.policy.interval = FromProto(token.rotate_interval());
  }
  if (entry.expiry == absl::InfiniteFuture() && !entry.policy.interval) {
    // Legacy tokens never expire: rotate them as often as a bound token of the same ttl would be.
    const absl::Duration ttl = token.has_ttl() ? FromProto(token.ttl()) : defaults.ttl;
    entry.policy.interval = ttl * entry.policy.fraction;
  }
  return entry;
}

absl::StatusOr<int> BrokerRotation::Seed() {
  int scheduled = 0;
  auto accounts = broker_.AllAccounts();
  if (!accounts.ok()) return accounts.status();
  for (const v1::Account& account : *accounts) {
    if (auto entry = EntryFor(account, defaults_)) {
      if (auto s = scheduler_->Upsert(*entry); s.ok()) {
        ++scheduled;
      } else {
        Logger("rotation")->warn("cannot schedule {}: {}", entry->key, s.message());
      }
    }
  }
  return scheduled;
}

absl::StatusOr<RotationOutcome> BrokerRotation::Rotate(const std::string& key) {
  auto ref = RefOf(key);
  if (!ref.ok()) return ref.status();
  v1::RotateTokenRequest request;
  *request.mutable_ref() = *ref;
  request.set_reason("scheduled");
  auto rotated = broker_.RotateToken(request, v1::ORIGIN_UNSPECIFIED);  // the schedule
  if (!rotated.ok()) return rotated.status();
  const v1::AccountStatus& status = rotated->account().status();
  RotationOutcome outcome;
  outcome.issued = FromProto(status.issue_time());
  outcome.expiry =
      status.has_expire_time() ? FromProto(status.expire_time()) : absl::InfiniteFuture();
  return outcome;
}

void BrokerRotation::OnRotation(const RotationReport& report) {
  auto log = Logger("rotation");
  const std::string next =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", report.next_rotation, absl::UTCTimeZone());
  if (!report.status.ok()) {
    log->warn("rotation of {} failed (attempt {}, {} in a row) after {}: {}; retry at {}",
              report.key, report.attempt + 1, report.consecutive_failures,
              absl::FormatDuration(report.duration), report.status.message(), next);
    if (auto ref = RefOf(report.key); ref.ok()) {
      broker_.NoteRotationRetry(*ref, report.next_rotation);
    }
    return;
  }
  if (report.attempt > 0) {
    if (auto ref = RefOf(report.key); ref.ok()) {
      broker_.NoteRotationRetry(*ref, absl::InfinitePast());
    }
  }
  if (revoker_ != nullptr) revoker_->Wake();
  std::string generation = "?", fingerprint = "?";
  if (auto ref = RefOf(report.key); ref.ok()) {
    if (auto account = broker_.GetAccount(*ref); account.ok()) {
      generation = absl::StrCat(account->status().generation());
      fingerprint = account->status().token_fingerprint();
    }
  }
  log->info("rotated {} to generation {} ({}) in {}; next rotation at {}", report.key, generation,
            fingerprint, absl::FormatDuration(report.duration), next);
}

void BrokerRotation::AccountChanged(const v1::Account& account) {
  if (revoker_ != nullptr) revoker_->Wake();
  if (scheduler_ == nullptr) return;
  if (auto entry = EntryFor(account, defaults_)) {
    if (auto s = scheduler_->Upsert(*entry); !s.ok()) {
      Logger("rotation")->warn("cannot schedule {}: {}", entry->key, s.message());
    }
  }
}

void BrokerRotation::AccountDeleted(const v1::AccountRef& ref) {
  if (scheduler_ == nullptr) return;
  (void)scheduler_->Remove(KeyOf(ref));  // NOT_FOUND when it was never scheduled: nothing to do
}

ClusterLimits LimitsFor(const config::ClusterConfig& cluster) {
  ClusterLimits limits;
  limits.max_in_flight = std::clamp(cluster.burst / 4, 2, 16);
  limits.starts_per_second = std::max(0.25, cluster.qps / 4);
  limits.burst = std::max(1, cluster.burst / 4);
  return limits;
}

}  // namespace kcred::rotation
