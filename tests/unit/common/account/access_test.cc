// Shows that the words of the authorization policy parse and print as written: actions, account
// patterns (cluster/namespace/name globs) and subjects, with errors that list what is accepted.
#include "common/account/access.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kcred {
namespace {

using ::testing::HasSubstr;

// Every grantable action parses from its name and prints back the same; unknown names list them.
TEST(AccessTest, ActionsRoundTrip) {
  for (Action action : GrantableActions()) {
    absl::StatusOr<Action> parsed = ParseAction(ActionName(action));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, action);
  }
  EXPECT_EQ(GrantableActions().size(), 10u);
  absl::StatusOr<Action> bad = ParseAction("read");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("get-kubeconfig, get-token"));
  EXPECT_FALSE(ParseAction("self").ok());  // not grantable
  EXPECT_TRUE(ReturnsSecret(Action::kGetToken));
  EXPECT_TRUE(ReturnsSecret(Action::kGetKubeconfig));
  EXPECT_FALSE(ReturnsSecret(Action::kGet));
}

// Patterns have three parts, each a glob.
TEST(AccessTest, AccountPatterns) {
  absl::StatusOr<AccountPattern> ci = ParseAccountPattern("prod-eu/ci/*");
  ASSERT_TRUE(ci.ok());
  EXPECT_TRUE(ci->Matches("prod-eu", "ci", "deployer"));
  EXPECT_FALSE(ci->Matches("prod-eu", "web", "deployer"));
  EXPECT_TRUE(ci->MatchesCluster("prod-eu"));
  EXPECT_FALSE(ci->MatchesCluster("prod-us"));
  EXPECT_EQ(ci->ToString(), "prod-eu/ci/*");
  for (const char* bad : {"prod-eu/ci", "a/b/c/d", "//", "a//c", "a/b c/d", "a/b\n/c"}) {
    absl::StatusOr<AccountPattern> p = ParseAccountPattern(bad);
    EXPECT_FALSE(p.ok()) << bad;
  }
  EXPECT_THAT(ParseAccountPattern("x").status().message(), HasSubstr("CLUSTER/NAMESPACE/NAME"));
}

// Subjects are one of the documented forms.
TEST(AccessTest, Subjects) {
  for (const char* good :
       {"unix:uid:0", "unix:gid:27", "unix:user:deploy-bot", "unix:group:ci", "x509:cn:builder",
        "x509:dns:b.corp", "x509:uri:spiffe://corp/ci", "anonymous"}) {
    EXPECT_TRUE(ValidateSubject(good).ok()) << good;
  }
  EXPECT_THAT(ValidateSubject("unix:uid:root").message(), HasSubstr("takes a number"));
  EXPECT_THAT(ValidateSubject("unix:user:").message(), HasSubstr("missing"));
  EXPECT_THAT(ValidateSubject("user:alice").message(), HasSubstr("unix:uid:N"));
}

}  // namespace
}  // namespace kcred
