#include "devcluster/selectors.h"

#include <gtest/gtest.h>

namespace kcred::devcluster {
namespace {

const nlohmann::json kLabels = {{"app", "web"}, {"tier", "front"}, {"env", "prod"}};

bool LabelsMatch(const char* selector, const nlohmann::json& labels = kLabels) {
  absl::StatusOr<LabelSelector> parsed = LabelSelector::Parse(selector);
  EXPECT_TRUE(parsed.ok()) << selector << ": " << parsed.status();
  return parsed.ok() && parsed->Matches(labels);
}

// Every label selector operator matches and rejects as Kubernetes does.
TEST(LabelSelectorTest, OperatorsMatchLikeKubernetes) {
  EXPECT_TRUE(LabelsMatch(""));
  EXPECT_TRUE(LabelsMatch("app=web"));
  EXPECT_TRUE(LabelsMatch("app==web"));
  EXPECT_FALSE(LabelsMatch("app=db"));
  EXPECT_TRUE(LabelsMatch("app!=db"));
  EXPECT_FALSE(LabelsMatch("app!=web"));
  EXPECT_TRUE(LabelsMatch("missing!=x"));
  EXPECT_TRUE(LabelsMatch("tier"));
  EXPECT_FALSE(LabelsMatch("missing"));
  EXPECT_TRUE(LabelsMatch("!missing"));
  EXPECT_FALSE(LabelsMatch("!tier"));
  EXPECT_TRUE(LabelsMatch("env in (dev, prod)"));
  EXPECT_FALSE(LabelsMatch("env in (dev,test)"));
  EXPECT_TRUE(LabelsMatch("env notin (dev,test)"));
  EXPECT_FALSE(LabelsMatch("env notin (prod)"));
  EXPECT_TRUE(LabelsMatch("app=web,env in (prod),!missing"));
  EXPECT_FALSE(LabelsMatch("app=web,tier=back"));
  EXPECT_FALSE(LabelsMatch("app=web", nullptr));
  EXPECT_TRUE(LabelsMatch("!app", nullptr));
}

// Malformed selectors are errors that name the problem.
TEST(LabelSelectorTest, MalformedSelectorsAreRejected) {
  EXPECT_FALSE(LabelSelector::Parse("a=b,,c").ok());
  EXPECT_FALSE(LabelSelector::Parse("env in (a,b").ok());
  EXPECT_FALSE(LabelSelector::Parse("env within (a)").ok());
  EXPECT_FALSE(LabelSelector::Parse("=x").ok());
}

// Field selectors support metadata.name/namespace and the extra fields a kind allows.
TEST(FieldSelectorTest, NameNamespaceAndExtraFields) {
  nlohmann::json secret = {{"metadata", {{"name", "s1"}, {"namespace", "ns"}}}, {"type", "Opaque"}};
  absl::StatusOr<FieldSelector> by_name = FieldSelector::Parse("metadata.name=s1");
  ASSERT_TRUE(by_name.ok());
  EXPECT_TRUE(by_name->Matches(secret));
  absl::StatusOr<FieldSelector> not_ns = FieldSelector::Parse("metadata.namespace!=ns");
  ASSERT_TRUE(not_ns.ok());
  EXPECT_FALSE(not_ns->Matches(secret));
  absl::StatusOr<FieldSelector> both =
      FieldSelector::Parse("metadata.name==s1,type=kubernetes.io/tls", {"type"});
  ASSERT_TRUE(both.ok());
  EXPECT_FALSE(both->Matches(secret));

  absl::StatusOr<FieldSelector> unsupported = FieldSelector::Parse("spec.nodeName=x");
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.status().message(), "field label not supported: spec.nodeName");
  EXPECT_FALSE(FieldSelector::Parse("metadata.name").ok());
}

}  // namespace
}  // namespace kcred::devcluster
