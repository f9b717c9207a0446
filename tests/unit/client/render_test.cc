#include "client/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kcred::client {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);  // 2027-01-15T08:00:00Z

google::protobuf::Timestamp At(absl::Duration from_now) {
  google::protobuf::Timestamp t;
  t.set_seconds(absl::ToUnixSeconds(kNow + from_now));
  return t;
}

v1::Account SampleAccount() {
  v1::Account a;
  a.mutable_ref()->set_cluster("dev");
  a.mutable_ref()->set_namespace_("automation");
  a.mutable_ref()->set_name("ci-bot");
  a.set_uid("u-1");
  a.set_origin(v1::ORIGIN_API);
  a.mutable_spec()->set_scope(v1::SCOPE_CLUSTER);
  v1::PolicyRule* rule = a.mutable_spec()->mutable_access()->mutable_rules()->add_rules();
  rule->add_verbs("get");
  rule->add_verbs("list");
  rule->add_resources("pods");
  rule->add_api_groups("");
  rule->add_api_groups("apps");
  a.mutable_spec()->mutable_token()->set_rotate_fraction(0.8);
  a.mutable_spec()->mutable_token()->mutable_ttl()->set_seconds(3600);
  (*a.mutable_spec()->mutable_labels())["team"] = "ci";
  (*a.mutable_spec()->mutable_labels())["env"] = "dev";
  v1::AccountStatus* s = a.mutable_status();
  s->set_generation(3);
  s->set_token_fingerprint("sha256:0123456789abcdef");
  *s->mutable_issue_time() = At(-absl::Minutes(18));
  *s->mutable_expire_time() = At(absl::Minutes(42));
  *s->mutable_next_rotation_time() = At(absl::Minutes(30));
  v1::Condition* ready = s->add_conditions();
  ready->set_type(v1::CONDITION_TYPE_READY);
  ready->set_status(v1::CONDITION_STATUS_TRUE);
  ready->set_reason("TokenIssued");
  v1::ObjectReference* sa = s->add_managed_objects();
  sa->set_kind("ServiceAccount");
  sa->set_namespace_("automation");
  sa->set_name("ci-bot");
  v1::ObjectReference* role = s->add_managed_objects();
  role->set_kind("ClusterRole");
  role->set_name("kcred-ci-bot");
  return a;
}

// Columns line up on the widest cell, three spaces apart, with no trailing blanks.
TEST(CliRenderTable, AlignsColumns) {
  EXPECT_EQ(RenderTable({"NAME", "X"}, {{"a", "1"}, {"longer-name", "22"}, {"b", ""}}),
            "NAME          X\n"
            "a             1\n"
            "longer-name   22\n"
            "b\n");
}

// kcred list's table shows one account per row with relative expiry and readiness.
TEST(CliAccountsTable, OneRowPerAccount) {
  v1::Account legacy;
  legacy.mutable_ref()->set_cluster("prod");
  legacy.mutable_ref()->set_namespace_("legacy");
  legacy.mutable_ref()->set_name("old-tool");
  legacy.mutable_spec()->mutable_access()->mutable_token_only();
  legacy.mutable_spec()->mutable_token()->set_mode(v1::TOKEN_MODE_LEGACY);
  legacy.mutable_status()->set_generation(1);
  EXPECT_EQ(AccountsTable({SampleAccount(), legacy}, kNow),
            "CLUSTER   NAMESPACE    NAME       SCOPE       ACCESS       GENERATION   EXPIRES   "
            "READY\n"
            "dev       automation   ci-bot     cluster     rules(1)     3            in 42m    "
            "True\n"
            "prod      legacy       old-tool   namespace   token-only   1            never     "
            "-\n");
}

// kcred clusters' table says which clusters answer and why not.
TEST(CliClustersTable, ShowsReachabilityAndErrors) {
  v1::ListClustersResponse r;
  v1::Cluster* up = r.add_clusters();
  up->set_name("dev");
  up->set_server("https://127.0.0.1:6443");
  up->set_reachable(true);
  up->set_server_version("v1.32.0");
  up->set_account_count(4);
  v1::Cluster* down = r.add_clusters();
  down->set_name("prod");
  down->set_server("https://prod:6443");
  down->set_error("connection refused");
  EXPECT_EQ(
      ClustersTable(r),
      "NAME   SERVER                   REACHABLE   VERSION   ACCOUNTS   ERROR\n"
      "dev    https://127.0.0.1:6443   yes         v1.32.0   4          -\n"
      "prod   https://prod:6443        no          -         0          connection refused\n");
}

// The summary of kcred get shows spec and status in readable lines.
TEST(CliAccountSummary, ShowsSpecAndStatus) {
  const std::string text = AccountSummary(SampleAccount(), kNow);
  EXPECT_THAT(text, HasSubstr("Account:        dev/automation/ci-bot\n"));
  EXPECT_THAT(text, HasSubstr("Scope:          cluster\n"));
  EXPECT_THAT(text, HasSubstr("Access:         rules(1)\n  - verbs=get,list resources=pods "
                              "api_groups=\"\",apps\n"));
  EXPECT_THAT(text, HasSubstr("Token policy:   mode default, ttl 1h, rotate at 80% of ttl, "
                              "grace default\n"));
  EXPECT_THAT(text, HasSubstr("Labels:         env=dev, team=ci\n"));
  EXPECT_THAT(text, HasSubstr("Generation:     3\n"));
  EXPECT_THAT(text, HasSubstr("Fingerprint:    sha256:0123456789abcdef\n"));
  EXPECT_THAT(text, HasSubstr("Issued:         2027-01-15T07:42:00Z (18m ago)\n"));
  EXPECT_THAT(text, HasSubstr("Expires:        2027-01-15T08:42:00Z (in 42m)\n"));
  EXPECT_THAT(text, HasSubstr("Next rotation:  2027-01-15T08:30:00Z (in 30m)\n"));
  EXPECT_THAT(text, HasSubstr("Last error:     none\n"));
  EXPECT_THAT(text, HasSubstr("Conditions:\n  Ready=True TokenIssued\n"));
  EXPECT_THAT(text, HasSubstr("Managed objects:\n  ServiceAccount automation/ci-bot\n  "
                              "ClusterRole kcred-ci-bot\n"));
}

// A missing expiry reads as "not issued yet" or, for legacy tokens, "never".
TEST(CliAccountSummary, ExplainsMissingExpiry) {
  v1::Account a = SampleAccount();
  a.mutable_status()->clear_expire_time();
  a.mutable_status()->set_generation(0);
  EXPECT_THAT(AccountSummary(a, kNow), HasSubstr("Expires:        no token issued yet\n"));
  a.mutable_status()->set_generation(1);
  a.mutable_spec()->mutable_token()->set_mode(v1::TOKEN_MODE_LEGACY);
  EXPECT_THAT(AccountSummary(a, kNow), HasSubstr("Expires:        never (legacy token)\n"));
}

// Provision reports start with the outcome and list each object change.
TEST(CliProvisionReport, ListsOutcomeAndChanges) {
  v1::ProvisionAccountResponse r;
  *r.mutable_account() = SampleAccount();
  r.set_outcome(v1::PROVISION_OUTCOME_CREATED);
  v1::ObjectChange* c = r.add_changes();
  *c->mutable_object() = SampleAccount().status().managed_objects(0);
  c->set_action(v1::CHANGE_ACTION_CREATED);
  c = r.add_changes();
  *c->mutable_object() = SampleAccount().status().managed_objects(1);
  c->set_action(v1::CHANGE_ACTION_ADOPTED);
  const std::string text = ProvisionReport(r, false, kNow);
  EXPECT_EQ(text.substr(0, text.find("\n\n") + 2),
            "CREATED dev/automation/ci-bot\n"
            "  created ServiceAccount automation/ci-bot\n"
            "  adopted ClusterRole kcred-ci-bot\n\n");
  EXPECT_THAT(text, HasSubstr("Generation:     3\n"));
  r.set_outcome(v1::PROVISION_OUTCOME_UNCHANGED);
  r.clear_changes();
  const std::string dry = ProvisionReport(r, true, kNow);
  EXPECT_EQ(
      dry.substr(0, dry.find("\n\n") + 1),
      "dry run, nothing was changed; kcredd would report:\nUNCHANGED dev/automation/ci-bot\n");
}

// JSON output uses the proto field names and parses back.
TEST(CliRenderMessage, JsonUsesProtoFieldNames) {
  auto json = RenderMessage(SampleAccount(), OutputFormat::kJson);
  ASSERT_TRUE(json.ok()) << json.status();
  auto parsed = nlohmann::json::parse(*json);
  EXPECT_EQ(parsed["ref"]["namespace"], "automation");
  EXPECT_EQ(parsed["status"]["token_fingerprint"], "sha256:0123456789abcdef");
  EXPECT_EQ(parsed["spec"]["scope"], "SCOPE_CLUSTER");
  EXPECT_EQ(parsed["status"]["generation"], "3");
}

// YAML output is block style, and strings YAML would misread stay strings.
TEST(CliJsonToYaml, QuotesAmbiguousStrings) {
  auto yaml =
      JsonToYaml(R"({"a":{"b":["x","true",""]},"n":3,"s":"123","t":true,"e":{},"l":[],"z":null})");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  EXPECT_EQ(*yaml,
            "a:\n"
            "  b:\n"
            "    - x\n"
            "    - \"true\"\n"
            "    - \"\"\n"
            "e: {}\n"
            "l: []\n"
            "n: 3\n"
            "s: \"123\"\n"
            "t: true\n"
            "z: ~\n");
  EXPECT_EQ(JsonToYaml("{").status().code(), absl::StatusCode::kInvalidArgument);
}

// Any string survives the trip through YAML as the same string.
TEST(CliJsonToYaml, RoundTripsTrickyStrings) {
  const std::vector<std::string> strings = {
      "a: b",  "#x",     "- x",   "x #y", "null",        "Yes",   "0x1f",   "1e3", "-",
      "'q'",   "\"dq\"", "{a}",   "[b]",  "multi\nline", " lead", "trail ", "@at", "`tick",
      "*star", "&amp",   "!bang", "%p",   "~",           "",      "NO",     ".5",  "ünïcode"};
  nlohmann::json json = nlohmann::json::object();
  for (std::size_t i = 0; i < strings.size(); ++i) json[absl::StrCat("k", i)] = strings[i];
  auto yaml = JsonToYaml(json.dump());
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  const YAML::Node root = YAML::Load(*yaml);
  for (std::size_t i = 0; i < strings.size(); ++i) {
    const YAML::Node value = root[absl::StrCat("k", i)];
    ASSERT_TRUE(value.IsScalar()) << strings[i];
    EXPECT_EQ(value.Scalar(), strings[i]) << *yaml;
    // A plain (untagged) scalar would be resolved by type; quoted ones carry the "!" tag.
    if (value.Tag() != "!") {
      double d;
      EXPECT_FALSE(absl::SimpleAtod(strings[i], &d)) << strings[i] << " left unquoted";
    }
  }
}

// Only json and yaml are output formats.
TEST(CliParseOutputFormat, AcceptsJsonAndYaml) {
  EXPECT_EQ(*ParseOutputFormat(""), OutputFormat::kText);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("yaml"), OutputFormat::kYaml);
  EXPECT_EQ(ParseOutputFormat("wide").status().message(),
            "-o \"wide\" is not an output format; use json or yaml (or omit -o)");
}

}  // namespace
}  // namespace kcred::client
