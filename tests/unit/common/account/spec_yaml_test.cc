// Shows that the YAML account reader fills every AccountSpec field and names SOURCE:LINE:COL and
// the full key path (below the caller's path) for every kind of mistake, wherever the document
// sits.
#include "common/account/spec_yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/account/account_ref.h"

namespace kcred {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

YAML::Node Load(const std::string& text) {
  auto node = LoadYaml(text, "a.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? *node : YAML::Node();
}

// Reads the account document found at items[0] of `text`, as kcredd's config does.
absl::StatusOr<AccountDocument> ReadItem(const std::string& text) {
  return ReadAccountDocument(YamlReader("a.yaml"), Load(text)["items"][0], "accounts.items[0]");
}

std::string ErrorOf(const absl::StatusOr<AccountDocument>& doc) {
  EXPECT_FALSE(doc.ok());
  return doc.ok() ? "" : std::string(doc.status().message());
}

// Every field of the spec lands in the proto, at any depth of the enclosing document (the rules
// form of access is read in ReadAccountDocument's tests and kcred's provision file tests).
TEST(ReadAccountSpec, FillsEveryField) {
  const YAML::Node root = Load(R"(
outer:
  spec:
    scope: namespace
    access:
      role_ref: {kind: Role, name: pod-reader}
    create_namespace: false
    adopt: true
    token:
      mode: legacy
      ttl: 2h
      audiences: [one, two]
      rotate_interval: 30m
      grace: 90s
    labels: {team: ci, env: dev}
    annotations: {owner: me}
)");
  v1::AccountSpec spec;
  absl::Status s =
      ReadAccountSpec(YamlReader("a.yaml"), root["outer"]["spec"], "outer.spec", &spec);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(spec.scope(), v1::SCOPE_NAMESPACE);
  EXPECT_EQ(spec.access().role_ref().kind(), v1::ROLE_KIND_ROLE);
  EXPECT_EQ(spec.access().role_ref().name(), "pod-reader");
  EXPECT_FALSE(spec.create_namespace());
  EXPECT_TRUE(spec.adopt());
  EXPECT_EQ(spec.token().mode(), v1::TOKEN_MODE_LEGACY);
  EXPECT_EQ(FromProtoDuration(spec.token().ttl()), absl::Hours(2));
  EXPECT_THAT(spec.token().audiences(), ElementsAre("one", "two"));
  EXPECT_EQ(FromProtoDuration(spec.token().rotate_interval()), absl::Minutes(30));
  EXPECT_EQ(spec.token().rotate_fraction(), 0);
  EXPECT_EQ(FromProtoDuration(spec.token().grace()), absl::Seconds(90));
  EXPECT_THAT(spec.labels(), UnorderedElementsAre(Pair("team", "ci"), Pair("env", "dev")));
  EXPECT_THAT(spec.annotations(), UnorderedElementsAre(Pair("owner", "me")));
}

// Errors in a nested spec carry the caller's path in front of the spec's own keys.
TEST(ReadAccountSpec, ErrorsNameTheFullPath) {
  const YAML::Node root = Load("outer:\n  spec:\n    access:\n      role_ref: {kind: Role}\n");
  v1::AccountSpec spec;
  EXPECT_EQ(
      ReadAccountSpec(YamlReader("a.yaml"), root["outer"]["spec"], "outer.spec", &spec).message(),
      "a.yaml:4:17: outer.spec.access.role_ref: needs kind (Role or ClusterRole) and name");
}

// The short form and the ref mapping name the same account; has_ref says whether either was given.
TEST(ReadAccountDocument, ReadsBothFormsOfTheAccount) {
  auto doc = ReadItem(
      "items:\n- account: prod/ci/deployer\n  spec:\n    access:\n      rules:\n"
      "        - {verbs: [get, list], resources: [deployments], api_groups: [apps]}\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_TRUE(doc->has_ref);
  EXPECT_EQ(FormatAccountRef(doc->ref), "prod/ci/deployer");
  ASSERT_EQ(doc->spec.access().rules().rules_size(), 1);
  EXPECT_THAT(doc->spec.access().rules().rules(0).verbs(), ElementsAre("get", "list"));
  EXPECT_THAT(doc->spec.access().rules().rules(0).resources(), ElementsAre("deployments"));
  EXPECT_THAT(doc->spec.access().rules().rules(0).api_groups(), ElementsAre("apps"));

  doc = ReadItem(
      "items:\n- ref: {cluster: prod, namespace: ci, name: deployer}\n"
      "  spec:\n    access:\n      role_ref: {kind: ClusterRole, name: view}\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_TRUE(doc->has_ref);
  EXPECT_EQ(FormatAccountRef(doc->ref), "prod/ci/deployer");
  EXPECT_EQ(doc->spec.access().role_ref().kind(), v1::ROLE_KIND_CLUSTER_ROLE);
  EXPECT_EQ(doc->spec.access().role_ref().name(), "view");

  doc = ReadItem("items:\n- spec: {access: {token_only: true}}\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_FALSE(doc->has_ref);
}

// Each mistake in a document below a path names its position and the path from the top.
TEST(ReadAccountDocument, ReportsWhereAndWhat) {
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- account: a/b/c\n  spec: {access: {token_only: true}}\n"
                             "  prune: true\n")),
            "a.yaml:4:3: accounts.items[0].prune: unknown key; expected one of account, ref, spec");
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- account: a/b/c\n")),
            "a.yaml:2:3: accounts.items[0]: spec is required; see kcred provision --help for its "
            "shape");
  EXPECT_EQ(
      ErrorOf(ReadItem("items:\n- account: a/b/c\n  ref: {cluster: a, namespace: b, name: c}\n"
                       "  spec: {access: {token_only: true}}\n")),
      "a.yaml:3:8: accounts.items[0].ref: account and ref name the same thing; keep one");
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- account: a/B/c\n  spec: {access: {token_only: true}}\n")),
            "a.yaml:2:12: accounts.items[0].account: account \"a/B/c\": namespace \"B\" is not a "
            "valid DNS-1123 label: it must consist of lower case alphanumeric characters or '-' "
            "(e.g. \"my-name\" or \"123-abc\")");
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- ref: {cluster: a, name: c}\n"
                             "  spec: {access: {token_only: true}}\n")),
            "a.yaml:2:8: accounts.items[0].ref: namespace is required (cluster, namespace, name)");
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- account: a/b/c\n  spec:\n    access:\n      rules:\n"
                             "        - verbs: [get]\n          resources: [pods]\n"
                             "          non_resource_urls: [/x]\n")),
            "a.yaml:6:11: accounts.items[0].spec.access.rules[0]: resources and non_resource_urls "
            "are exclusive; use two rules");
  EXPECT_EQ(
      ErrorOf(ReadItem("items:\n- account: a/b/c\n  spec:\n    access: {token_only: false}\n")),
      "a.yaml:4:26: accounts.items[0].spec.access.token_only: only true is meaningful; use "
      "rules or role_ref for other access");
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- account: a/b/c\n  spec:\n    access: {token_only: true}\n"
                             "    token: {rotate_interval: 0s}\n")),
            "a.yaml:5:30: accounts.items[0].spec.token.rotate_interval: must be longer than 0s, "
            "e.g. 30m");
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- account: a/b/c\n  spec:\n    access: {token_only: true}\n"
                             "    token: {mode: forever}\n")),
            "a.yaml:5:19: accounts.items[0].spec.token.mode: \"forever\" is not a token mode; use "
            "bound or legacy");
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- account: a/b/c\n  spec:\n    access: {token_only: true}\n"
                             "    labels: [team]\n")),
            "a.yaml:5:13: accounts.items[0].spec.labels: expected a mapping of strings, e.g. "
            "{team: ci}");
  EXPECT_EQ(ErrorOf(ReadItem("items:\n- just-a-string\n")),
            "a.yaml:2:3: accounts.items[0]: expected a mapping with keys account, ref, spec");
}

}  // namespace
}  // namespace kcred
