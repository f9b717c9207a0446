// Shows that label selectors parse every Kubernetes form, match as Kubernetes does (a missing key
// satisfies != and notin), and that bad selectors are refused naming the bad requirement.
#include "common/label_selector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace kcred {
namespace {

using ::testing::HasSubstr;

bool Matches(const std::string& selector, const std::map<std::string, std::string>& labels) {
  absl::StatusOr<LabelSelector> parsed = LabelSelector::Parse(selector);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() && parsed->Matches(labels);
}

// Each form of requirement, and several joined by commas.
TEST(LabelSelectorTest, EveryForm) {
  const std::map<std::string, std::string> labels = {{"team", "ci"}, {"env", "dev"}};
  EXPECT_TRUE(Matches("", labels));
  EXPECT_TRUE(Matches("team=ci", labels));
  EXPECT_TRUE(Matches("team==ci", labels));
  EXPECT_FALSE(Matches("team=web", labels));
  EXPECT_TRUE(Matches("team!=web", labels));
  EXPECT_TRUE(Matches("missing!=x", labels));
  EXPECT_TRUE(Matches("env in (dev, test)", labels));
  EXPECT_FALSE(Matches("env notin (dev,test)", labels));
  EXPECT_TRUE(Matches("missing notin (a)", labels));
  EXPECT_TRUE(Matches("team", labels));
  EXPECT_FALSE(Matches("!team", labels));
  EXPECT_TRUE(Matches("!missing", labels));
  EXPECT_TRUE(Matches("team=ci, env in (dev), !missing", labels));
  EXPECT_FALSE(Matches("team=ci,env=prod", labels));
}

// A bad selector names what it is, the text and the part that does not parse.
TEST(LabelSelectorTest, BadSelectorsNameThePart) {
  auto unbalanced = LabelSelector::Parse("env in (a", "namespace_selector");
  ASSERT_FALSE(unbalanced.ok());
  EXPECT_THAT(unbalanced.status().message(), HasSubstr("namespace_selector \"env in (a\""));
  EXPECT_THAT(unbalanced.status().message(), HasSubstr("unbalanced"));
  auto bad_op = LabelSelector::Parse("env within (a)");
  ASSERT_FALSE(bad_op.ok());
  EXPECT_THAT(bad_op.status().message(), HasSubstr("in \"env within (a)\""));
  EXPECT_FALSE(LabelSelector::Parse("a=b,,c").ok());
  EXPECT_FALSE(LabelSelector::Parse("=x").ok());
}

}  // namespace
}  // namespace kcred
