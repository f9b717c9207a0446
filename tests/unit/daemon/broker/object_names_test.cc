#include "daemon/broker/object_names.h"

#include <string>

#include "common/names.h"
#include "gtest/gtest.h"

namespace kcred::broker {
namespace {

// Short values are kept; long ones are shortened to a valid, distinct label value.
TEST(ObjectNamesTest, LabelValue) {
  EXPECT_EQ(LabelValue("ci-bot"), "ci-bot");
  const std::string long_a = std::string(60, 'a') + ".example.com";
  const std::string long_b = std::string(60, 'a') + ".example.org";
  EXPECT_LE(LabelValue(long_a).size(), 63u);
  EXPECT_NE(LabelValue(long_a), LabelValue(long_b));
  EXPECT_EQ(LabelValue(long_a), LabelValue(long_a));
}

// Generation Secret names are valid subdomains, also for the longest account names.
TEST(ObjectNamesTest, GenerationSecretName) {
  EXPECT_EQ(GenerationSecretName("automation", "ci-bot", 3), "ci-bot-kcred-3");
  const std::string long_label(63, 'b');
  std::string name = GenerationSecretName("ns", long_label, 12);
  EXPECT_TRUE(ValidateDns1123Subdomain(name, "secret").ok()) << name;
  EXPECT_NE(name, GenerationSecretName("other", long_label, 12));
  std::string longest;
  while (longest.size() + 64 <= 253) longest += std::string(63, 'c') + ".";
  longest += "d";
  EXPECT_TRUE(ValidateDns1123Subdomain(GenerationSecretName("ns", longest, 1), "s").ok());
}

// Cluster-scoped names embed the namespace so accounts of the same name never collide.
TEST(ObjectNamesTest, ClusterObjectNameAndSelector) {
  EXPECT_EQ(ClusterObjectName("automation", "ci-bot"), "kcred:automation:ci-bot");
  EXPECT_EQ(AccountSelector("dev", "automation", "ci-bot"),
            "app.kubernetes.io/managed-by=kcred,kcred.io/account=ci-bot,kcred.io/cluster=dev,"
            "kcred.io/namespace=automation");
  nlohmann::json object = {{"metadata", {{"labels", AccountLabels("dev", "automation", "x")}}}};
  EXPECT_TRUE(OwnedByAccount(object, "dev", "automation", "x"));
  EXPECT_FALSE(OwnedByAccount(object, "dev", "other", "x"));
  EXPECT_TRUE(ManagedByKcred(object));
  EXPECT_FALSE(ManagedByKcred(nlohmann::json::object()));
}

// Name templates expand every placeholder.
TEST(ObjectNamesTest, ExpandNameTemplate) {
  EXPECT_EQ(ExpandNameTemplate("gs-{cluster}-{namespace}-{name}", "dev", "ns", "bot"),
            "gs-dev-ns-bot");
}

}  // namespace
}  // namespace kcred::broker
