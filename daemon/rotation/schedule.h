#pragma once
// The deterministic core of the rotation engine: when each account's token is due for rotation,
// which rotations may start now, and what happens after one succeeds or fails. It holds no threads
// and never reads a clock (every time comes in as an argument), so tests can drive days of
// rotations in milliseconds. The threaded runner around it is Scheduler (scheduler.h).
//
// Timing of one token (issued I, expiry E, ttl = E - I):
//   base     = I + fraction x ttl, or I + interval for a fixed-interval policy
//   margin   = min(safety_margin, safety_margin_fraction x ttl)
//   latest   = E - margin                      (a rotation is never planned after this)
//   due      = clamp(base + offset, I, latest), offset in [-jitter, +jitter] x (E - base),
// where offset is a pseudo-random function of (seed, account key, issued time): the same account
// and token always get the same offset, different accounts spread out.
// A token that never expires (E = InfiniteFuture, e.g. a legacy Secret token) needs an interval
// policy; its jitter spreads +-jitter x interval and no margin applies.
//
// After a failed rotation, attempt n (n = consecutive failures so far) is retried after a delay
// drawn uniformly from [0, min(backoff_cap, backoff_initial x backoff_factor^(n-1))] ("full
// jitter"), but not later than `latest` while that is still ahead.
//
// Starts are limited per cluster: at most max_in_flight rotations running at once, and a token
// bucket of starts_per_second with `burst`. A cluster at its limits holds back only its own
// accounts. Due jobs are handed out earliest-due first, so after an outage the most overdue
// accounts go first and the rest follow at the bucket's rate.
//
// Thread safety: none; callers serialize access (Scheduler holds it under its mutex).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kcred::rotation {

// When an account's token is rotated. Either a fraction of the token's lifetime or a fixed
// interval after issue (interval set); jitter spreads the due time (see the file comment).
struct RotationPolicy {
  double fraction = 0.8;                   // in (0, 1]
  std::optional<absl::Duration> interval;  // > 0 when set; wins over fraction
  double jitter = 0.1;                     // in [0, 1)

  bool operator==(const RotationPolicy& other) const {
    return fraction == other.fraction && interval == other.interval && jitter == other.jitter;
  }
  bool operator!=(const RotationPolicy& other) const { return !(*this == other); }
};

// One account as the schedule sees it: its current token's lifetime and its policy.
struct ScheduleEntry {
  std::string key;      // unique account key, e.g. "cluster/namespace/name"
  std::string cluster;  // limits apply per cluster
  absl::Time issued;
  absl::Time expiry;  // > issued; InfiniteFuture for a token that never expires
  RotationPolicy policy;
};

// The lifetime of a freshly issued token, reported by a successful rotation.
struct TokenTimes {
  absl::Time issued;
  absl::Time expiry;
};

// Per-cluster limits on rotation starts.
struct ClusterLimits {
  int max_in_flight = 4;           // >= 1
  double starts_per_second = 5.0;  // > 0
  int burst = 5;                   // >= 1
};

struct ScheduleOptions {
  // Rotations are planned at least min(safety_margin, safety_margin_fraction x ttl) before
  // expiry, so short tokens keep most of their lifetime and long ones a fixed minute.
  absl::Duration safety_margin = absl::Minutes(1);
  double safety_margin_fraction = 0.05;  // in [0, 0.5]
  // Retry delays after failures: full jitter below initial x factor^(n-1), capped.
  absl::Duration backoff_initial = absl::Seconds(1);  // > 0
  double backoff_factor = 2.0;                        // >= 1
  absl::Duration backoff_cap = absl::Minutes(5);      // >= backoff_initial
  // Limits of clusters without SetClusterLimits.
  ClusterLimits default_limits;
  uint64_t seed = 0;  // mixed into every jitter draw
};

// A rotation that may start now. The caller runs it and reports back with Complete (or Release).
struct RotationJob {
  std::string key;
  std::string cluster;
  absl::Time due;
  int attempt = 0;  // 0 for the scheduled rotation, n for the n-th retry after failures
};

// What the schedule knows about one account, for status reports (`kcred get`, Degraded).
struct EntryStatus {
  ScheduleEntry entry;
  absl::Time next_rotation;  // when the next rotation (or retry) is due
  absl::Time latest;         // expiry minus the safety margin
  bool in_flight = false;    // handed out by TakeDue and not completed yet
  int consecutive_failures = 0;
  absl::Status last_error;                            // OK after a success, else the last failure
  absl::Time last_error_time = absl::InfinitePast();  // when last_error happened
  int64_t rotations = 0;  // successful rotations since the entry was added
};

class Schedule {
 public:
  // Options are validated by Validate(); the constructor clamps nonsensical values (negative
  // durations to zero, factor to >= 1) so a Schedule is always usable.
  explicit Schedule(ScheduleOptions options = {});

  // INVALID_ARGUMENT, naming the bad field, when `options` is unusable.
  static absl::Status Validate(const ScheduleOptions& options);
  static absl::Status Validate(const ClusterLimits& limits);
  static absl::Status Validate(const ScheduleEntry& entry);

  // Adds an account or updates it. A new account, or a new token (issued/expiry changed), is
  // scheduled from that token and its failure record cleared. A changed policy or cluster alone
  // reschedules from the current token but keeps a pending retry. Unchanged entries are left
  // alone. An entry in flight stays in flight. INVALID_ARGUMENT (and no change) for a bad entry.
  absl::Status Upsert(const ScheduleEntry& entry);

  // Forgets an account. NOT_FOUND when unknown. If it is in flight, its cluster slot stays taken
  // until Complete or Release is called for it.
  absl::Status Remove(const std::string& key);

  // Sets the limits of `cluster` (others keep theirs or the defaults). A lower max_in_flight does
  // not cancel running rotations. INVALID_ARGUMENT for bad limits.
  absl::Status SetClusterLimits(const std::string& cluster, const ClusterLimits& limits);

  // The earliest time at which TakeDue can hand out a job: the earliest due entry of each cluster
  // with a free slot, but no sooner than its token bucket allows. InfiniteFuture when nothing can
  // start without a Complete, Release or Upsert first (all idle or all clusters saturated).
  absl::Time NextDeadline() const;

  // Marks due jobs (due <= now) in flight and returns them, earliest due first, at most
  // `max_jobs`, within every cluster's concurrency limit and token bucket.
  std::vector<RotationJob> TakeDue(absl::Time now, size_t max_jobs = SIZE_MAX);

  // Reports the end of a job handed out by TakeDue. On success `result` holds the new token's
  // times: the account is rescheduled from it and its failure record cleared. On failure the
  // error is recorded and a retry scheduled with backoff. A success whose times are invalid
  // (expiry not after issued) counts as a failure. FAILED_PRECONDITION when `key` is not in
  // flight. For an account removed while in flight, only its slot is released.
  absl::Status Complete(const std::string& key, const absl::StatusOr<TokenTimes>& result,
                        absl::Time now);

  // Returns a job handed out by TakeDue that was never started (e.g. on shutdown): the account
  // keeps its due time and failure record. FAILED_PRECONDITION when `key` is not in flight.
  absl::Status Release(const std::string& key);

  // The status of one account; nullopt when unknown.
  std::optional<EntryStatus> Get(const std::string& key) const;

  size_t size() const { return entries_.size(); }
  // Rotations in flight in `cluster` (including accounts removed meanwhile).
  int InFlight(const std::string& cluster) const;

  // The pure timing functions, exposed for tests and status reports.
  absl::Time Latest(const ScheduleEntry& entry) const;
  absl::Time Base(const ScheduleEntry& entry) const;
  absl::Time DueTime(const ScheduleEntry& entry) const;
  // The retry time after the `failures`-th consecutive failure at `now`.
  absl::Time RetryTime(const ScheduleEntry& entry, int failures, absl::Time now) const;
  // The upper bound of the backoff delay after the `failures`-th consecutive failure (>= 1).
  absl::Duration BackoffCeiling(int failures) const;

 private:
  struct State {
    ScheduleEntry entry;
    absl::Time due;
    bool in_flight = false;
    int failures = 0;
    absl::Status last_error;
    absl::Time last_error_time = absl::InfinitePast();
    int64_t rotations = 0;
  };
  struct Bucket {
    double tokens = 0;
    absl::Time last = absl::InfinitePast();
  };
  struct Cluster {
    ClusterLimits limits;
    int in_flight = 0;
    Bucket bucket;
    std::set<std::pair<absl::Time, std::string>> queue;  // (due, key) of entries not in flight
  };

  // A pseudo-random number in [0, 1) from the seed, the key and two more numbers.
  double Draw(const std::string& key, int64_t a, int64_t b) const;
  Cluster& ClusterFor(const std::string& name);
  // Tokens in the bucket at `now`, without changing it.
  double TokensAt(const Cluster& cluster, absl::Time now) const;
  // The earliest time, not before `not_before`, at which the bucket holds a whole token.
  absl::Time NextTokenTime(const Cluster& cluster, absl::Time not_before) const;
  void Enqueue(State& state);
  void Dequeue(const State& state);
  void ReleaseSlot(const std::string& key);

  ScheduleOptions options_;
  std::map<std::string, State> entries_;
  std::map<std::string, Cluster> clusters_;
  std::map<std::string, std::string> in_flight_;  // key -> cluster whose slot it holds
};

}  // namespace kcred::rotation
