#include "daemon/rotation/schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kcred::rotation {
namespace {

// SplitMix64's finalizer: a fixed, well-mixed hash step, identical on every platform (unlike
// std::hash), so a given account's jitter does not change between builds or restarts.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t HashString(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

absl::Duration Scale(absl::Duration d, double factor) { return d * factor; }

absl::Time Clamp(absl::Time t, absl::Time lo, absl::Time hi) {
  if (hi < lo) return lo;
  return std::min(std::max(t, lo), hi);
}

ScheduleOptions Sanitized(ScheduleOptions options) {
  options.safety_margin = std::max(options.safety_margin, absl::ZeroDuration());
  options.safety_margin_fraction = std::clamp(options.safety_margin_fraction, 0.0, 0.5);
  options.backoff_initial = std::max(options.backoff_initial, absl::ZeroDuration());
  if (!(options.backoff_factor >= 1.0)) options.backoff_factor = 1.0;
  options.backoff_cap = std::max(options.backoff_cap, options.backoff_initial);
  options.default_limits.max_in_flight = std::max(options.default_limits.max_in_flight, 1);
  options.default_limits.burst = std::max(options.default_limits.burst, 1);
  if (!(options.default_limits.starts_per_second > 0)) {
    options.default_limits.starts_per_second = 1.0;
  }
  return options;
}

}  // namespace

Schedule::Schedule(ScheduleOptions options) : options_(Sanitized(std::move(options))) {}

absl::Status Schedule::Validate(const ScheduleOptions& options) {
  if (options.safety_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("rotation safety margin ",
                                                   absl::FormatDuration(options.safety_margin),
                                                   " is negative; use a duration >= 0"));
  }
  if (!(options.safety_margin_fraction >= 0 && options.safety_margin_fraction <= 0.5)) {
    return absl::InvalidArgumentError(absl::StrCat("rotation safety margin fraction ",
                                                   options.safety_margin_fraction,
                                                   " is outside [0, 0.5]"));
  }
  if (options.backoff_initial <= absl::ZeroDuration() ||
      options.backoff_cap < options.backoff_initial) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rotation backoff: initial delay ", absl::FormatDuration(options.backoff_initial),
        " must be > 0 and not above the cap ", absl::FormatDuration(options.backoff_cap)));
  }
  if (!(options.backoff_factor >= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation backoff factor ", options.backoff_factor, " must be >= 1"));
  }
  return Validate(options.default_limits);
}

absl::Status Schedule::Validate(const ClusterLimits& limits) {
  if (limits.max_in_flight < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation limit max_in_flight ", limits.max_in_flight, " must be >= 1"));
  }
  if (!(limits.starts_per_second > 0) || std::isinf(limits.starts_per_second)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rotation limit starts_per_second ", limits.starts_per_second, " must be > 0 and finite"));
  }
  if (limits.burst < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation limit burst ", limits.burst, " must be >= 1"));
  }
  return absl::OkStatus();
}

absl::Status Schedule::Validate(const ScheduleEntry& entry) {
  if (entry.key.empty()) {
    return absl::InvalidArgumentError("rotation entry has an empty account key");
  }
  if (entry.cluster.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation entry \"", entry.key, "\" has an empty cluster name"));
  }
  if (entry.expiry <= entry.issued) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rotation entry \"", entry.key, "\": token expiry ", absl::FormatTime(entry.expiry),
        " is not after its issue time ", absl::FormatTime(entry.issued)));
  }
  const RotationPolicy& p = entry.policy;
  if (p.interval.has_value()) {
    if (*p.interval <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("rotation entry \"", entry.key, "\": interval ",
                       absl::FormatDuration(*p.interval), " must be > 0"));
    }
  } else if (entry.expiry == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation entry \"", entry.key,
                     "\": the token never expires, so rotating at a fraction of its lifetime "
                     "is undefined; give it a rotation interval"));
  } else if (!(p.fraction > 0 && p.fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("rotation entry \"", entry.key, "\": fraction ",
                                                   p.fraction, " must be in (0, 1]"));
  }
  if (!(p.jitter >= 0 && p.jitter < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("rotation entry \"", entry.key, "\": jitter ",
                                                   p.jitter, " must be in [0, 1)"));
  }
  return absl::OkStatus();
}

double Schedule::Draw(const std::string& key, int64_t a, int64_t b) const {
  uint64_t h = Mix(options_.seed ^ HashString(key));
  h = Mix(h ^ static_cast<uint64_t>(a));
  h = Mix(h ^ static_cast<uint64_t>(b));
  return static_cast<double>(h >> 11) * 0x1.0p-53;  // 53 random bits -> [0, 1)
}

absl::Time Schedule::Latest(const ScheduleEntry& entry) const {
  absl::Duration ttl = entry.expiry - entry.issued;
  absl::Duration margin =
      std::min(options_.safety_margin, Scale(ttl, options_.safety_margin_fraction));
  return entry.expiry - margin;
}

absl::Time Schedule::Base(const ScheduleEntry& entry) const {
  absl::Duration ttl = entry.expiry - entry.issued;
  absl::Time base = entry.policy.interval.has_value()
                        ? entry.issued + *entry.policy.interval
                        : entry.issued + Scale(ttl, entry.policy.fraction);
  return std::min(base, Latest(entry));
}

absl::Time Schedule::DueTime(const ScheduleEntry& entry) const {
  absl::Time base = Base(entry);
  absl::Duration span =
      entry.expiry == absl::InfiniteFuture() ? base - entry.issued : entry.expiry - base;
  absl::Duration window = Scale(span, entry.policy.jitter);
  double u = Draw(entry.key, absl::ToUnixNanos(entry.issued), 0);  // per account, per token
  absl::Duration offset = Scale(window, 2 * u - 1);
  return Clamp(base + offset, entry.issued, Latest(entry));
}

absl::Duration Schedule::BackoffCeiling(int failures) const {
  absl::Duration ceiling = options_.backoff_initial;
  for (int i = 1; i < failures && ceiling < options_.backoff_cap; ++i) {
    ceiling = Scale(ceiling, options_.backoff_factor);
  }
  return std::min(ceiling, options_.backoff_cap);
}

absl::Time Schedule::RetryTime(const ScheduleEntry& entry, int failures, absl::Time now) const {
  double u = Draw(entry.key, absl::ToUnixNanos(entry.issued), failures);
  absl::Time retry = now + Scale(BackoffCeiling(failures), u);
  absl::Time latest = Latest(entry);
  // Retrying before the token runs out beats a long backoff; once past `latest` there is no
  // deadline left to protect, so the backoff applies in full.
  if (now < latest) retry = std::min(retry, latest);
  return retry;
}

Schedule::Cluster& Schedule::ClusterFor(const std::string& name) {
  auto [it, inserted] = clusters_.try_emplace(name);
  if (inserted) {
    it->second.limits = options_.default_limits;
    it->second.bucket.tokens = it->second.limits.burst;
  }
  return it->second;
}

void Schedule::Enqueue(State& state) {
  if (state.in_flight) return;
  ClusterFor(state.entry.cluster).queue.emplace(state.due, state.entry.key);
}

void Schedule::Dequeue(const State& state) {
  auto it = clusters_.find(state.entry.cluster);
  if (it != clusters_.end()) it->second.queue.erase({state.due, state.entry.key});
}

absl::Status Schedule::Upsert(const ScheduleEntry& entry) {
  if (absl::Status status = Validate(entry); !status.ok()) return status;
  auto it = entries_.find(entry.key);
  if (it == entries_.end()) {
    State& state = entries_[entry.key];
    state.entry = entry;
    state.due = DueTime(entry);
    // Re-added while the rotation of its previous incarnation still runs: that rotation's
    // Complete finishes this entry's turn, so it must not be handed out twice.
    state.in_flight = in_flight_.count(entry.key) > 0;
    Enqueue(state);
    return absl::OkStatus();
  }
  State& state = it->second;
  bool new_token = state.entry.issued != entry.issued || state.entry.expiry != entry.expiry;
  if (!new_token && state.entry.cluster == entry.cluster && state.entry.policy == entry.policy) {
    return absl::OkStatus();
  }
  Dequeue(state);
  state.entry = entry;
  if (new_token) {
    state.failures = 0;
    state.last_error = absl::OkStatus();
    state.last_error_time = absl::InfinitePast();
    state.due = DueTime(entry);
  } else if (state.failures == 0) {
    state.due = DueTime(entry);
  } else {
    // Keep the pending retry, but never later than the (possibly changed) planned rotation.
    state.due = std::min(state.due, DueTime(entry));
  }
  Enqueue(state);
  return absl::OkStatus();
}

absl::Status Schedule::Remove(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("rotation schedule has no account \"", key, "\""));
  }
  Dequeue(it->second);
  entries_.erase(it);
  return absl::OkStatus();
}

absl::Status Schedule::SetClusterLimits(const std::string& cluster, const ClusterLimits& limits) {
  if (absl::Status status = Validate(limits); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster \"", cluster, "\": ", status.message()));
  }
  Cluster& c = ClusterFor(cluster);
  c.limits = limits;
  c.bucket.tokens = std::min(c.bucket.tokens, static_cast<double>(limits.burst));
  return absl::OkStatus();
}

double Schedule::TokensAt(const Cluster& cluster, absl::Time now) const {
  const Bucket& b = cluster.bucket;
  if (b.last == absl::InfinitePast() || now <= b.last) return b.tokens;
  double refill = absl::ToDoubleSeconds(now - b.last) * cluster.limits.starts_per_second;
  return std::min(static_cast<double>(cluster.limits.burst), b.tokens + refill);
}

absl::Time Schedule::NextTokenTime(const Cluster& cluster, absl::Time not_before) const {
  const Bucket& b = cluster.bucket;
  if (b.tokens >= 1.0) return not_before;
  // Independent of `now`: the bucket fills at a fixed rate from its last update.
  absl::Time at = b.last + absl::Seconds((1.0 - b.tokens) / cluster.limits.starts_per_second) +
                  absl::Nanoseconds(1);
  return std::max(at, not_before);
}

absl::Time Schedule::NextDeadline() const {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [name, cluster] : clusters_) {
    if (cluster.queue.empty() || cluster.in_flight >= cluster.limits.max_in_flight) continue;
    absl::Time due = cluster.queue.begin()->first;
    next = std::min(next, NextTokenTime(cluster, due));
  }
  return next;
}

std::vector<RotationJob> Schedule::TakeDue(absl::Time now, size_t max_jobs) {
  // Candidates from every cluster, each within its own limits, then merged by due time so the
  // most overdue go first when `max_jobs` cuts the list.
  std::vector<std::pair<absl::Time, std::string>> candidates;
  for (auto& [name, cluster] : clusters_) {
    if (cluster.queue.empty() || cluster.queue.begin()->first > now) continue;
    int slots = cluster.limits.max_in_flight - cluster.in_flight;
    if (slots <= 0) continue;
    double tokens = TokensAt(cluster, now);
    // The tolerance absorbs rounding, so a bucket that NextDeadline said is ready really is.
    int allowed = std::min(slots, static_cast<int>(std::floor(tokens + 1e-6)));
    for (auto it = cluster.queue.begin();
         allowed > 0 && it != cluster.queue.end() && it->first <= now; ++it, --allowed) {
      candidates.push_back(*it);
    }
  }
  std::sort(candidates.begin(), candidates.end());
  if (candidates.size() > max_jobs) candidates.resize(max_jobs);

  std::vector<RotationJob> jobs;
  jobs.reserve(candidates.size());
  for (const auto& [due, key] : candidates) {
    State& state = entries_.at(key);
    Cluster& cluster = clusters_.at(state.entry.cluster);
    if (cluster.bucket.last != now) {
      cluster.bucket.tokens = TokensAt(cluster, now);
      cluster.bucket.last = std::max(cluster.bucket.last, now);
    }
    cluster.bucket.tokens -= 1.0;
    cluster.in_flight++;
    cluster.queue.erase({due, key});
    state.in_flight = true;
    in_flight_[key] = state.entry.cluster;
    jobs.push_back(RotationJob{key, state.entry.cluster, due, state.failures});
  }
  return jobs;
}

void Schedule::ReleaseSlot(const std::string& key) {
  auto it = in_flight_.find(key);
  auto cluster = clusters_.find(it->second);
  if (cluster != clusters_.end()) cluster->second.in_flight--;
  in_flight_.erase(it);
}

absl::Status Schedule::Complete(const std::string& key, const absl::StatusOr<TokenTimes>& result,
                                absl::Time now) {
  if (in_flight_.find(key) == in_flight_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("rotation of \"", key, "\" completed but it was not in flight"));
  }
  ReleaseSlot(key);
  auto it = entries_.find(key);
  if (it == entries_.end()) return absl::OkStatus();  // removed meanwhile
  State& state = it->second;
  state.in_flight = false;

  absl::Status error = result.status();
  if (result.ok() && result->expiry <= result->issued) {
    error = absl::InternalError(
        absl::StrCat("rotation of \"", key, "\" returned a token whose expiry ",
                     absl::FormatTime(result->expiry), " is not after its issue time ",
                     absl::FormatTime(result->issued)));
  }
  if (error.ok()) {
    state.entry.issued = result->issued;
    state.entry.expiry = result->expiry;
    state.failures = 0;
    state.last_error = absl::OkStatus();
    state.last_error_time = absl::InfinitePast();
    state.rotations++;
    state.due = DueTime(state.entry);
  } else {
    state.failures++;
    state.last_error = error;
    state.last_error_time = now;
    state.due = RetryTime(state.entry, state.failures, now);
  }
  Enqueue(state);
  return absl::OkStatus();
}

absl::Status Schedule::Release(const std::string& key) {
  if (in_flight_.find(key) == in_flight_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("rotation of \"", key, "\" released but it was not in flight"));
  }
  ReleaseSlot(key);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->second.in_flight = false;
    Enqueue(it->second);
  }
  return absl::OkStatus();
}

std::optional<EntryStatus> Schedule::Get(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  const State& s = it->second;
  EntryStatus status;
  status.entry = s.entry;
  status.next_rotation = s.due;
  status.latest = Latest(s.entry);
  status.in_flight = s.in_flight;
  status.consecutive_failures = s.failures;
  status.last_error = s.last_error;
  status.last_error_time = s.last_error_time;
  status.rotations = s.rotations;
  return status;
}

int Schedule::InFlight(const std::string& cluster) const {
  auto it = clusters_.find(cluster);
  return it == clusters_.end() ? 0 : it->second.in_flight;
}

}  // namespace kcred::rotation
