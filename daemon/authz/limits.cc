#include "daemon/authz/limits.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kcred::authz {
namespace {

// Buckets of callers that stopped reading are dropped once there are this many, so the map stays
// bounded by the callers of the last few seconds, not of the process's life.
constexpr size_t kMaxIdleBuckets = 1024;

}  // namespace

CallLimits::CallLimits(Clock& clock, config::LimitsConfig limits)
    : clock_(clock), limits_(std::move(limits)) {}

CallLimits::Slot::Slot(CallLimits* limits, Kind kind, std::string caller)
    : limits_(limits), kind_(kind), caller_(std::move(caller)) {}

CallLimits::Slot::Slot(Slot&& other) noexcept
    : limits_(std::exchange(other.limits_, nullptr)),
      kind_(other.kind_),
      caller_(std::move(other.caller_)) {}

CallLimits::Slot::~Slot() {
  if (limits_ != nullptr) limits_->Release(kind_, caller_);
}

absl::StatusOr<CallLimits::Slot> CallLimits::EnterCall(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  int& count = calls_[caller];
  if (count >= limits_.calls_per_caller) {
    return absl::ResourceExhaustedError(absl::StrCat(
        caller, " already has ", count,
        " calls in flight, the most kcredd's limits.calls_per_caller allows; wait for them to "
        "finish (or raise the limit)"));
  }
  ++count;
  return Slot(this, Slot::Kind::kCall, caller);
}

absl::StatusOr<CallLimits::Slot> CallLimits::EnterWatch(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  int& count = watches_[caller];
  if (count >= limits_.watches_per_caller) {
    return absl::ResourceExhaustedError(absl::StrCat(
        caller, " already has ", count,
        " WatchAccounts streams open, the most kcredd's limits.watches_per_caller allows; close "
        "some (one stream can watch many accounts) or raise the limit"));
  }
  if (watches_total_ >= limits_.watches_total) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "kcredd already serves ", watches_total_,
        " WatchAccounts streams, the most its limits.watches_total allows; retry later"));
  }
  ++count;
  ++watches_total_;
  return Slot(this, Slot::Kind::kWatch, caller);
}

absl::Status CallLimits::TakeSecretRead(const std::string& caller) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  const double rate = limits_.secret_reads_per_second;
  const double burst = limits_.secret_reads_burst;
  if (buckets_.size() >= kMaxIdleBuckets && buckets_.count(caller) == 0) {
    // A bucket that has refilled completely holds no state worth keeping.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      const double refilled =
          it->second.tokens + absl::ToDoubleSeconds(now - it->second.last) * rate;
      it = refilled >= burst ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, created] = buckets_.try_emplace(caller, Bucket{burst, now});
  Bucket& bucket = it->second;
  if (!created) {
    bucket.tokens =
        std::min(burst, bucket.tokens + absl::ToDoubleSeconds(now - bucket.last) * rate);
    bucket.last = now;
  }
  if (bucket.tokens < 1) {
    const absl::Duration wait = absl::Seconds((1 - bucket.tokens) / rate);
    return absl::ResourceExhaustedError(absl::StrCat(
        caller, " reads credentials faster than kcredd's limits.secret_reads_per_second (", rate,
        "/s, burst ", limits_.secret_reads_burst, ") allows; retry in ",
        absl::FormatDuration(absl::Ceil(wait, absl::Milliseconds(1))),
        " (kcred token caches tokens; kcred watch -o FILE keeps a file fresh)"));
  }
  bucket.tokens -= 1;
  return absl::OkStatus();
}

void CallLimits::Reconfigure(const config::LimitsConfig& limits) {
  absl::MutexLock lock(&mu_);
  limits_ = limits;
}

int CallLimits::watches() const {
  absl::MutexLock lock(&mu_);
  return watches_total_;
}

void CallLimits::Release(Slot::Kind kind, const std::string& caller) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int>& counts = kind == Slot::Kind::kCall ? calls_ : watches_;
  auto it = counts.find(caller);
  if (it == counts.end()) return;
  if (--it->second <= 0) counts.erase(it);
  if (kind == Slot::Kind::kWatch) --watches_total_;
}

}  // namespace kcred::authz
