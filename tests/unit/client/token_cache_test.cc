#include "client/token_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/token_refresh.h"
#include "tests/support/process.h"

namespace kcred::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kServer[] = "unix:/run/kcred/kcredd.sock";
constexpr char kAccount[] = "dev/automation/ci-bot";
const absl::Time kT0 = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

CachedToken OneHourToken() {
  CachedToken t;
  t.token = "secret-token-value";
  t.fetched_time = kT0;
  t.expire_time = kT0 + absl::Hours(1);
  t.next_rotation_time = kT0 + absl::Minutes(45);
  t.generation = 3;
  t.served_time = kT0;
  t.served_to = 4242;
  return t;
}

int Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// A non-empty KCRED_CACHE_DIR wins, else $HOME/.kube/cache/kcred; with neither, it is an error.
TEST(ResolveCacheDir, PrefersKcredCacheDirThenHome) {
  EXPECT_EQ(*ResolveCacheDir("/tmp/c", "/home/u"), "/tmp/c");
  EXPECT_EQ(*ResolveCacheDir("", "/home/u"), "/home/u/.kube/cache/kcred");
  EXPECT_EQ(*ResolveCacheDir(nullptr, "/home/u"), "/home/u/.kube/cache/kcred");
  EXPECT_FALSE(ResolveCacheDir(nullptr, nullptr).ok());
}

// The margin is 5 minutes, or a tenth of the lifetime when that is less; a given margin wins.
TEST(SafetyMargin, FiveMinutesOrTenPercentOfTheLifetime) {
  CachedToken t = OneHourToken();
  EXPECT_EQ(SafetyMargin(t, std::nullopt), absl::Minutes(5));
  t.expire_time = kT0 + absl::Minutes(10);
  EXPECT_EQ(SafetyMargin(t, std::nullopt), absl::Minutes(1));
  EXPECT_EQ(SafetyMargin(t, absl::Minutes(7)), absl::Minutes(7));
}

// A cached token is usable until it nears expiry or passes its planned rotation, but not when the
// caller it was served to asks again within seconds (a rerun after it was rejected).
TEST(WhyNotUsable, HitExpiringSoonPastRotationAndRejectedRerun) {
  const CachedToken t = OneHourToken();
  const absl::Duration margin = absl::Minutes(5);
  EXPECT_EQ(WhyNotUsable(t, kT0 + absl::Minutes(10), margin, 1), "");
  EXPECT_EQ(WhyNotUsable(t, kT0 + absl::Minutes(10), margin, 4242), "")
      << "the same caller after the rerun window is an ordinary request";
  EXPECT_THAT(WhyNotUsable(t, kT0 + absl::Seconds(5), margin, 4242), HasSubstr("asked again"));
  EXPECT_EQ(WhyNotUsable(t, kT0 + absl::Seconds(5), margin, 77), "");

  CachedToken no_rotation = t;
  no_rotation.next_rotation_time = absl::InfiniteFuture();
  EXPECT_EQ(WhyNotUsable(no_rotation, kT0 + absl::Minutes(54), margin, 1), "");
  EXPECT_THAT(WhyNotUsable(no_rotation, kT0 + absl::Minutes(55), margin, 1),
              HasSubstr("expires within 5m"));
  EXPECT_THAT(WhyNotUsable(t, kT0 + absl::Minutes(45), margin, 1), HasSubstr("rotation"));
}

// The expiry reported is the earlier of the token's expiry (less the margin) and its planned
// rotation, a minute away when the rotation is overdue, and infinite when neither is set.
TEST(ReportedExpiry, EarlierOfExpiryAndPlannedRotation) {
  CachedToken t = OneHourToken();
  EXPECT_EQ(ReportedExpiry(t, kT0), kT0 + absl::Minutes(45));
  t.next_rotation_time = kT0 + absl::Hours(2);
  EXPECT_EQ(ReportedExpiry(t, kT0), kT0 + absl::Hours(1) - kExecRefreshMargin)
      << "requests still on their way when the token expires must not fail";
  t.next_rotation_time = kT0 - absl::Minutes(1);  // overdue: ask again in a minute
  EXPECT_EQ(ReportedExpiry(t, kT0), kT0 + absl::Minutes(1));
  t.next_rotation_time = absl::InfiniteFuture();
  t.expire_time = absl::InfiniteFuture();
  EXPECT_EQ(ReportedExpiry(t, kT0), absl::InfiniteFuture());
}

// With the grace known, the expiry reported is never later than the margin before the earliest
// moment a rotation may revoke the token: an overdue rotation with a 10s grace is asked about
// again within 8s, not a minute, and the cache does not answer past that bound.
TEST(ReportedExpiry, NeverAfterTheEarliestRevocation) {
  CachedToken t = OneHourToken();
  t.grace = absl::Seconds(10);
  EXPECT_EQ(ReportedExpiry(t, kT0), kT0 + absl::Minutes(45)) << "a grace longer than the margin";
  const absl::Time late = kT0 + absl::Minutes(46);  // kcredd has not rotated yet
  EXPECT_EQ(ReportedExpiry(t, late), late + absl::Seconds(10) - kExecRefreshMargin);
  t.grace = absl::Seconds(1);  // shorter than the margin: ask again before the planned rotation
  EXPECT_EQ(ReportedExpiry(t, kT0), kT0 + absl::Minutes(45) - absl::Seconds(1));
  EXPECT_THAT(WhyNotUsable(t, kT0 + absl::Minutes(45) - absl::Seconds(1), absl::ZeroDuration(), 1),
              HasSubstr("may revoke"));
  EXPECT_EQ(WhyNotUsable(t, kT0 + absl::Minutes(44), absl::ZeroDuration(), 1), "");
  t.grace = absl::ZeroDuration();  // overdue, no grace: every request asks again
  EXPECT_LE(ReportedExpiry(t, late), late);
}

// Store makes 0700 directories and a 0600 file whose name hides the account, and Load returns every
// field stored; before any Store, Load is NOT_FOUND.
TEST(TokenCache, StoreCreates0700DirectoriesAnd0600FileAndLoadRoundTrips) {
  kcred::testing::TempDir tmp;
  const std::string dir = tmp.File("home/.kube/cache/kcred");
  TokenCache cache(dir);
  EXPECT_TRUE(absl::IsNotFound(cache.Load(kServer, kAccount).status()));
  ASSERT_TRUE(cache.Store(kServer, kAccount, OneHourToken()).ok());
  EXPECT_EQ(Mode(dir), 0700);
  EXPECT_EQ(Mode(tmp.File("home/.kube")), 0700);
  const std::string path = cache.PathFor(kServer, kAccount);
  EXPECT_EQ(Mode(path), 0600);
  EXPECT_THAT(path, Not(HasSubstr("ci-bot")));

  auto loaded = cache.Load(kServer, kAccount);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const CachedToken want = OneHourToken();
  EXPECT_EQ(loaded->token, want.token);
  EXPECT_EQ(loaded->expire_time, want.expire_time);
  EXPECT_EQ(loaded->next_rotation_time, want.next_rotation_time);
  EXPECT_EQ(loaded->fetched_time, want.fetched_time);
  EXPECT_EQ(loaded->served_time, want.served_time);
  EXPECT_EQ(loaded->served_to, want.served_to);
  EXPECT_EQ(loaded->generation, 3);
  EXPECT_FALSE(loaded->grace.has_value());

  CachedToken with_grace = OneHourToken();
  with_grace.grace = absl::Milliseconds(2500);
  ASSERT_TRUE(cache.Store(kServer, kAccount, with_grace).ok());
  loaded = cache.Load(kServer, kAccount);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->grace, absl::Milliseconds(2500));
}

// Each server and account has its own file: a token stored for one server is not found for another.
TEST(TokenCache, OneFilePerServerAndAccount) {
  kcred::testing::TempDir tmp;
  TokenCache cache(tmp.File("c"));
  EXPECT_NE(cache.PathFor(kServer, kAccount), cache.PathFor("unix:/other.sock", kAccount));
  EXPECT_NE(cache.PathFor(kServer, kAccount), cache.PathFor(kServer, "dev/automation/other"));
  ASSERT_TRUE(cache.Store(kServer, kAccount, OneHourToken()).ok());
  EXPECT_TRUE(absl::IsNotFound(cache.Load("unix:/other.sock", kAccount).status()));
}

// A cache file open to others is refused naming its mode, not the token; the next Store makes it
// 0600 again and it loads.
TEST(TokenCache, RefusesAFileOpenToOthersAndReplacesIt) {
  kcred::testing::TempDir tmp;
  TokenCache cache(tmp.File("c"));
  ASSERT_TRUE(cache.Store(kServer, kAccount, OneHourToken()).ok());
  const std::string path = cache.PathFor(kServer, kAccount);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  auto loaded = cache.Load(kServer, kAccount);
  EXPECT_TRUE(absl::IsFailedPrecondition(loaded.status()));
  EXPECT_THAT(loaded.status().message(), HasSubstr("mode 0644"));
  EXPECT_THAT(loaded.status().message(), Not(HasSubstr("secret-token-value")));
  ASSERT_TRUE(cache.Store(kServer, kAccount, OneHourToken()).ok());
  EXPECT_EQ(Mode(path), 0600);
  EXPECT_TRUE(cache.Load(kServer, kAccount).ok());
}

// A cache directory open to others makes Load fail; the next Store makes it 0700 and Load works.
TEST(TokenCache, RefusesADirectoryOpenToOthersAndClosesItOnStore) {
  kcred::testing::TempDir tmp;
  TokenCache cache(tmp.File("c"));
  ASSERT_TRUE(cache.Store(kServer, kAccount, OneHourToken()).ok());
  ASSERT_EQ(chmod(tmp.File("c").c_str(), 0755), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(cache.Load(kServer, kAccount).status()));
  ASSERT_TRUE(cache.Store(kServer, kAccount, OneHourToken()).ok());
  EXPECT_EQ(Mode(tmp.File("c")), 0700);
  EXPECT_TRUE(cache.Load(kServer, kAccount).ok());
}

// A cache file that is a symlink, even to another account's good file, is refused.
TEST(TokenCache, RefusesASymlinkedFile) {
  kcred::testing::TempDir tmp;
  TokenCache cache(tmp.File("c"));
  ASSERT_TRUE(cache.Store(kServer, "dev/automation/other", OneHourToken()).ok());
  const std::string path = cache.PathFor(kServer, kAccount);
  ASSERT_EQ(symlink(cache.PathFor(kServer, "dev/automation/other").c_str(), path.c_str()), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(cache.Load(kServer, kAccount).status()));
}

// Truncated JSON, a non-object, another server's entry and a bad time are each refused without
// quoting the token they hold.
TEST(TokenCache, CorruptOrForeignFilesAreRefusedWithoutQuotingThem) {
  kcred::testing::TempDir tmp;
  TokenCache cache(tmp.File("c"));
  ASSERT_TRUE(cache.Store(kServer, kAccount, OneHourToken()).ok());
  const std::string path = cache.PathFor(kServer, kAccount);
  for (const std::string& content :
       {std::string("{\"token\": \"secret-token-value"), std::string("[]"),
        std::string("{\"version\":1,\"server\":\"unix:/other\",\"account\":\"dev/automation/"
                    "ci-bot\",\"token\":\"secret-token-value\"}"),
        std::string("{\"version\":1,\"server\":\"unix:/run/kcred/kcredd.sock\",\"account\":"
                    "\"dev/automation/ci-bot\",\"token\":\"secret-token-value\","
                    "\"expireTime\":\"yesterday\"}")}) {
    ASSERT_TRUE(kcred::testing::WriteFile(path, content, 0600).ok());
    auto loaded = cache.Load(kServer, kAccount);
    EXPECT_TRUE(absl::IsFailedPrecondition(loaded.status())) << content;
    EXPECT_THAT(loaded.status().message(), Not(HasSubstr("secret-token-value")));
  }
}

}  // namespace
}  // namespace kcred::client
