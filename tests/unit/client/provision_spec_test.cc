#include "client/provision_spec.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "client/arguments.h"

namespace kcred::client {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

absl::StatusOr<v1::AccountSpec> FromFlags(const std::vector<std::string>& argv) {
  ParsedArgs parsed;
  std::string error;
  if (!ParseFlags(argv, ProvisionSpecFlags(), &parsed, &error)) {
    return absl::InvalidArgumentError("flag parse: " + error);
  }
  return BuildSpecFromFlags(parsed);
}

std::string ErrorOf(const absl::Status& s) { return std::string(s.message()); }

// Every flag lands in its AccountSpec field.
TEST(CliBuildSpecFromFlags, FillsEveryField) {
  auto spec = FromFlags({"--rule",
                         "get,list:pods,configmaps",
                         "--rule",
                         "get:deployments:apps",
                         "--cluster-scope",
                         "--ttl",
                         "2h",
                         "--rotate-every",
                         "30m",
                         "--grace",
                         "5m",
                         "--mode",
                         "legacy",
                         "--audience",
                         "a1",
                         "--audience",
                         "a2",
                         "--create-namespace",
                         "--adopt",
                         "--label",
                         "team=ci",
                         "--label",
                         "env=dev",
                         "--annotation",
                         "owner=me@example.com"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->scope(), v1::SCOPE_CLUSTER);
  ASSERT_EQ(spec->access().rules().rules_size(), 2);
  EXPECT_THAT(spec->access().rules().rules(0).resources(), ElementsAre("pods", "configmaps"));
  EXPECT_THAT(spec->access().rules().rules(1).api_groups(), ElementsAre("apps"));
  EXPECT_EQ(spec->token().mode(), v1::TOKEN_MODE_LEGACY);
  EXPECT_EQ(FromProtoDuration(spec->token().ttl()), absl::Hours(2));
  EXPECT_EQ(FromProtoDuration(spec->token().rotate_interval()), absl::Minutes(30));
  EXPECT_EQ(FromProtoDuration(spec->token().grace()), absl::Minutes(5));
  EXPECT_THAT(spec->token().audiences(), ElementsAre("a1", "a2"));
  EXPECT_TRUE(spec->create_namespace());
  EXPECT_TRUE(spec->adopt());
  EXPECT_THAT(spec->labels(), UnorderedElementsAre(Pair("team", "ci"), Pair("env", "dev")));
  EXPECT_THAT(spec->annotations(), UnorderedElementsAre(Pair("owner", "me@example.com")));
}

// Only the flags given are set, so kcredd's defaults apply to the rest.
TEST(CliBuildSpecFromFlags, LeavesDefaultsUnset) {
  auto spec = FromFlags({"--role-ref", "ClusterRole/view", "--rotate-at", "0.75"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->scope(), v1::SCOPE_UNSPECIFIED);
  EXPECT_EQ(spec->access().role_ref().name(), "view");
  EXPECT_EQ(spec->token().mode(), v1::TOKEN_MODE_UNSPECIFIED);
  EXPECT_FALSE(spec->token().has_ttl());
  EXPECT_FALSE(spec->token().has_grace());
  EXPECT_DOUBLE_EQ(spec->token().rotate_fraction(), 0.75);

  spec = FromFlags({"--token-only"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->access().has_token_only());
}

// Contradictory or malformed flags are rejected, naming the flag and the fix.
TEST(CliBuildSpecFromFlags, RejectsBadFlags) {
  EXPECT_EQ(ErrorOf(FromFlags({"--ttl", "1h"}).status()),
            "no access given: use --rule (repeatable), --role-ref or --token-only (or -f FILE)");
  EXPECT_EQ(ErrorOf(FromFlags({"--rule", "get:pods", "--token-only"}).status()),
            "--rule, --role-ref and --token-only are exclusive: give one kind of access");
  EXPECT_EQ(ErrorOf(FromFlags({"--role-ref", "Role/edit", "--cluster-scope"}).status()),
            "--role-ref Role/edit is a namespaced Role, which cannot be bound cluster-wide; drop "
            "--cluster-scope or bind a ClusterRole/NAME");
  EXPECT_EQ(ErrorOf(FromFlags({"--token-only", "--mode", "long"}).status()),
            "--mode \"long\" is not a token mode; use bound or legacy");
  EXPECT_EQ(ErrorOf(FromFlags({"--token-only", "--ttl", "0s"}).status()),
            "--ttl must be longer than 0s, e.g. 1h");
  EXPECT_EQ(ErrorOf(FromFlags({"--token-only", "--ttl", "1x"}).status()),
            "--ttl \"1x\" is not a duration; write a number with a unit, e.g. 90s, 30m, 1h30m");
  EXPECT_EQ(ErrorOf(FromFlags({"--token-only", "--rotate-at", "1.5"}).status()),
            "--rotate-at \"1.5\" is not a fraction between 0 and 1 (exclusive), e.g. 0.8");
  EXPECT_EQ(
      ErrorOf(FromFlags({"--token-only", "--rotate-at", "0.8", "--rotate-every", "1m"}).status()),
      "--rotate-at and --rotate-every are exclusive: rotate at a fraction of the ttl or at "
      "a fixed interval");
  EXPECT_EQ(ErrorOf(FromFlags({"--token-only", "--label", "a=1", "--label", "a=2"}).status()),
            "--label a is given twice; give each key once");
  EXPECT_EQ(ErrorOf(FromFlags({"--token-only", "--annotation", "x"}).status()),
            "--annotation \"x\" is not KEY=VALUE, e.g. team=ci");
  EXPECT_EQ(ErrorOf(FromFlags({"--rule", "get"}).status()),
            "--rule \"get\": expected VERBS:RESOURCES[:APIGROUPS[:NAMES]], e.g. "
            "'get,list:pods,configmaps' or 'get:deployments:apps'");
}

constexpr char kFullFile[] = R"(account: dev/automation/ci-bot
spec:
  scope: cluster
  access:
    rules:
      - verbs: [get, list]
        resources: [pods]
        api_groups: [""]
        resource_names: [one]
      - verbs: [get]
        non_resource_urls: [/healthz]
  create_namespace: true
  adopt: true
  token:
    mode: bound
    ttl: 1h
    audiences: [api]
    rotate_fraction: 0.5
    grace: 0s
  labels: {team: ci}
  annotations:
    owner: me
)";

// A complete file fills the ref and every spec field.
TEST(CliParseProvisionFile, ReadsACompleteFile) {
  auto file = ParseProvisionFile(kFullFile, "ci.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->has_ref);
  EXPECT_EQ(FormatAccountRef(file->ref), "dev/automation/ci-bot");
  const v1::AccountSpec& spec = file->spec;
  EXPECT_EQ(spec.scope(), v1::SCOPE_CLUSTER);
  ASSERT_EQ(spec.access().rules().rules_size(), 2);
  EXPECT_THAT(spec.access().rules().rules(0).verbs(), ElementsAre("get", "list"));
  EXPECT_THAT(spec.access().rules().rules(0).api_groups(), ElementsAre(""));
  EXPECT_THAT(spec.access().rules().rules(0).resource_names(), ElementsAre("one"));
  EXPECT_THAT(spec.access().rules().rules(1).non_resource_urls(), ElementsAre("/healthz"));
  EXPECT_TRUE(spec.create_namespace());
  EXPECT_TRUE(spec.adopt());
  EXPECT_EQ(spec.token().mode(), v1::TOKEN_MODE_BOUND);
  EXPECT_EQ(FromProtoDuration(spec.token().ttl()), absl::Hours(1));
  EXPECT_THAT(spec.token().audiences(), ElementsAre("api"));
  EXPECT_DOUBLE_EQ(spec.token().rotate_fraction(), 0.5);
  EXPECT_TRUE(spec.token().has_grace());
  EXPECT_EQ(FromProtoDuration(spec.token().grace()), absl::ZeroDuration());
  EXPECT_THAT(spec.labels(), UnorderedElementsAre(Pair("team", "ci")));
  EXPECT_THAT(spec.annotations(), UnorderedElementsAre(Pair("owner", "me")));
}

// The flags and a file describing the same account produce the same spec.
TEST(CliParseProvisionFile, MatchesTheEquivalentFlags) {
  auto file = ParseProvisionFile(R"(ref: {cluster: dev, namespace: team-a, name: viewer}
spec:
  access:
    role_ref: {kind: ClusterRole, name: view}
  token: {ttl: 2h, rotate_interval: 30m}
  labels: {team: a}
)",
                                 "viewer.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(FormatAccountRef(file->ref), "dev/team-a/viewer");
  auto flags = FromFlags({"--role-ref", "ClusterRole/view", "--ttl", "2h", "--rotate-every", "30m",
                          "--label", "team=a"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(file->spec, *flags))
      << file->spec.DebugString() << "\nvs\n"
      << flags->DebugString();
}

// A file may leave the account to the command line; token_only is a boolean.
TEST(CliParseProvisionFile, AccountIsOptional) {
  auto file = ParseProvisionFile("spec:\n  access:\n    token_only: true\n", "t.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_FALSE(file->has_ref);
  EXPECT_TRUE(file->spec.access().has_token_only());
}

// Each mistake is reported at FILE:LINE:COL with the key path.
TEST(CliParseProvisionFile, ReportsWhereAndWhat) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"",
       "f.yaml: empty; expected a document with account (or ref) and spec; see kcred "
       "provision --help"},
      {"acount: dev/a/b\nspec: {}\n",
       "f.yaml:1:1: acount: unknown key; expected one of account, ref, spec"},
      {"account: dev/a/b\n",
       "f.yaml:1:1: spec is required; see kcred provision --help for its "
       "shape"},
      {"account: dev/a\nspec: {}\n",
       "f.yaml:1:10: account: account \"dev/a\" is not CLUSTER/NAMESPACE/NAME (three non-empty "
       "parts separated by \"/\"), e.g. dev/automation/ci-bot"},
      {"account: dev/a/b\nspec:\n  access:\n    token_only: true\n  token:\n    ttl: 1h\n    "
       "rotate: 0.8\n",
       "f.yaml:7:5: spec.token.rotate: unknown key; expected one of mode, ttl, audiences, "
       "rotate_fraction, rotate_interval, grace"},
      {"account: dev/a/b\nspec:\n  scope: global\n  access: {token_only: true}\n",
       "f.yaml:3:10: spec.scope: \"global\" is not a scope; use namespace or cluster"},
      {"account: dev/a/b\nspec:\n  scope: cluster\n",
       "f.yaml:3:3: spec: access is required (rules, role_ref or token_only); see kcred "
       "provision --help"},
      {"account: dev/a/b\nspec:\n  access:\n    token_only: true\n    role_ref: {kind: Role, "
       "name: x}\n",
       "f.yaml:4:5: spec.access: give exactly one of rules, role_ref, token_only"},
      {"account: dev/a/b\nspec:\n  access:\n    rules:\n      - verbs: [get]\n",
       "f.yaml:5:9: spec.access.rules[0]: needs resources (e.g. resources: [pods]) or "
       "non_resource_urls"},
      {"account: dev/a/b\nspec:\n  access:\n    rules:\n      - verbs: [get, \"\"]\n        "
       "resources: [pods]\n",
       "f.yaml:5:22: spec.access.rules[0].verbs[1]: must not be empty"},
      {"account: dev/a/b\nspec:\n  access:\n    role_ref: {kind: Group, name: x}\n",
       "f.yaml:4:22: spec.access.role_ref.kind: \"Group\" is not Role or ClusterRole"},
      {"account: dev/a/b\nspec:\n  access: {token_only: true}\n  token:\n    ttl: soon\n",
       "f.yaml:5:10: spec.token.ttl: duration \"soon\" is not a duration; write a number with a "
       "unit, e.g. 90s, 30m, 1h30m"},
      {"account: dev/a/b\nspec:\n  access: {token_only: true}\n  token:\n    rotate_fraction: "
       "0.5\n    rotate_interval: 1m\n",
       "f.yaml:6:22: spec.token.rotate_interval: rotate_fraction and rotate_interval are "
       "exclusive; keep one"},
      {"account: dev/a/b\nspec:\n  access: {token_only: true}\n  adopt: yes please\n",
       "f.yaml:4:10: spec.adopt: expected true or false"},
      {"ref: {cluster: dev, namespace: a}\nspec: {access: {token_only: true}}\n",
       "f.yaml:1:6: ref: name is required (cluster, namespace, name)"},
      {"account: dev/a/b\nspec: [1]\n",
       "f.yaml:2:7: spec: expected a mapping with keys scope, access, create_namespace, adopt, "
       "token, labels, annotations"},
      {"a: [\n", "f.yaml:2:1: not valid YAML: end of sequence flow not found"},
      {"spec: {}\n---\nspec: {}\n",
       "f.yaml: holds 2 YAML documents; give one account per file (run kcred provision once per "
       "file)"},
  };
  for (const Case& c : cases) {
    auto file = ParseProvisionFile(c.text, "f.yaml");
    ASSERT_FALSE(file.ok()) << c.text;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ErrorOf(file.status()), c.error) << c.text;
  }
}

}  // namespace
}  // namespace kcred::client
