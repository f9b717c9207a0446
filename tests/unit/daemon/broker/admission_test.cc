// Shows that admission refuses what a cluster's policy forbids, whoever asks, naming the limit and
// its config key, and that the defaults admit ordinary namespace-scoped accounts only.
#include "daemon/broker/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/account/account_ref.h"

namespace kcred::broker {
namespace {

using ::testing::HasSubstr;

config::ClusterConfig Cluster() {
  config::ClusterConfig cluster;
  cluster.name = "dev";
  cluster.audiences = {"https://kubernetes.default.svc"};
  return cluster;
}

v1::AccountRef Ref(const std::string& ns = "automation", const std::string& name = "ci-bot") {
  v1::AccountRef ref;
  ref.set_cluster("dev");
  ref.set_namespace_(ns);
  ref.set_name(name);
  return ref;
}

v1::AccountSpec Rules(std::vector<std::string> verbs, std::vector<std::string> resources,
                      std::vector<std::string> groups = {}) {
  v1::AccountSpec spec;
  v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
  for (auto& v : verbs) rule->add_verbs(v);
  for (auto& r : resources) rule->add_resources(r);
  for (auto& g : groups) rule->add_api_groups(g);
  return spec;
}

absl::Status AdmitSpec(const v1::AccountSpec& spec,
                       const config::ClusterConfig& cluster = Cluster(),
                       const v1::AccountRef& ref = Ref()) {
  return Admit(ref, spec, cluster, absl::Minutes(5));
}

void ExpectDenied(const absl::Status& status, const std::string& key,
                  absl::StatusCode code = absl::StatusCode::kPermissionDenied) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("clusters[\"dev\"].policy.", key)));
}

// The README's example (get, list, watch on pods, services, configmaps) passes the defaults.
TEST(AdmissionTest, DefaultsAdmitOrdinaryRules) {
  EXPECT_TRUE(AdmitSpec(Rules({"get", "list", "watch"}, {"pods", "services", "configmaps"})).ok());
  EXPECT_TRUE(AdmitSpec(Rules({"get"}, {"secrets"})).ok());  // a namespace's Secrets are fine
  EXPECT_TRUE(AdmitSpec(Rules({"create", "delete"}, {"deployments"}, {"apps"})).ok());
}

// `*:*:*`, escalate, bind and impersonate are refused by default; a wildcard that would grant a
// forbidden verb is refused too.
TEST(AdmissionTest, ForbiddenVerbsResourcesAndWildcards) {
  ExpectDenied(AdmitSpec(Rules({"*"}, {"*"}, {"*"})), "forbidden.verbs");
  ExpectDenied(AdmitSpec(Rules({"get"}, {"*"})), "forbidden.resources");
  ExpectDenied(AdmitSpec(Rules({"get"}, {"pods"}, {"*"})), "forbidden.api_groups");
  for (const char* verb : {"escalate", "bind", "impersonate"}) {
    absl::Status s = AdmitSpec(Rules({"get", verb}, {"roles"}, {"rbac.authorization.k8s.io"}));
    ExpectDenied(s, "forbidden.verbs");
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("verb \"", verb, "\" is forbidden")));
    EXPECT_THAT(s.message(), HasSubstr("spec.access.rules.rules[0]"));
  }
  // With "*" no longer forbidden, "*" still covers escalate, which is.
  config::ClusterConfig wide = Cluster();
  wide.policy.forbidden.verbs = {"escalate"};
  absl::Status s = AdmitSpec(Rules({"*"}, {"pods"}), wide);
  ExpectDenied(s, "forbidden.verbs");
  EXPECT_THAT(s.message(), HasSubstr("would grant \"escalate\""));
  // An operator who forbids nothing allows everything, deliberately.
  config::ClusterConfig open = Cluster();
  open.policy.forbidden = {{}, {}, {}, {}, {}};
  open.policy.allow_cluster_scope = true;
  v1::AccountSpec everything = Rules({"*"}, {"*"}, {"*"});
  everything.set_scope(v1::SCOPE_CLUSTER);
  EXPECT_TRUE(AdmitSpec(everything, open).ok());
}

// Secrets are refused cluster-wide only, also through subresources and `*/x` wildcards.
TEST(AdmissionTest, SecretsClusterWide) {
  config::ClusterConfig cluster = Cluster();
  cluster.policy.allow_cluster_scope = true;
  v1::AccountSpec spec = Rules({"get"}, {"secrets"});
  spec.set_scope(v1::SCOPE_CLUSTER);
  ExpectDenied(AdmitSpec(spec, cluster), "forbidden.cluster_resources");
  v1::AccountSpec nodes = Rules({"get"}, {"nodes"});
  nodes.set_scope(v1::SCOPE_CLUSTER);
  EXPECT_TRUE(AdmitSpec(nodes, cluster).ok());
  cluster.policy.forbidden.resources = {};
  cluster.policy.forbidden.cluster_resources = {"pods/exec"};
  v1::AccountSpec exec = Rules({"create"}, {"*/exec"});
  exec.set_scope(v1::SCOPE_CLUSTER);
  ExpectDenied(AdmitSpec(exec, cluster), "forbidden.cluster_resources");
}

// Non-resource URLs: "*" and prefixes ending in "*" are wildcards.
TEST(AdmissionTest, NonResourceUrls) {
  config::ClusterConfig cluster = Cluster();
  cluster.policy.allow_cluster_scope = true;
  v1::AccountSpec spec;
  spec.set_scope(v1::SCOPE_CLUSTER);
  spec.mutable_access()->mutable_rules()->add_rules()->add_verbs("get");
  spec.mutable_access()->mutable_rules()->mutable_rules(0)->add_non_resource_urls("/healthz");
  EXPECT_TRUE(AdmitSpec(spec, cluster).ok());
  spec.mutable_access()->mutable_rules()->mutable_rules(0)->add_non_resource_urls("/metrics/*");
  ExpectDenied(AdmitSpec(spec, cluster), "forbidden.non_resource_urls");
}

// Scope, namespace creation, token-only, legacy tokens and adopt are off unless allowed.
TEST(AdmissionTest, WideningFlagsNeedTheirKey) {
  v1::AccountSpec base = Rules({"get"}, {"pods"});
  v1::AccountSpec cluster_scope = base;
  cluster_scope.set_scope(v1::SCOPE_CLUSTER);
  ExpectDenied(AdmitSpec(cluster_scope), "allow_cluster_scope");
  v1::AccountSpec create = base;
  create.set_create_namespace(true);
  ExpectDenied(AdmitSpec(create), "allow_create_namespace");
  v1::AccountSpec adopt = base;
  adopt.set_adopt(true);
  ExpectDenied(AdmitSpec(adopt), "allow_adopt");
  v1::AccountSpec legacy = base;
  legacy.mutable_token()->set_mode(v1::TOKEN_MODE_LEGACY);
  ExpectDenied(AdmitSpec(legacy), "allow_legacy_tokens");
  v1::AccountSpec token_only;
  token_only.mutable_access()->mutable_token_only();
  ExpectDenied(AdmitSpec(token_only), "allow_token_only");

  config::ClusterConfig allowed = Cluster();
  allowed.policy.allow_cluster_scope = true;
  allowed.policy.allow_create_namespace = true;
  allowed.policy.allow_adopt = true;
  allowed.policy.allow_legacy_tokens = true;
  allowed.policy.allow_token_only = true;
  for (const v1::AccountSpec& spec : {cluster_scope, create, adopt, legacy, token_only}) {
    EXPECT_TRUE(AdmitSpec(spec, allowed).ok()) << spec.DebugString();
  }
}

// Namespaces: the globs, the denied list (kube-system by default), token-only there too.
TEST(AdmissionTest, Namespaces) {
  v1::AccountSpec spec = Rules({"get"}, {"pods"});
  ExpectDenied(AdmitSpec(spec, Cluster(), Ref("kube-system")), "denied_namespaces");
  config::ClusterConfig teams = Cluster();
  teams.policy.namespaces = {"team-*"};
  EXPECT_TRUE(AdmitSpec(spec, teams, Ref("team-a")).ok());
  absl::Status other = AdmitSpec(spec, teams, Ref("automation"));
  ExpectDenied(other, "namespaces");
  EXPECT_THAT(other.message(), HasSubstr("it allows team-*"));
  // token_only for kube-system/default: refused twice over, by namespace first.
  config::ClusterConfig token_only = Cluster();
  token_only.policy.allow_token_only = true;
  v1::AccountSpec existing;
  existing.mutable_access()->mutable_token_only();
  ExpectDenied(AdmitSpec(existing, token_only, Ref("kube-system", "default")), "denied_namespaces");
}

// role_ref binds only roles the policy lists (none by default).
TEST(AdmissionTest, RoleRefs) {
  v1::AccountSpec spec;
  spec.mutable_access()->mutable_role_ref()->set_kind(v1::ROLE_KIND_CLUSTER_ROLE);
  spec.mutable_access()->mutable_role_ref()->set_name("view");
  absl::Status none = AdmitSpec(spec);
  ExpectDenied(none, "allowed_role_refs");
  EXPECT_THAT(none.message(), HasSubstr("ClusterRole/view"));
  config::ClusterConfig cluster = Cluster();
  cluster.policy.allowed_role_refs = {"ClusterRole/view", "Role/app-*"};
  EXPECT_TRUE(AdmitSpec(spec, cluster).ok());
  spec.mutable_access()->mutable_role_ref()->set_name("cluster-admin");
  ExpectDenied(AdmitSpec(spec, cluster), "allowed_role_refs");
  spec.mutable_access()->mutable_role_ref()->set_kind(v1::ROLE_KIND_ROLE);
  spec.mutable_access()->mutable_role_ref()->set_name("app-reader");
  EXPECT_TRUE(AdmitSpec(spec, cluster).ok());
}

// ttl and grace over their caps are INVALID_ARGUMENT naming the key; RotateToken's grace too.
TEST(AdmissionTest, TtlAndGraceCaps) {
  v1::AccountSpec spec = Rules({"get"}, {"pods"});
  spec.mutable_token()->mutable_ttl()->set_seconds(48 * 3600);
  ExpectDenied(AdmitSpec(spec), "max_ttl", absl::StatusCode::kInvalidArgument);
  v1::AccountSpec ok = Rules({"get"}, {"pods"});
  ok.mutable_token()->mutable_ttl()->set_seconds(24 * 3600);
  EXPECT_TRUE(AdmitSpec(ok).ok());
  ExpectDenied(Admit(Ref(), ok, Cluster(), absl::Hours(2)), "max_grace",
               absl::StatusCode::kInvalidArgument);
  ExpectDenied(AdmitGrace(Cluster(), absl::Hours(2)), "max_grace",
               absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(AdmitGrace(Cluster(), absl::Hours(1)).ok());
}

// Audiences beyond the cluster's own need allowed_audiences.
TEST(AdmissionTest, Audiences) {
  v1::AccountSpec spec = Rules({"get"}, {"pods"});
  spec.mutable_token()->add_audiences("https://kubernetes.default.svc");
  EXPECT_TRUE(AdmitSpec(spec).ok());
  spec.mutable_token()->add_audiences("vault");
  ExpectDenied(AdmitSpec(spec), "allowed_audiences");
  config::ClusterConfig cluster = Cluster();
  cluster.policy.allowed_audiences = {"vault"};
  EXPECT_TRUE(AdmitSpec(spec, cluster).ok());
}

// Labels and annotations under reserved prefixes (pod-security.kubernetes.io/ among them).
TEST(AdmissionTest, ReservedLabelPrefixes) {
  v1::AccountSpec spec = Rules({"get"}, {"pods"});
  (*spec.mutable_labels())["team"] = "ci";
  (*spec.mutable_labels())["example.com/owner"] = "ci";
  EXPECT_TRUE(AdmitSpec(spec).ok());
  v1::AccountSpec psa = spec;
  (*psa.mutable_labels())["pod-security.kubernetes.io/enforce"] = "privileged";
  absl::Status s = AdmitSpec(psa);
  ExpectDenied(s, "reserved_label_prefixes");
  EXPECT_THAT(s.message(), HasSubstr("\"*.kubernetes.io/\""));
  v1::AccountSpec annotation = spec;
  (*annotation.mutable_annotations())["kubernetes.io/service-account.name"] = "admin";
  ExpectDenied(AdmitSpec(annotation), "reserved_label_prefixes");
}

// A namespace selector admits only existing namespaces whose labels match.
TEST(AdmissionTest, NamespaceSelector) {
  config::ClusterConfig cluster = Cluster();
  EXPECT_TRUE(AdmitNamespace(cluster, "x", nullptr).ok());  // no selector
  cluster.policy.namespace_selector = "kcred.io/allowed=true";
  std::map<std::string, std::string> labelled = {{"kcred.io/allowed", "true"}};
  std::map<std::string, std::string> plain = {{"team", "a"}};
  EXPECT_TRUE(AdmitNamespace(cluster, "x", &labelled).ok());
  ExpectDenied(AdmitNamespace(cluster, "x", &plain), "namespace_selector");
  ExpectDenied(AdmitNamespace(cluster, "x", nullptr), "namespace_selector");
}

}  // namespace
}  // namespace kcred::broker
