#include "common/json_labels.h"

#include <gtest/gtest.h>

namespace kcred {
namespace {

bool Matches(const char* selector, const nlohmann::json& object) {
  absl::StatusOr<LabelSelector> parsed = LabelSelector::Parse(selector);
  EXPECT_TRUE(parsed.ok()) << selector << ": " << parsed.status();
  return parsed.ok() && SelectorMatchesObject(*parsed, object);
}

// JSON labels become a map of their string values; anything else is no labels.
TEST(JsonLabelsTest, StringValuesOnly) {
  EXPECT_EQ(LabelsFromJson({{"app", "web"}, {"n", 3}, {"tier", "front"}}),
            (std::map<std::string, std::string>{{"app", "web"}, {"tier", "front"}}));
  EXPECT_TRUE(LabelsFromJson(nullptr).empty());
  EXPECT_TRUE(LabelsFromJson(nlohmann::json::array({"app"})).empty());
}

// Selectors match metadata.labels as Kubernetes does: a missing key satisfies != and notin.
TEST(JsonLabelsTest, SelectorMatchesObjectByMetadataLabels) {
  const nlohmann::json object = {
      {"metadata", {{"name", "x"}, {"labels", {{"app", "web"}, {"env", "prod"}, {"n", 1}}}}}};
  EXPECT_TRUE(Matches("", object));
  EXPECT_TRUE(Matches("app=web,env in (dev,prod)", object));
  EXPECT_FALSE(Matches("app=db", object));
  EXPECT_TRUE(Matches("n!=1", object));
  EXPECT_FALSE(Matches("n", object));
  EXPECT_TRUE(Matches("!missing", object));

  const nlohmann::json unlabelled = {{"metadata", {{"name", "y"}}}};
  EXPECT_FALSE(Matches("app=web", unlabelled));
  EXPECT_TRUE(Matches("app notin (web)", unlabelled));
  EXPECT_TRUE(Matches("!app", nullptr));
  EXPECT_TRUE(Matches("", "not an object"));
}

}  // namespace
}  // namespace kcred
