#include "client/arguments.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kcred::client {
namespace {

using ::testing::ElementsAre;

std::string ErrorOf(const absl::Status& s) { return std::string(s.message()); }

// The rule shorthand fills verbs, resources, API groups and names.
TEST(CliParseRule, ParsesEveryPart) {
  auto rule = ParseRule("get,list:pods,configmaps");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_THAT(rule->verbs(), ElementsAre("get", "list"));
  EXPECT_THAT(rule->resources(), ElementsAre("pods", "configmaps"));
  EXPECT_TRUE(rule->api_groups().empty());
  EXPECT_TRUE(rule->resource_names().empty());

  rule = ParseRule("get:deployments:apps");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_THAT(rule->api_groups(), ElementsAre("apps"));

  rule = ParseRule("get:pods,deployments:,apps");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_THAT(rule->api_groups(), ElementsAre("", "apps"));

  rule = ParseRule("get, update:configmaps::app-config,other");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_THAT(rule->verbs(), ElementsAre("get", "update"));
  EXPECT_THAT(rule->api_groups(), ElementsAre(""));
  EXPECT_THAT(rule->resource_names(), ElementsAre("app-config", "other"));
}

// Each malformed rule gets a message naming the rule and the problem.
TEST(CliParseRule, RejectsMalformedRules) {
  const std::string form =
      "expected VERBS:RESOURCES[:APIGROUPS[:NAMES]], e.g. 'get,list:pods,configmaps' or "
      "'get:deployments:apps'";
  EXPECT_EQ(ErrorOf(ParseRule("get").status()), "--rule \"get\": " + form);
  EXPECT_EQ(ErrorOf(ParseRule("a:b:c:d:e").status()), "--rule \"a:b:c:d:e\": " + form);
  EXPECT_EQ(ErrorOf(ParseRule(":pods").status()),
            "--rule \":pods\": no verbs before the first \":\"; " + form);
  EXPECT_EQ(ErrorOf(ParseRule("get:").status()),
            "--rule \"get:\": no resources after the first \":\"; " + form);
  EXPECT_EQ(ErrorOf(ParseRule("get,,list:pods").status()),
            "--rule \"get,,list:pods\": empty verb in \"get,,list\"; " + form);
  EXPECT_EQ(ErrorOf(ParseRule("get:pods,:apps").status()),
            "--rule \"get:pods,:apps\": empty resource in \"pods,\"; " + form);
  EXPECT_EQ(ErrorOf(ParseRule("get:pods::").status()),
            "--rule \"get:pods::\": the NAMES part is empty; drop the last \":\" to allow all "
            "names");
}

// KEY=VALUE splits at the first "="; the key must not be empty.
TEST(CliParseKeyValue, SplitsAtFirstEquals) {
  auto kv = ParseKeyValue("team=ci", "--label");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "team");
  EXPECT_EQ(kv->second, "ci");
  kv = ParseKeyValue("a=b=c", "--label");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->second, "b=c");
  kv = ParseKeyValue("empty=", "--annotation");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->second, "");
  EXPECT_EQ(ErrorOf(ParseKeyValue("=x", "--label").status()),
            "--label \"=x\" is not KEY=VALUE, e.g. team=ci");
  EXPECT_EQ(ErrorOf(ParseKeyValue("team", "--annotation").status()),
            "--annotation \"team\" is not KEY=VALUE, e.g. team=ci");
}

// Role references name the kind exactly as Kubernetes spells it.
TEST(CliParseRoleRef, AcceptsRoleAndClusterRole) {
  auto ref = ParseRoleRef("ClusterRole/view");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->kind(), v1::ROLE_KIND_CLUSTER_ROLE);
  EXPECT_EQ(ref->name(), "view");
  ref = ParseRoleRef("Role/pod-reader");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->kind(), v1::ROLE_KIND_ROLE);
  const std::string form = "\" is not Role/NAME or ClusterRole/NAME, e.g. ClusterRole/view";
  EXPECT_EQ(ErrorOf(ParseRoleRef("clusterrole/view").status()),
            "--role-ref \"clusterrole/view" + form);
  EXPECT_EQ(ErrorOf(ParseRoleRef("ClusterRole/").status()), "--role-ref \"ClusterRole/" + form);
  EXPECT_EQ(ErrorOf(ParseRoleRef("view").status()), "--role-ref \"view" + form);
  EXPECT_EQ(ErrorOf(ParseRoleRef("Role/a/b").status()),
            "--role-ref role name \"a/b\" is not a valid name: it may not contain '/'");
}

// Relative times round to a readable unit, in both directions.
TEST(CliFormatRelative, RoundsToReadableUnits) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  EXPECT_EQ(FormatRelative(now + absl::Minutes(42) + absl::Seconds(10), now), "in 42m");
  EXPECT_EQ(FormatRelative(now - absl::Minutes(192), now), "3h12m ago");
  EXPECT_EQ(FormatRelative(now - absl::Hours(2), now), "2h ago");
  EXPECT_EQ(FormatRelative(now + absl::Seconds(30), now), "in 30s");
  EXPECT_EQ(FormatRelative(now, now), "now");
  EXPECT_EQ(FormatRelative(now + absl::Hours(72), now), "in 3d");
  google::protobuf::Timestamp ts;
  ts.set_seconds(1800000000 + 600);
  EXPECT_EQ(FormatTimestamp(true, ts, now), "2027-01-15T08:10:00Z (in 10m)");
  EXPECT_EQ(FormatTimestamp(false, ts, now), "-");
}

}  // namespace
}  // namespace kcred::client
