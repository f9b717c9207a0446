// Shows when kcredd warns that a grace is too short for long-running clients: the defaults and
// each declared account with its own token timing, named with the window and the minimum.
#include "daemon/config/grace_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "common/token_refresh.h"

namespace kcred::config {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

DeclaredAccount Declared(const std::string& name, const std::string& where, absl::Duration grace,
                         std::optional<absl::Duration> ttl = std::nullopt) {
  DeclaredAccount account;
  account.ref.set_cluster("dev");
  account.ref.set_namespace_("ci");
  account.ref.set_name(name);
  account.where = where;
  account.spec.mutable_token()->mutable_grace()->set_seconds(absl::ToInt64Seconds(grace));
  if (ttl.has_value())
    account.spec.mutable_token()->mutable_ttl()->set_seconds(absl::ToInt64Seconds(*ttl));
  return account;
}

// The window is the grace, cut short by what is left of the token's lifetime at its rotation.
TEST(PostRotationWindow, GraceButNotPastTheExpiry) {
  EXPECT_EQ(PostRotationWindow(absl::Minutes(5), absl::Hours(1), 0.8), absl::Minutes(5));
  EXPECT_EQ(PostRotationWindow(absl::Minutes(5), absl::Seconds(20), 0.5), absl::Seconds(10));
  EXPECT_EQ(PostRotationWindow(absl::ZeroDuration(), absl::Hours(1), 0.8), absl::ZeroDuration());
}

// kcredd's own defaults (5m grace, 1h tokens rotated at 80%) draw no warning.
TEST(ShortGraceWarnings, NoneForTheDefaults) {
  EXPECT_THAT(ShortGraceWarnings(Config{}), IsEmpty());
}

// A short default grace, and a default ttl so short that the old token expires before its grace
// ends, are named with the window and the minimum.
TEST(ShortGraceWarnings, ShortDefaultsAreNamed) {
  Config config;
  config.token_defaults.grace = absl::Seconds(2);
  EXPECT_THAT(ShortGraceWarnings(config),
              ElementsAre(AllOf(HasSubstr("defaults.token: "), HasSubstr("stays valid 2s"),
                                HasSubstr("less than the 5s"), HasSubstr("401 Unauthorized"))));
  config.token_defaults.grace = absl::Minutes(1);
  config.token_defaults.ttl = absl::Seconds(10);
  EXPECT_THAT(ShortGraceWarnings(config),
              ElementsAre(HasSubstr("expires 2s after a rotation, before its grace of 1m ends")));
  config.token_defaults.ttl = absl::Seconds(30);  // 6s left at 80%: enough
  EXPECT_THAT(ShortGraceWarnings(config), IsEmpty());
  EXPECT_EQ(kMinClientGrace, absl::Seconds(5));
}

// A declared account with its own short grace is named with where it is declared; one that only
// inherits the defaults is covered by the defaults' line and not repeated.
TEST(ShortGraceWarnings, DeclaredAccountsWithTheirOwnTiming) {
  Config config;
  config.accounts.items.push_back(Declared("zero", "kcredd.yaml:12:5", absl::ZeroDuration()));
  config.accounts.items.push_back(Declared("fine", "kcredd.yaml:20:5", absl::Minutes(1)));
  config.accounts.items.push_back(
      Declared("short-ttl", "kcredd.yaml:28:5", absl::Minutes(1), absl::Seconds(20)));
  DeclaredAccount inheriting;
  inheriting.ref.set_cluster("dev");
  inheriting.ref.set_namespace_("ci");
  inheriting.ref.set_name("inheriting");
  config.accounts.items.push_back(inheriting);
  EXPECT_THAT(ShortGraceWarnings(config),
              ElementsAre(AllOf(HasSubstr("account dev/ci/zero (kcredd.yaml:12:5)"),
                                HasSubstr("stays valid 0s")),
                          AllOf(HasSubstr("account dev/ci/short-ttl (kcredd.yaml:28:5)"),
                                HasSubstr("expires 4s after a rotation"))));
}

}  // namespace
}  // namespace kcred::config
