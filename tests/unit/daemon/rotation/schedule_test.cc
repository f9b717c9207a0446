#include "daemon/rotation/schedule.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kcred::rotation {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01

ScheduleEntry Entry(const std::string& key, const std::string& cluster, absl::Time issued,
                    absl::Duration ttl, RotationPolicy policy = {}) {
  return ScheduleEntry{key, cluster, issued, issued + ttl, policy};
}

RotationPolicy Fraction(double fraction, double jitter) {
  RotationPolicy p;
  p.fraction = fraction;
  p.jitter = jitter;
  return p;
}

RotationPolicy Interval(absl::Duration interval, double jitter) {
  RotationPolicy p;
  p.interval = interval;
  p.jitter = jitter;
  return p;
}

absl::StatusOr<TokenTimes> Fresh(absl::Time now, absl::Duration ttl) {
  return TokenTimes{now, now + ttl};
}

std::vector<std::string> Keys(const std::vector<RotationJob>& jobs) {
  std::vector<std::string> keys;
  for (const RotationJob& job : jobs) keys.push_back(job.key);
  return keys;
}

// The due time is issued + fraction x ttl, spread by at most jitter x (expiry - base), and never
// past expiry minus the safety margin; the same token always gets the same time.
TEST(ScheduleTest, DueTimeFollowsFractionJitterAndMargin) {
  Schedule schedule;
  ScheduleEntry exact = Entry("c/ns/exact", "c", kStart, absl::Hours(1), Fraction(0.8, 0));
  EXPECT_EQ(schedule.DueTime(exact), kStart + absl::Minutes(48));

  std::set<absl::Time> distinct;
  for (int i = 0; i < 100; ++i) {
    ScheduleEntry e =
        Entry(absl::StrCat("c/ns/a", i), "c", kStart, absl::Hours(10), Fraction(0.8, 0.5));
    absl::Time due = schedule.DueTime(e);
    EXPECT_GE(due, kStart + absl::Hours(8) - absl::Hours(1));  // 0.5 x (10h - 8h)
    EXPECT_LE(due, kStart + absl::Hours(9));
    EXPECT_LE(due, schedule.Latest(e));
    EXPECT_EQ(due, schedule.DueTime(e));
    distinct.insert(due);
  }
  EXPECT_GT(distinct.size(), 90u) << "jitter must spread accounts apart";

  // A new token of the same account gets a different draw.
  ScheduleEntry a = Entry("c/ns/x", "c", kStart, absl::Hours(10), Fraction(0.8, 0.5));
  ScheduleEntry b =
      Entry("c/ns/x", "c", kStart + absl::Seconds(1), absl::Hours(10), Fraction(0.8, 0.5));
  EXPECT_NE(schedule.DueTime(a) - a.issued, schedule.DueTime(b) - b.issued);

  // fraction 1 would rotate at expiry: the margin (min(1m, 5% ttl)) pulls it in.
  ScheduleEntry late = Entry("c/ns/late", "c", kStart, absl::Minutes(10), Fraction(1.0, 0));
  EXPECT_EQ(schedule.Latest(late), kStart + absl::Minutes(10) - absl::Seconds(30));
  EXPECT_EQ(schedule.DueTime(late), schedule.Latest(late));
  ScheduleEntry day = Entry("c/ns/day", "c", kStart, absl::Hours(24), Fraction(1.0, 0));
  EXPECT_EQ(schedule.DueTime(day), kStart + absl::Hours(24) - absl::Minutes(1));
}

// A fixed interval wins over the fraction; an interval longer than the token is cut to the margin.
TEST(ScheduleTest, IntervalPolicy) {
  Schedule schedule;
  EXPECT_EQ(schedule.DueTime(Entry("k", "c", kStart, absl::Hours(24), Interval(absl::Hours(1), 0))),
            kStart + absl::Hours(1));
  ScheduleEntry too_long = Entry("k", "c", kStart, absl::Hours(1), Interval(absl::Hours(3), 0));
  EXPECT_EQ(schedule.Base(too_long), kStart + absl::Minutes(59));
  EXPECT_EQ(schedule.DueTime(too_long), kStart + absl::Minutes(59));
  // With jitter the clamped point only moves earlier: 0.3 x (expiry - base) = 18s.
  too_long.policy.jitter = 0.3;
  for (int i = 0; i < 20; ++i) {
    too_long.key = absl::StrCat("k", i);
    EXPECT_LE(schedule.DueTime(too_long), kStart + absl::Minutes(59));
    EXPECT_GE(schedule.DueTime(too_long), kStart + absl::Minutes(59) - absl::Seconds(18));
  }
}

// A token without expiry (legacy) rotates on its interval, spread by jitter x interval; a
// fraction of an endless lifetime is refused.
TEST(ScheduleTest, TokenWithoutExpiryNeedsAnInterval) {
  Schedule schedule;
  ScheduleEntry legacy{"c/ns/legacy", "c", kStart, absl::InfiniteFuture(),
                       Interval(absl::Hours(24), 0.1)};
  ASSERT_TRUE(schedule.Upsert(legacy).ok());
  absl::Time due = schedule.Get(legacy.key)->next_rotation;
  EXPECT_GE(due, kStart + absl::Hours(24) - absl::Minutes(144));
  EXPECT_LE(due, kStart + absl::Hours(24) + absl::Minutes(144));
  EXPECT_EQ(schedule.Latest(legacy), absl::InfiniteFuture());

  // Failures back off in full: there is no expiry to protect.
  ASSERT_EQ(schedule.TakeDue(due).size(), 1u);
  ASSERT_TRUE(schedule.Complete(legacy.key, absl::UnavailableError("down"), due).ok());
  EXPECT_LE(schedule.Get(legacy.key)->next_rotation, due + absl::Seconds(1));

  legacy.key = "c/ns/fraction";
  legacy.policy = Fraction(0.8, 0);
  absl::Status status = schedule.Upsert(legacy);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("never expires"));
}

// Invalid entries, limits and options are refused with a message naming the problem.
TEST(ScheduleTest, ValidationNamesTheProblem) {
  Schedule schedule;
  absl::Status status = schedule.Upsert(Entry("c/ns/a", "c", kStart, -absl::Hours(1)));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("c/ns/a"));
  EXPECT_THAT(status.message(), HasSubstr("not after"));
  EXPECT_EQ(schedule.size(), 0u);
  EXPECT_THAT(schedule.Upsert(Entry("k", "c", kStart, absl::Hours(1), Fraction(0, 0))).message(),
              HasSubstr("fraction 0"));
  EXPECT_THAT(
      schedule.Upsert(Entry("k", "c", kStart, absl::Hours(1), Fraction(0.8, 1.5))).message(),
      HasSubstr("jitter 1.5"));
  EXPECT_THAT(schedule.Upsert(Entry("k", "", kStart, absl::Hours(1))).message(),
              HasSubstr("empty cluster"));
  EXPECT_THAT(
      schedule.Upsert(Entry("k", "c", kStart, absl::Hours(1), Interval(absl::ZeroDuration(), 0)))
          .message(),
      HasSubstr("interval 0 must be > 0"));
  EXPECT_THAT(schedule.SetClusterLimits("prod", ClusterLimits{0, 1, 1}).message(),
              HasSubstr("cluster \"prod\": rotation limit max_in_flight 0"));
  EXPECT_THAT(schedule.SetClusterLimits("prod", ClusterLimits{1, 0, 1}).message(),
              HasSubstr("starts_per_second"));
  ScheduleOptions options;
  options.backoff_factor = 0.5;
  EXPECT_THAT(Schedule::Validate(options).message(), HasSubstr("factor 0.5"));
  EXPECT_TRUE(Schedule::Validate(ScheduleOptions{}).ok());
}

// 1,000 accounts with lifetimes from 10 minutes to 24 hours and assorted policies, driven through
// three simulated days: every rotation starts at its due time, the due time lies within the
// jitter around the policy's point, and no token is ever used past its expiry.
TEST(ScheduleTest, ThousandAccountsRotateOnTimeForThreeDays) {
  ScheduleOptions options;
  options.seed = 42;
  Schedule schedule(options);
  for (int c = 0; c < 10; ++c) {
    ASSERT_TRUE(schedule.SetClusterLimits(absl::StrCat("cluster", c), {20, 100, 50}).ok());
  }
  std::map<std::string, absl::Duration> ttl;
  for (int i = 0; i < 1000; ++i) {
    std::string key = absl::StrCat("cluster", i % 10, "/ns/account", i);
    absl::Duration lifetime = absl::Minutes(10) + absl::Minutes((i * 7919) % (24 * 60 - 10 + 1));
    RotationPolicy policy;
    switch (i % 5) {
      case 0:
        policy = Fraction(0.8, 0.1);
        break;
      case 1:
        policy = Fraction(0.5, 0.3);
        break;
      case 2:
        policy = Fraction(0.95, 0.05);
        break;
      case 3:
        policy = Interval(lifetime / 3, 0.2);
        break;
      case 4:
        policy = Interval(lifetime * 2, 0.1);
        break;  // longer than the token: clamped
    }
    ttl[key] = lifetime;
    // Tokens were issued at various points before the start, none expired yet.
    absl::Time issued = kStart - absl::Seconds((i * 104729) % 60);
    ASSERT_TRUE(
        schedule.Upsert(Entry(key, absl::StrCat("cluster", i % 10), issued, lifetime, policy))
            .ok());
  }

  const absl::Time end = kStart + absl::Hours(72);
  absl::Time now = kStart;
  std::map<std::string, int> rotations;
  int64_t total = 0;
  std::set<int64_t> offsets;  // relative jitter offsets seen, in milliseconds
  while (true) {
    absl::Time next = schedule.NextDeadline();
    ASSERT_NE(next, absl::InfiniteFuture());
    if (next > end) break;
    ASSERT_GE(next, now) << "deadlines never go back in time";
    now = next;
    std::vector<RotationJob> jobs = schedule.TakeDue(now);
    ASSERT_FALSE(jobs.empty()) << "NextDeadline promised a job at " << now;
    for (const RotationJob& job : jobs) {
      EntryStatus status = *schedule.Get(job.key);
      const ScheduleEntry& e = status.entry;
      absl::Time base = schedule.Base(e);
      absl::Duration window = (e.expiry - base) * e.policy.jitter;
      ASSERT_EQ(job.attempt, 0);
      ASSERT_GE(now, job.due);
      ASSERT_LE(now - job.due, absl::Seconds(1)) << job.key << " started late";
      ASSERT_GE(job.due, base - window - absl::Nanoseconds(1)) << job.key;
      ASSERT_LE(job.due, base + window + absl::Nanoseconds(1)) << job.key;
      ASSERT_LE(job.due, status.latest) << job.key;
      ASSERT_LT(now, e.expiry) << job.key << " rotated after its token expired";
      ASSERT_TRUE(status.in_flight);
      if (window > absl::ZeroDuration()) {
        offsets.insert(absl::ToInt64Milliseconds(job.due - base) * 1000 /
                       std::max<int64_t>(1, absl::ToInt64Milliseconds(window)));
      }
      ASSERT_TRUE(schedule.Complete(job.key, Fresh(now, ttl[job.key]), now).ok());
      rotations[job.key]++;
      total++;
    }
  }
  ASSERT_EQ(rotations.size(), 1000u) << "every account rotated";
  for (const auto& [key, lifetime] : ttl) {
    // A token lasts `lifetime` and is always replaced before it expires, so in 72 hours there
    // were at least 72h / lifetime rotations.
    EXPECT_GE(rotations[key], static_cast<int>(absl::Hours(72) / lifetime)) << key;
    EXPECT_EQ(schedule.Get(key)->rotations, rotations[key]);
  }
  EXPECT_GT(total, 10000);
  EXPECT_GT(offsets.size(), 500u) << "offsets spread over the jitter window";
  EXPECT_LT(*offsets.begin(), -900);
  EXPECT_GT(*offsets.rbegin(), 900);
}

// After consecutive failures the retry delays are full-jitter draws below 1s, 2s, 4s, ... capped
// at 5m; they are deterministic for the same account and token; a success clears the record.
TEST(ScheduleTest, BackoffSequenceAfterConsecutiveFailures) {
  Schedule schedule;
  EXPECT_THAT(
      std::vector<absl::Duration>({schedule.BackoffCeiling(1), schedule.BackoffCeiling(2),
                                   schedule.BackoffCeiling(3), schedule.BackoffCeiling(9),
                                   schedule.BackoffCeiling(10), schedule.BackoffCeiling(50)}),
      ElementsAre(absl::Seconds(1), absl::Seconds(2), absl::Seconds(4), absl::Seconds(256),
                  absl::Minutes(5), absl::Minutes(5)));

  auto run = [](Schedule& s) {
    EXPECT_TRUE(s.SetClusterLimits("c", ClusterLimits{4, 1000, 1000}).ok());
    EXPECT_TRUE(s.Upsert(Entry("c/ns/a", "c", kStart, absl::Hours(24), Fraction(0.5, 0))).ok());
    absl::Time now = kStart + absl::Hours(12);
    std::vector<absl::Duration> delays;
    for (int failure = 1; failure <= 14; ++failure) {
      std::vector<RotationJob> jobs = s.TakeDue(now);
      EXPECT_EQ(jobs.size(), 1u);
      if (jobs.size() != 1) break;
      EXPECT_EQ(jobs[0].attempt, failure - 1);
      EXPECT_TRUE(
          s.Complete("c/ns/a", absl::UnavailableError(absl::StrCat("API down, try ", failure)), now)
              .ok());
      EntryStatus status = *s.Get("c/ns/a");
      EXPECT_EQ(status.consecutive_failures, failure);
      EXPECT_EQ(status.last_error.message(), absl::StrCat("API down, try ", failure));
      EXPECT_EQ(status.last_error_time, now);
      delays.push_back(status.next_rotation - now);
      EXPECT_TRUE(s.TakeDue(status.next_rotation - absl::Nanoseconds(1)).empty());
      now = status.next_rotation;
    }
    return delays;
  };
  Schedule again;
  std::vector<absl::Duration> delays = run(schedule);
  EXPECT_EQ(delays, run(again)) << "the jitter is a function of account, token and attempt";
  std::set<absl::Duration> distinct(delays.begin(), delays.end());
  EXPECT_GT(distinct.size(), 10u);
  for (int i = 0; i < static_cast<int>(delays.size()); ++i) {
    EXPECT_GE(delays[i], absl::ZeroDuration()) << "failure " << i + 1;
    EXPECT_LE(delays[i], schedule.BackoffCeiling(i + 1)) << "failure " << i + 1;
  }
  // The later, capped retries are not all tiny: full jitter over [0, 5m].
  EXPECT_GT(*std::max_element(delays.begin() + 9, delays.end()), absl::Seconds(30));

  // Success: a new token, failures cleared, scheduled from the new token.
  absl::Time now = kStart + absl::Hours(13);
  ASSERT_EQ(schedule.TakeDue(now).size(), 1u);
  ASSERT_TRUE(schedule.Complete("c/ns/a", Fresh(now, absl::Hours(24)), now).ok());
  EntryStatus status = *schedule.Get("c/ns/a");
  EXPECT_EQ(status.consecutive_failures, 0);
  EXPECT_TRUE(status.last_error.ok());
  EXPECT_EQ(status.next_rotation, now + absl::Hours(12));
  EXPECT_EQ(status.last_error_time, absl::InfinitePast());
  // The next failure starts over at the 1s ceiling.
  now = status.next_rotation;
  ASSERT_EQ(schedule.TakeDue(now).size(), 1u);
  ASSERT_TRUE(schedule.Complete("c/ns/a", absl::InternalError("boom"), now).ok());
  EXPECT_LE(schedule.Get("c/ns/a")->next_rotation, now + absl::Seconds(1));
}

// A backoff never pushes a retry past expiry minus the margin while that is still ahead; past it,
// the backoff applies in full. An invalid "success" counts as a failure.
TEST(ScheduleTest, BackoffStopsAtTheSafetyMargin) {
  Schedule schedule;
  ScheduleEntry e = Entry("c/ns/a", "c", kStart, absl::Hours(1), Fraction(0.8, 0));
  ASSERT_TRUE(schedule.Upsert(e).ok());
  absl::Time latest = schedule.Latest(e);
  ASSERT_EQ(latest, kStart + absl::Minutes(59));
  absl::Time now = latest - absl::Seconds(2);
  int failures = 0;
  for (; failures < 8; ++failures) {
    ASSERT_EQ(schedule.TakeDue(now).size(), 1u);
    ASSERT_TRUE(schedule.Complete("c/ns/a", absl::UnavailableError("down"), now).ok());
    absl::Time next = schedule.Get("c/ns/a")->next_rotation;
    if (now < latest) {
      EXPECT_LE(next, latest);
    } else {
      EXPECT_LE(next, now + schedule.BackoffCeiling(failures + 1));
    }
    now = std::max(next, now + absl::Seconds(1));
  }
  EXPECT_GT(now, latest);

  ASSERT_EQ(schedule.TakeDue(now).size(), 1u);
  ASSERT_TRUE(schedule.Complete("c/ns/a", TokenTimes{now, now}, now).ok());
  EntryStatus status = *schedule.Get("c/ns/a");
  EXPECT_EQ(status.consecutive_failures, failures + 1);
  EXPECT_THAT(status.last_error.message(), HasSubstr("is not after its issue time"));
}

struct Start {
  absl::Time at;
  absl::Time due;
  std::string key;
};

// Drives one cluster's catch-up: every rotation takes `duration`, then succeeds.
std::vector<Start> CatchUp(Schedule& schedule, int accounts, absl::Duration duration,
                           int* max_in_flight) {
  std::vector<Start> starts;
  std::multimap<absl::Time, std::string> running;
  absl::Time now = kStart;
  *max_in_flight = 0;
  while (static_cast<int>(starts.size()) < accounts) {
    absl::Time next = schedule.NextDeadline();
    if (!running.empty()) next = std::min(next, running.begin()->first);
    EXPECT_NE(next, absl::InfiniteFuture());
    if (next == absl::InfiniteFuture()) break;
    now = std::max(now, next);
    while (!running.empty() && running.begin()->first <= now) {
      EXPECT_TRUE(schedule.Complete(running.begin()->second, Fresh(now, absl::Hours(1)), now).ok());
      running.erase(running.begin());
    }
    for (const RotationJob& job : schedule.TakeDue(now)) {
      starts.push_back({now, job.due, job.key});
      running.emplace(now + duration, job.key);
    }
    *max_in_flight = std::max(*max_in_flight, schedule.InFlight("a"));
  }
  return starts;
}

void AddOverdue(Schedule& schedule, int accounts) {
  // kcredd was down for a day: every token expired long ago, each due at a different time.
  for (int i = 0; i < accounts; ++i) {
    ASSERT_TRUE(schedule
                    .Upsert(Entry(absl::StrCat("a/ns/acct", i), "a",
                                  kStart - absl::Hours(25) - absl::Minutes((i * 37) % accounts),
                                  absl::Hours(1), Fraction(0.8, 0)))
                    .ok());
  }
}

// A restart after a long outage: the overdue rotations start most-overdue first and no faster
// than the cluster's token bucket allows (burst 4, then 2 per second).
TEST(ScheduleTest, CatchUpAfterDowntimeRespectsTheRateLimit) {
  Schedule schedule;
  ASSERT_TRUE(schedule.SetClusterLimits("a", ClusterLimits{100, 2.0, 4}).ok());
  AddOverdue(schedule, 200);
  int max_in_flight = 0;
  std::vector<Start> starts = CatchUp(schedule, 200, absl::ZeroDuration(), &max_in_flight);
  ASSERT_EQ(starts.size(), 200u);
  for (size_t i = 1; i < starts.size(); ++i) {
    EXPECT_LE(starts[i - 1].due, starts[i].due) << "most overdue first, at " << i;
  }
  // In every window [t_i, t_j]: at most burst + rate x (t_j - t_i) starts.
  for (size_t i = 0; i < starts.size(); ++i) {
    for (size_t j = i; j < starts.size(); ++j) {
      double allowed = 4 + 2.0 * absl::ToDoubleSeconds(starts[j].at - starts[i].at) + 1e-6;
      ASSERT_LE(static_cast<double>(j - i + 1), allowed) << "between starts " << i << " and " << j;
    }
  }
  EXPECT_EQ(starts[3].at, kStart) << "the burst goes at once";
  EXPECT_GT(starts[4].at, kStart);
  // 196 more at 2/s: the catch-up is spread over about 98 seconds, not a stampede.
  EXPECT_GE(starts.back().at - kStart, absl::Seconds(97));
  EXPECT_LE(starts.back().at - kStart, absl::Seconds(99));
}

// The same catch-up when rotations are slow: never more than max_in_flight at once per cluster.
TEST(ScheduleTest, CatchUpRespectsTheConcurrencyLimit) {
  Schedule schedule;
  ASSERT_TRUE(schedule.SetClusterLimits("a", ClusterLimits{3, 50.0, 50}).ok());
  AddOverdue(schedule, 60);
  int max_in_flight = 0;
  std::vector<Start> starts = CatchUp(schedule, 60, absl::Seconds(5), &max_in_flight);
  ASSERT_EQ(starts.size(), 60u);
  EXPECT_EQ(max_in_flight, 3);
  for (size_t i = 1; i < starts.size(); ++i) EXPECT_LE(starts[i - 1].due, starts[i].due);
  // Three at a time, five seconds each: 20 rounds.
  EXPECT_EQ(starts.back().at - kStart, absl::Seconds(95));
}

// Cluster "a" hangs (its rotations never finish) or fails every time; cluster "b" keeps rotating
// exactly on schedule.
TEST(ScheduleTest, StuckOrFailingClusterDoesNotDelayAnother) {
  for (bool hang : {true, false}) {
    SCOPED_TRACE(hang ? "hanging cluster" : "failing cluster");
    Schedule schedule;
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(schedule
                      .Upsert(Entry(absl::StrCat("a/ns/", i), "a", kStart, absl::Minutes(10 + i),
                                    Fraction(0.8, 0.1)))
                      .ok());
      ASSERT_TRUE(schedule
                      .Upsert(Entry(absl::StrCat("b/ns/", i), "b", kStart, absl::Minutes(10 + i),
                                    Fraction(0.8, 0.1)))
                      .ok());
    }
    absl::Time now = kStart;
    int b_rotations = 0;
    std::set<std::string> a_started;
    while (now < kStart + absl::Hours(6)) {
      absl::Time next = schedule.NextDeadline();
      ASSERT_NE(next, absl::InfiniteFuture());
      now = std::max(now, next);
      for (const RotationJob& job : schedule.TakeDue(now)) {
        if (job.cluster == "a") {
          a_started.insert(job.key);
          if (!hang) {
            ASSERT_TRUE(schedule.Complete(job.key, absl::UnavailableError("503"), now).ok());
          }
          continue;
        }
        EntryStatus status = *schedule.Get(job.key);
        ASSERT_EQ(now, job.due) << job.key << " was delayed";
        ASSERT_LT(now, status.entry.expiry);
        ASSERT_TRUE(
            schedule.Complete(job.key, Fresh(now, status.entry.expiry - status.entry.issued), now)
                .ok());
        b_rotations++;
      }
    }
    EXPECT_GT(b_rotations, 300);
    if (hang) {
      EXPECT_EQ(schedule.InFlight("a"), 4) << "the default limit";
      EXPECT_EQ(a_started.size(), 4u);
    } else {
      EXPECT_EQ(a_started.size(), 20u);
      EXPECT_GT(schedule.Get("a/ns/0")->consecutive_failures, 5);
      EXPECT_EQ(schedule.Get("b/ns/0")->consecutive_failures, 0);
    }
  }
}

// Upsert adds, reschedules on a new token (clearing failures) or a new policy, and leaves an
// unchanged entry alone; Remove forgets an account, even one in flight.
TEST(ScheduleTest, UpsertAndRemoveSemantics) {
  Schedule schedule;
  EXPECT_EQ(schedule.NextDeadline(), absl::InfiniteFuture());
  ScheduleEntry e = Entry("c/ns/a", "c", kStart, absl::Hours(1), Fraction(0.8, 0));
  ASSERT_TRUE(schedule.Upsert(e).ok());
  EXPECT_EQ(schedule.NextDeadline(), kStart + absl::Minutes(48));

  // A changed policy reschedules from the same token.
  e.policy = Fraction(0.5, 0);
  ASSERT_TRUE(schedule.Upsert(e).ok());
  EXPECT_EQ(schedule.NextDeadline(), kStart + absl::Minutes(30));

  // A failure, then an unchanged upsert keeps the retry and the error.
  absl::Time now = kStart + absl::Minutes(30);
  ASSERT_EQ(schedule.TakeDue(now).size(), 1u);
  ASSERT_TRUE(schedule.Complete(e.key, absl::UnavailableError("down"), now).ok());
  absl::Time retry = schedule.Get(e.key)->next_rotation;
  ASSERT_LE(retry, now + absl::Seconds(1));
  ASSERT_TRUE(schedule.Upsert(e).ok());
  EXPECT_EQ(schedule.Get(e.key)->next_rotation, retry);
  EXPECT_EQ(schedule.Get(e.key)->consecutive_failures, 1);

  // A new token (rotated elsewhere, e.g. on request) clears the failure and reschedules.
  e.issued = now + absl::Seconds(10);
  e.expiry = e.issued + absl::Hours(2);
  ASSERT_TRUE(schedule.Upsert(e).ok());
  EntryStatus status = *schedule.Get(e.key);
  EXPECT_EQ(status.consecutive_failures, 0);
  EXPECT_TRUE(status.last_error.ok());
  EXPECT_EQ(status.next_rotation, e.issued + absl::Hours(1));

  // Remove: gone, NOT_FOUND the second time, nothing due any more.
  ASSERT_TRUE(schedule.Remove(e.key).ok());
  EXPECT_EQ(schedule.Remove(e.key).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(schedule.Get(e.key).has_value());
  EXPECT_EQ(schedule.NextDeadline(), absl::InfiniteFuture());
  EXPECT_TRUE(schedule.TakeDue(kStart + absl::Hours(100)).empty());
}

// In-flight bookkeeping: removal or re-adding during a rotation, Complete/Release misuse, and a
// released job going back to the queue with its due time.
TEST(ScheduleTest, InFlightBookkeeping) {
  Schedule schedule;
  ASSERT_TRUE(schedule.SetClusterLimits("c", ClusterLimits{1, 100, 100}).ok());
  ScheduleEntry a = Entry("c/ns/a", "c", kStart, absl::Hours(1), Fraction(0.5, 0));
  ScheduleEntry b = Entry("c/ns/b", "c", kStart, absl::Hours(1), Fraction(0.6, 0));
  ASSERT_TRUE(schedule.Upsert(a).ok());
  ASSERT_TRUE(schedule.Upsert(b).ok());
  absl::Time now = kStart + absl::Hours(1);
  EXPECT_THAT(Keys(schedule.TakeDue(now)), ElementsAre("c/ns/a"));  // limit 1
  EXPECT_EQ(schedule.NextDeadline(), absl::InfiniteFuture()) << "saturated until a Complete";
  EXPECT_EQ(schedule.Complete("c/ns/b", Fresh(now, absl::Hours(1)), now).code(),
            absl::StatusCode::kFailedPrecondition);

  // Removed while rotating: the slot stays taken until its Complete.
  ASSERT_TRUE(schedule.Remove("c/ns/a").ok());
  EXPECT_TRUE(schedule.TakeDue(now).empty());
  // Re-added before the old rotation finished: not handed out twice.
  ASSERT_TRUE(schedule.Upsert(a).ok());
  EXPECT_TRUE(schedule.Get("c/ns/a")->in_flight);
  ASSERT_TRUE(schedule.Complete("c/ns/a", Fresh(now, absl::Hours(1)), now).ok());
  EXPECT_EQ(schedule.InFlight("c"), 0);
  EXPECT_EQ(schedule.Get("c/ns/a")->rotations, 1);

  // Release puts b back untouched.
  std::vector<RotationJob> jobs = schedule.TakeDue(now);
  ASSERT_THAT(Keys(jobs), ElementsAre("c/ns/b"));
  ASSERT_TRUE(schedule.Release("c/ns/b").ok());
  EXPECT_EQ(schedule.Release("c/ns/b").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(schedule.Get("c/ns/b")->next_rotation, jobs[0].due);
  EXPECT_EQ(schedule.Get("c/ns/b")->rotations, 0);
  EXPECT_FALSE(schedule.Get("c/ns/b")->in_flight);
  EXPECT_THAT(Keys(schedule.TakeDue(now)), ElementsAre("c/ns/b"));
}

// Jobs of several clusters come out merged by due time, and max_jobs keeps the most overdue.
TEST(ScheduleTest, TakeDueOrdersAcrossClustersAndHonoursMaxJobs) {
  Schedule schedule;
  ASSERT_TRUE(schedule.Upsert(Entry("x/1", "x", kStart, absl::Hours(1), Fraction(0.3, 0))).ok());
  ASSERT_TRUE(schedule.Upsert(Entry("y/1", "y", kStart, absl::Hours(1), Fraction(0.1, 0))).ok());
  ASSERT_TRUE(schedule.Upsert(Entry("x/2", "x", kStart, absl::Hours(1), Fraction(0.2, 0))).ok());
  ASSERT_TRUE(schedule.Upsert(Entry("y/2", "y", kStart, absl::Hours(1), Fraction(0.9, 0))).ok());
  EXPECT_EQ(schedule.NextDeadline(), kStart + absl::Minutes(6));
  EXPECT_THAT(Keys(schedule.TakeDue(kStart + absl::Minutes(30), 2)), ElementsAre("y/1", "x/2"));
  EXPECT_THAT(Keys(schedule.TakeDue(kStart + absl::Minutes(30))), ElementsAre("x/1"));
  EXPECT_EQ(schedule.NextDeadline(), kStart + absl::Minutes(54));
}

}  // namespace
}  // namespace kcred::rotation
