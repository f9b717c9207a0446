// The Kubernetes objects kcred makes (kube_objects.h), and the helpers it reads objects with.
#include "daemon/broker/kube_objects.h"

#include <string>

#include "absl/strings/cord.h"
#include "daemon/broker/object_names.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kcred::broker {
namespace {

using kube::Resource;
using nlohmann::json;

const AccountKey kKey{"dev", "automation", "ci-bot"};

v1::AccountSpec LabelledSpec() {
  v1::AccountSpec spec;
  (*spec.mutable_labels())["team"] = "ci";
  (*spec.mutable_annotations())["example.com/owner"] = "ci@example.com";
  return spec;
}

// Resource rules default to the core API group; non-resource rules carry only their URLs.
TEST(KubeObjectsTest, RoleBodyIsKubernetesPolicyRules) {
  v1::RuleSet rules;
  v1::PolicyRule* pods = rules.add_rules();
  pods->add_verbs("get");
  pods->add_resources("pods");
  pods->add_resource_names("web");
  v1::PolicyRule* deployments = rules.add_rules();
  deployments->add_verbs("list");
  deployments->add_api_groups("apps");
  deployments->add_resources("deployments");
  v1::PolicyRule* health = rules.add_rules();
  health->add_verbs("get");
  health->add_non_resource_urls("/healthz");

  const json body = RoleBody(rules);
  EXPECT_EQ(body["rules"][0], json({{"verbs", {"get"}},
                                    {"apiGroups", {""}},
                                    {"resources", {"pods"}},
                                    {"resourceNames", {"web"}}}));
  EXPECT_EQ(body["rules"][1]["apiGroups"], json({"apps"}));
  EXPECT_FALSE(body["rules"][1].contains("resourceNames"));
  EXPECT_EQ(body["rules"][2], json({{"verbs", {"get"}}, {"nonResourceURLs", {"/healthz"}}}));
}

// A binding names its role and the account's ServiceAccount.
TEST(KubeObjectsTest, BindingBodyBindsTheServiceAccount) {
  const json body = BindingBody(Resource::kClusterRole, "view", kKey);
  EXPECT_EQ(
      body["roleRef"],
      json({{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "view"}}));
  EXPECT_EQ(
      body["subjects"],
      json::array({{{"kind", "ServiceAccount"}, {"name", "ci-bot"}, {"namespace", "automation"}}}));
}

// A bound token's anchor is an Opaque Secret; a legacy token's Secret names its ServiceAccount.
// Both carry the account's labels, the spec's, and the generation.
TEST(KubeObjectsTest, TokenSecretsOfBothModes) {
  const json anchor = TokenSecret(kKey, LabelledSpec(), 3, v1::TOKEN_MODE_BOUND);
  EXPECT_EQ(anchor["metadata"]["name"], "ci-bot-kcred-3");
  EXPECT_EQ(anchor["metadata"]["namespace"], "automation");
  EXPECT_EQ(anchor["type"], "Opaque");
  EXPECT_EQ(anchor["metadata"]["labels"][kGenerationLabel], "3");
  EXPECT_EQ(anchor["metadata"]["labels"][kManagedByLabel], kManagedByValue);
  EXPECT_EQ(anchor["metadata"]["labels"][kAccountLabel], "ci-bot");
  EXPECT_EQ(anchor["metadata"]["labels"]["team"], "ci");
  EXPECT_EQ(anchor["metadata"]["annotations"], json({{"example.com/owner", "ci@example.com"}}));
  EXPECT_TRUE(OwnedByAccount(anchor, "dev", "automation", "ci-bot"));

  const json legacy = TokenSecret(kKey, v1::AccountSpec(), 1, v1::TOKEN_MODE_LEGACY);
  EXPECT_EQ(legacy["type"], "kubernetes.io/service-account-token");
  EXPECT_EQ(legacy["type"], TokenSecretType(v1::TOKEN_MODE_LEGACY));
  EXPECT_EQ(legacy["metadata"]["annotations"]["kubernetes.io/service-account.name"], "ci-bot");
}

// The namespace kcred creates is kcred's but not the account's: it outlives the account.
TEST(KubeObjectsTest, NamespaceIsNotLabelledWithTheAccount) {
  const json ns = NamespaceObject(kKey, LabelledSpec());
  EXPECT_EQ(ns["metadata"]["name"], "automation");
  EXPECT_EQ(ns["metadata"]["labels"][kManagedByLabel], kManagedByValue);
  EXPECT_EQ(ns["metadata"]["labels"][kCreatedForLabel], "ci-bot");
  EXPECT_EQ(ns["metadata"]["labels"]["team"], "ci");
  EXPECT_FALSE(ns["metadata"]["labels"].contains(kAccountLabel));
  EXPECT_TRUE(ManagedByKcred(ns));
  EXPECT_FALSE(OwnedByAccount(ns, "dev", "automation", "ci-bot"));
  EXPECT_FALSE(NamespaceObject(kKey, v1::AccountSpec())["metadata"].contains("annotations"));
}

// ApplyMetadata sets kcred's and the spec's labels, drops what the previous spec had and the new
// one has not, and leaves the object's other labels and annotations alone.
TEST(KubeObjectsTest, ApplyMetadataKeepsForeignKeysAndDropsOldSpecKeys) {
  json object = {{"metadata",
                  {{"name", "ci-bot"},
                   {"labels", {{"owner", "ops"}, {"old", "x"}}},
                   {"annotations", {{"old.example.com/a", "x"}}}}}};
  v1::AccountSpec previous;
  (*previous.mutable_labels())["old"] = "x";
  (*previous.mutable_annotations())["old.example.com/a"] = "x";
  v1::AccountSpec spec;
  (*spec.mutable_labels())["team"] = "ci";
  ApplyMetadata(object, kKey, spec, &previous);
  const json& labels = object["metadata"]["labels"];
  EXPECT_EQ(labels["owner"], "ops");
  EXPECT_EQ(labels["team"], "ci");
  EXPECT_FALSE(labels.contains("old"));
  EXPECT_TRUE(OwnedByAccount(object, "dev", "automation", "ci-bot"));
  EXPECT_FALSE(object["metadata"].contains("annotations"));  // none left

  // Without a previous spec nothing is dropped.
  json fresh = {{"metadata", {{"labels", {{"old", "x"}}}}}};
  ApplyMetadata(fresh, kKey, spec, nullptr);
  EXPECT_EQ(fresh["metadata"]["labels"]["old"], "x");
}

// Kinds kcred records map back to their resources; an unknown one is DATA_LOSS.
TEST(KubeObjectsTest, ResourceOfKindRoundTrips) {
  for (Resource r :
       {Resource::kNamespace, Resource::kServiceAccount, Resource::kSecret, Resource::kRole,
        Resource::kClusterRole, Resource::kRoleBinding, Resource::kClusterRoleBinding}) {
    absl::StatusOr<Resource> back = ResourceOfKind(KindOf(r));
    ASSERT_TRUE(back.ok()) << KindOf(r);
    EXPECT_EQ(*back, r);
  }
  EXPECT_EQ(ResourceOfKind("Pod").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ObjectString(Resource::kRole, "automation", "ci-bot"), "Role automation/ci-bot");
  EXPECT_EQ(ObjectString(Resource::kClusterRole, "", "view"), "ClusterRole view");
  const v1::ObjectReference ref = MakeRef(Resource::kClusterRoleBinding, "", "x", "uid-1");
  EXPECT_EQ(ref.api_version(), "rbac.authorization.k8s.io/v1");
  EXPECT_EQ(ref.kind(), "ClusterRoleBinding");
  EXPECT_EQ(ref.uid(), "uid-1");
}

// Wrap prefixes the message with what kcred was doing and keeps the code and the payloads.
TEST(KubeObjectsTest, WrapKeepsCodeAndPayloads) {
  absl::Status status = absl::InvalidArgumentError("rules[0]: bad");
  status.SetPayload("type.example/reason", absl::Cord("Invalid"));
  const absl::Status wrapped = Wrap(status, "creating Role automation/ci-bot");
  EXPECT_EQ(wrapped.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wrapped.message(), "creating Role automation/ci-bot: rules[0]: bad");
  EXPECT_EQ(wrapped.GetPayload("type.example/reason"), absl::Cord("Invalid"));
  EXPECT_TRUE(Wrap(absl::OkStatus(), "anything").ok());
}

// MetaString reads string metadata fields and nothing else.
TEST(KubeObjectsTest, MetaStringReadsStringsOnly) {
  const json object = {{"metadata", {{"name", "x"}, {"generation", 3}}}};
  EXPECT_EQ(MetaString(object, "name"), "x");
  EXPECT_EQ(MetaString(object, "generation"), "");
  EXPECT_EQ(MetaString(object, "uid"), "");
  EXPECT_EQ(MetaString(json::array(), "name"), "");
}

}  // namespace
}  // namespace kcred::broker
