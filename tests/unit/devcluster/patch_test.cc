#include "devcluster/patch.h"

#include <gtest/gtest.h>

namespace kcred::devcluster {
namespace {

const nlohmann::json kObject = nlohmann::json::parse(R"({
  "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}},
  "spec": {"containers": [{"name": "app", "image": "v1"}, {"name": "side", "image": "s1"}]}
})");

// The Content-Type picks the patch flavour; server-side apply is refused.
TEST(PatchTest, ContentTypes) {
  EXPECT_EQ(*PatchTypeFromContentType("application/merge-patch+json"), PatchType::kMerge);
  EXPECT_EQ(*PatchTypeFromContentType("application/json-patch+json; charset=utf-8"),
            PatchType::kJson);
  EXPECT_EQ(*PatchTypeFromContentType("application/strategic-merge-patch+json"),
            PatchType::kStrategicMerge);
  EXPECT_FALSE(PatchTypeFromContentType("application/apply-patch+yaml").ok());
}

// A merge patch sets, replaces lists wholesale, and deletes keys set to null.
TEST(PatchTest, MergePatch) {
  nlohmann::json patch = nlohmann::json::parse(
      R"({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"containers": [{"name": "only"}]}})");
  absl::StatusOr<nlohmann::json> out = ApplyPatch(kObject, patch, PatchType::kMerge);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)["metadata"]["labels"], nlohmann::json({{"b", "2"}, {"c", "3"}}));
  EXPECT_EQ((*out)["spec"]["containers"].size(), 1u);
  EXPECT_FALSE(ApplyPatch(kObject, nlohmann::json::array(), PatchType::kMerge).ok());
}

// A strategic merge patch merges lists of named objects by name and honours $patch: delete.
TEST(PatchTest, StrategicMergeByName) {
  nlohmann::json patch = nlohmann::json::parse(R"({
    "$setElementOrder/containers": [{"name": "app"}],
    "spec": {"containers": [{"name": "app", "image": "v2"}, {"name": "side", "$patch": "delete"},
                            {"name": "new", "image": "n1"}]}
  })");
  absl::StatusOr<nlohmann::json> out = ApplyPatch(kObject, patch, PatchType::kStrategicMerge);
  ASSERT_TRUE(out.ok());
  const nlohmann::json& containers = (*out)["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[0], nlohmann::json({{"name", "app"}, {"image", "v2"}}));
  EXPECT_EQ(containers[1]["name"], "new");
  EXPECT_FALSE(out->contains("$setElementOrder/containers"));
  EXPECT_EQ((*out)["metadata"]["labels"]["a"], "1");
}

// A JSON patch applies operations in order and fails as a whole when one does not apply.
TEST(PatchTest, JsonPatch) {
  nlohmann::json patch = nlohmann::json::parse(
      R"([{"op": "replace", "path": "/metadata/labels/a", "value": "9"},
          {"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}}])");
  absl::StatusOr<nlohmann::json> out = ApplyPatch(kObject, patch, PatchType::kJson);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["metadata"]["labels"]["a"], "9");
  EXPECT_EQ((*out)["metadata"]["annotations"]["k"], "v");
  nlohmann::json bad = nlohmann::json::parse(R"([{"op": "remove", "path": "/nope"}])");
  absl::StatusOr<nlohmann::json> failed = ApplyPatch(kObject, bad, PatchType::kJson);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kcred::devcluster
