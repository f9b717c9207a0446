#include "devcluster/field_selector.h"

#include <gtest/gtest.h>

namespace kcred::devcluster {
namespace {

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
