// Shows that an account selector matches by cluster, namespace and name (each when given) and by a
// label selector over the account's labels, and that a bad label selector is refused up front.
#include "daemon/broker/account_selector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kcred::broker {
namespace {

using ::testing::HasSubstr;

v1::Account MakeAccount(const std::string& cluster, const std::string& ns, const std::string& name,
                        std::map<std::string, std::string> labels = {}) {
  v1::Account account;
  account.mutable_ref()->set_cluster(cluster);
  account.mutable_ref()->set_namespace_(ns);
  account.mutable_ref()->set_name(name);
  for (const auto& [k, v] : labels) (*account.mutable_spec()->mutable_labels())[k] = v;
  return account;
}

// Empty fields match everything; each given field must match exactly.
TEST(AccountSelectorTest, MatchesByRefParts) {
  v1::AccountSelector selector;
  auto all = AccountMatcher::Create(selector);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Matches(MakeAccount("dev", "ci", "bot")));
  selector.set_cluster("dev");
  selector.set_namespace_("ci");
  auto ci = AccountMatcher::Create(selector);
  ASSERT_TRUE(ci.ok());
  EXPECT_TRUE(ci->Matches(MakeAccount("dev", "ci", "bot")));
  EXPECT_FALSE(ci->Matches(MakeAccount("dev", "web", "bot")));
  EXPECT_FALSE(ci->Matches(MakeAccount("prod", "ci", "bot")));
  selector.set_name("other");
  EXPECT_FALSE(AccountMatcher::Create(selector)->Matches(MakeAccount("dev", "ci", "bot")));
}

// The label selector applies to spec.labels.
TEST(AccountSelectorTest, MatchesByLabels) {
  v1::AccountSelector selector;
  selector.set_label_selector("team=ci,env!=prod");
  auto matcher = AccountMatcher::Create(selector);
  ASSERT_TRUE(matcher.ok());
  EXPECT_TRUE(matcher->Matches(MakeAccount("dev", "a", "b", {{"team", "ci"}})));
  EXPECT_FALSE(matcher->Matches(MakeAccount("dev", "a", "b", {{"team", "ci"}, {"env", "prod"}})));
  EXPECT_FALSE(matcher->Matches(MakeAccount("dev", "a", "b")));
  selector.set_label_selector("team in (ci");
  auto bad = AccountMatcher::Create(selector);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("selector.label_selector"));
}

}  // namespace
}  // namespace kcred::broker
