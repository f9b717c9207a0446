// Broker::Provision through a fake cluster: what it creates for each kind of access, outcomes,
// validation and admission at entry, etags and previews, rollback of a failed first provision.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/object_names.h"
#include "daemon/kube/kube_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;
using testing::kTestCaPem;

class ProvisioningTest : public BrokerFixture {};

// Rules at namespace scope: ServiceAccount, Role, RoleBinding and a bound token, all labelled.
TEST_F(ProvisioningTest, ProvisionRulesNamespaceScope) {
  auto response = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->outcome(), v1::PROVISION_OUTCOME_CREATED);

  auto sa = kube_.Peek(Resource::kServiceAccount, "automation", "ci-bot");
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ((*sa)["metadata"]["labels"][kManagedByLabel], "kcred");
  EXPECT_EQ((*sa)["metadata"]["labels"][kAccountLabel], "ci-bot");
  EXPECT_EQ((*sa)["metadata"]["labels"][kNamespaceLabel], "automation");
  EXPECT_EQ((*sa)["metadata"]["labels"][kClusterLabel], "dev");

  auto role = kube_.Peek(Resource::kRole, "automation", "ci-bot");
  ASSERT_TRUE(role.has_value());
  EXPECT_EQ((*role)["rules"][0]["verbs"], json({"get", "list", "watch"}));
  EXPECT_EQ((*role)["rules"][0]["apiGroups"], json({""}));
  auto binding = kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot");
  ASSERT_TRUE(binding.has_value());
  EXPECT_EQ((*binding)["roleRef"]["kind"], "Role");
  EXPECT_EQ((*binding)["roleRef"]["name"], "ci-bot");
  EXPECT_EQ((*binding)["subjects"][0]["name"], "ci-bot");
  EXPECT_EQ((*binding)["subjects"][0]["namespace"], "automation");
  EXPECT_EQ(kube_.ObjectCount(Resource::kClusterRole), 0u);

  auto anchor = kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-1");
  ASSERT_TRUE(anchor.has_value());
  EXPECT_EQ((*anchor)["type"], "Opaque");
  EXPECT_EQ((*anchor)["metadata"]["labels"][kGenerationLabel], "1");

  const v1::AccountStatus& status = response->account().status();
  EXPECT_EQ(status.generation(), 1);
  EXPECT_EQ(status.service_account_uid(), (*sa)["metadata"]["uid"]);
  EXPECT_TRUE(absl::StartsWith(status.token_fingerprint(), "sha256:"));
  EXPECT_EQ(status.expire_time().seconds() - status.issue_time().seconds(), 3600);
  EXPECT_EQ(status.next_rotation_time().seconds() - status.issue_time().seconds(), 2880);
  EXPECT_EQ(status.managed_objects_size(), 4);  // SA, Role, RoleBinding, anchor
  EXPECT_EQ(response->account().origin(), v1::ORIGIN_API);
  EXPECT_FALSE(response->account().etag().empty());
  EXPECT_FALSE(response->account().uid().empty());
  ASSERT_GE(status.conditions_size(), 1);
  EXPECT_EQ(status.conditions(0).type(), v1::CONDITION_TYPE_READY);
  EXPECT_EQ(status.conditions(0).status(), v1::CONDITION_STATUS_TRUE);
  EXPECT_EQ(response->changes_size(), 3);

  SecretString token = TokenOf(Ref("automation", "ci-bot"));
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kValid);
  EXPECT_EQ(token.fingerprint(), status.token_fingerprint());

  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(kubeconfig.ok()) << kubeconfig.status();
  EXPECT_EQ(kubeconfig->context_name(), "kcred-dev-automation-ci-bot");
  EXPECT_EQ(kubeconfig->cluster_name(), "kcred-dev");
  EXPECT_EQ(kubeconfig->namespace_(), "automation");
  EXPECT_EQ(kubeconfig->server(), "https://127.0.0.1:6443");
  EXPECT_EQ(kubeconfig->certificate_authority(), kTestCaPem);
  EXPECT_EQ(kubeconfig->generation(), 1);
  EXPECT_THAT(kubeconfig->kubeconfig(), HasSubstr(token.Reveal()));
  EXPECT_THAT(kubeconfig->kubeconfig(), HasSubstr("current-context: kcred-dev-automation-ci-bot"));
  EXPECT_THAT(kubeconfig->kubeconfig(), HasSubstr("namespace: automation"));
}

// The second identical apply makes no Kubernetes write and reports UNCHANGED.
TEST_F(ProvisioningTest, SameSpecTwiceIsUnchanged) {
  auto first = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(first.ok()) << first.status();
  const int writes = Writes(kube_);
  auto second = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);
  EXPECT_EQ(second->changes_size(), 0);
  EXPECT_EQ(Writes(kube_), writes);
  EXPECT_EQ(second->account().etag(), first->account().etag());
}

// Cluster scope: ClusterRole and ClusterRoleBinding named kcred:<ns>:<name>, distinct per
// namespace.
TEST_F(ProvisioningTest, ProvisionRulesClusterScope) {
  SeedNamespace("other");
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec(v1::SCOPE_CLUSTER)).ok());
  ASSERT_TRUE(Provision(Ref("other", "ci-bot"), RulesSpec(v1::SCOPE_CLUSTER)).ok());
  auto role = kube_.Peek(Resource::kClusterRole, "", "kcred:automation:ci-bot");
  ASSERT_TRUE(role.has_value());
  auto binding = kube_.Peek(Resource::kClusterRoleBinding, "", "kcred:automation:ci-bot");
  ASSERT_TRUE(binding.has_value());
  EXPECT_EQ((*binding)["roleRef"]["kind"], "ClusterRole");
  EXPECT_EQ((*binding)["roleRef"]["name"], "kcred:automation:ci-bot");
  EXPECT_EQ((*binding)["subjects"][0]["namespace"], "automation");
  EXPECT_TRUE(kube_.Peek(Resource::kClusterRoleBinding, "", "kcred:other:ci-bot").has_value());
  EXPECT_EQ(kube_.ObjectCount(Resource::kRole), 0u);
  EXPECT_EQ(kube_.ObjectCount(Resource::kRoleBinding), 0u);
  EXPECT_EQ(Labelled(Resource::kClusterRole, "automation", "ci-bot"), 1u);
}

// Non-resource URLs are accepted with cluster scope.
TEST_F(ProvisioningTest, NonResourceUrlsWithClusterScope) {
  v1::AccountSpec spec = RulesSpec(v1::SCOPE_CLUSTER);
  v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
  rule->add_verbs("get");
  rule->add_non_resource_urls("/healthz");
  ASSERT_TRUE(Provision(Ref("automation", "probe"), spec).ok());
  auto role = kube_.Peek(Resource::kClusterRole, "", "kcred:automation:probe");
  ASSERT_TRUE(role.has_value());
  EXPECT_EQ((*role)["rules"][1]["nonResourceURLs"], json({"/healthz"}));
}

// role_ref binds an existing Role (namespace scope) or ClusterRole (either scope).
TEST_F(ProvisioningTest, ProvisionRoleRef) {
  ASSERT_TRUE(
      kube_
          .Seed(Resource::kRole, {{"metadata", {{"name", "reader"}, {"namespace", "automation"}}},
                                  {"rules", json::array()}})
          .ok());
  ASSERT_TRUE(kube_
                  .Seed(Resource::kClusterRole,
                        {{"metadata", {{"name", "view"}}}, {"rules", json::array()}})
                  .ok());
  ASSERT_TRUE(Provision(Ref("automation", "a"), RoleRefSpec(v1::ROLE_KIND_ROLE, "reader")).ok());
  auto binding = kube_.Peek(Resource::kRoleBinding, "automation", "a");
  ASSERT_TRUE(binding.has_value());
  EXPECT_EQ((*binding)["roleRef"]["kind"], "Role");
  EXPECT_EQ((*binding)["roleRef"]["name"], "reader");

  ASSERT_TRUE(Provision(Ref("automation", "b"),
                        RoleRefSpec(v1::ROLE_KIND_CLUSTER_ROLE, "view", v1::SCOPE_CLUSTER))
                  .ok());
  auto cluster_binding = kube_.Peek(Resource::kClusterRoleBinding, "", "kcred:automation:b");
  ASSERT_TRUE(cluster_binding.has_value());
  EXPECT_EQ((*cluster_binding)["roleRef"]["name"], "view");

  ASSERT_TRUE(
      Provision(Ref("automation", "c"), RoleRefSpec(v1::ROLE_KIND_CLUSTER_ROLE, "view")).ok());
  auto scoped = kube_.Peek(Resource::kRoleBinding, "automation", "c");
  ASSERT_TRUE(scoped.has_value());
  EXPECT_EQ((*scoped)["roleRef"]["kind"], "ClusterRole");
  // No role of kcred's own for role_ref accounts.
  EXPECT_EQ(kube_.ObjectCount(Resource::kRole), 1u);
  EXPECT_EQ(kube_.ObjectCount(Resource::kClusterRole), 1u);
}

// A role_ref to a missing role is NOT_FOUND and creates nothing.
TEST_F(ProvisioningTest, RoleRefMissingRoleIsNotFound) {
  auto response = Provision(Ref("automation", "a"), RoleRefSpec(v1::ROLE_KIND_ROLE, "nope"));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(response.status().message(), HasSubstr("Role automation/nope does not exist"));
  EXPECT_EQ(Writes(kube_), 0);
  EXPECT_EQ(broker_->account_count(), 0u);
}

// token_only: tokens for an existing ServiceAccount, no RBAC, and the SA survives deletion.
TEST_F(ProvisioningTest, TokenOnly) {
  v1::AccountSpec spec;
  spec.mutable_access()->mutable_token_only();
  auto missing = Provision(Ref("automation", "legacy-app"), spec);
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("ServiceAccount automation/legacy-app"));

  ASSERT_TRUE(kube_
                  .Seed(Resource::kServiceAccount,
                        {{"metadata", {{"name", "legacy-app"}, {"namespace", "automation"}}}})
                  .ok());
  auto response = Provision(Ref("automation", "legacy-app"), spec);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(kube_.ObjectCount(Resource::kRole), 0u);
  EXPECT_EQ(kube_.ObjectCount(Resource::kRoleBinding), 0u);
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "legacy-app"))), TokenState::kValid);
  auto sa = kube_.Peek(Resource::kServiceAccount, "automation", "legacy-app");
  EXPECT_FALSE((*sa)["metadata"].contains("labels"));  // untouched

  ASSERT_TRUE(Delete(Ref("automation", "legacy-app")).ok());
  EXPECT_TRUE(kube_.Peek(Resource::kServiceAccount, "automation", "legacy-app").has_value());
  EXPECT_EQ(kube_.ObjectCount(Resource::kSecret), 0u);
}

struct BadRequest {
  std::string what;
  v1::AccountRef ref;
  v1::AccountSpec spec;
  absl::StatusCode code;
  std::string message;
};

// Each bad input is refused at entry with a message that says what to fix, and nothing is made.
TEST_F(ProvisioningTest, ValidationErrors) {
  std::vector<BadRequest> cases;
  auto add = [&](std::string what, v1::AccountSpec spec, std::string message,
                 absl::StatusCode code = absl::StatusCode::kInvalidArgument,
                 v1::AccountRef ref = Ref("automation", "ci-bot")) {
    cases.push_back({std::move(what), std::move(ref), std::move(spec), code, std::move(message)});
  };
  add("unknown cluster", RulesSpec(), "known clusters: dev", absl::StatusCode::kNotFound,
      Ref("automation", "ci-bot", "prod"));
  add("bad namespace", RulesSpec(), "not a valid DNS-1123 label",
      absl::StatusCode::kInvalidArgument, Ref("Automation", "ci-bot"));
  add("bad name", RulesSpec(), "not a valid DNS-1123 subdomain", absl::StatusCode::kInvalidArgument,
      Ref("automation", "ci_bot"));
  add("no access", v1::AccountSpec(), "set exactly one of rules, role_ref or token_only");
  {
    v1::AccountSpec spec = RulesSpec();
    spec.mutable_access()->mutable_rules()->mutable_rules(0)->add_verbs("fly");
    add("unknown verb", spec, "unknown verb \"fly\"; use one of");
  }
  {
    v1::AccountSpec spec = RulesSpec();
    spec.mutable_access()->mutable_rules()->mutable_rules(0)->clear_resources();
    add("no resources", spec, "resources must not be empty");
  }
  {
    v1::AccountSpec spec = RulesSpec();
    spec.mutable_access()->mutable_rules()->clear_rules();
    add("no rules", spec, "at least one rule");
  }
  {
    v1::AccountSpec spec = RulesSpec();
    v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
    rule->add_verbs("get");
    rule->add_non_resource_urls("/healthz");
    add("non-resource URL at namespace scope", spec, "non_resource_urls need SCOPE_CLUSTER");
  }
  add("role_ref without kind", RoleRefSpec(v1::ROLE_KIND_UNSPECIFIED, "x"),
      "set ROLE_KIND_ROLE or ROLE_KIND_CLUSTER_ROLE");
  add("Role at cluster scope", RoleRefSpec(v1::ROLE_KIND_ROLE, "x", v1::SCOPE_CLUSTER),
      "a Role can only be bound in its namespace");
  add("role_ref without name", RoleRefSpec(v1::ROLE_KIND_CLUSTER_ROLE, ""),
      "spec.access.role_ref.name");
  {
    v1::AccountSpec spec = RulesSpec();
    *spec.mutable_token()->mutable_ttl() = Minutes(5);
    add("ttl too short", spec, "ttl 5m is outside what cluster \"dev\" allows; use at least 10m");
  }
  {
    v1::AccountSpec spec = RulesSpec();
    spec.mutable_token()->set_rotate_fraction(1.5);
    add("fraction out of range", spec, "is not in (0, 1)");
  }
  {
    v1::AccountSpec spec = RulesSpec();
    *spec.mutable_token()->mutable_rotate_interval() = Minutes(60);
    add("interval not below ttl", spec, "must be positive and shorter than the ttl (1h)");
  }
  {
    v1::AccountSpec spec = RulesSpec();
    (*spec.mutable_labels())["kcred.io/account"] = "x";
    add("reserved label", spec, "is reserved for kcred");
  }
  {
    v1::AccountSpec spec = RulesSpec();
    (*spec.mutable_labels())["app.kubernetes.io/managed-by"] = "me";
    add("managed-by label", spec, "is reserved for kcred");
  }
  {
    v1::AccountSpec spec = RulesSpec();
    (*spec.mutable_labels())["team"] = "has space";
    add("bad label value", spec, "value \"has space\"");
  }
  for (const BadRequest& c : cases) {
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = c.ref;
    *request.mutable_spec() = c.spec;
    auto response = broker_->Provision(request);
    EXPECT_EQ(response.status().code(), c.code) << c.what << ": " << response.status();
    EXPECT_THAT(std::string(response.status().message()), HasSubstr(c.message)) << c.what;
  }
  EXPECT_EQ(AllCalls(kube_), 0);
  EXPECT_EQ(broker_->account_count(), 0u);
}

// validate_only on an existing account reports the updates it would make, and makes none.
TEST_F(ProvisioningTest, ValidateOnlyReportsUpdates) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  const int writes = Writes(kube_);
  v1::ProvisionAccountRequest request;
  *request.mutable_ref() = Ref("automation", "ci-bot");
  *request.mutable_spec() = RulesSpec();
  request.mutable_spec()->mutable_access()->mutable_rules()->mutable_rules(0)->add_verbs("patch");
  request.set_validate_only(true);
  auto preview = broker_->Provision(request);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->outcome(), v1::PROVISION_OUTCOME_UPDATED);
  ASSERT_EQ(preview->changes_size(), 1);
  EXPECT_EQ(preview->changes(0).object().kind(), "Role");
  EXPECT_EQ(preview->changes(0).action(), v1::CHANGE_ACTION_UPDATED);
  EXPECT_EQ(Writes(kube_), writes);
  auto role = kube_.Peek(Resource::kRole, "automation", "ci-bot");
  EXPECT_EQ((*role)["rules"][0]["verbs"].size(), 3u);
}

// expected_etag guards against lost updates; validate_only changes nothing.
TEST_F(ProvisioningTest, EtagAndValidateOnly) {
  v1::ProvisionAccountRequest request;
  *request.mutable_ref() = Ref("automation", "ci-bot");
  *request.mutable_spec() = RulesSpec();
  request.set_validate_only(true);
  auto preview = broker_->Provision(request);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->outcome(), v1::PROVISION_OUTCOME_CREATED);
  EXPECT_EQ(preview->changes_size(), 3);
  EXPECT_EQ(Writes(kube_), 0);
  EXPECT_EQ(broker_->account_count(), 0u);

  request.set_validate_only(false);
  request.set_expected_etag("absent");
  auto created = broker_->Provision(request);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(broker_->Provision(request).status().code(), absl::StatusCode::kAborted);

  request.set_expected_etag("stale");
  auto stale = broker_->Provision(request);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(stale.status().message(), HasSubstr("read it again"));
  request.set_expected_etag(created->account().etag());
  EXPECT_TRUE(broker_->Provision(request).ok());

  v1::DeleteAccountRequest deletion;
  *deletion.mutable_ref() = Ref("automation", "ci-bot");
  deletion.set_expected_etag("stale");
  EXPECT_EQ(broker_->DeleteAccount(deletion).status().code(), absl::StatusCode::kAborted);
}

// A new account whose provisioning fails part-way is rolled back.
TEST_F(ProvisioningTest, FailedFirstProvisionRollsBack) {
  kube_.FailNext(Verb::kCreate, Resource::kRoleBinding, 1, absl::UnavailableError("down"));
  auto response = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("creating RoleBinding automation/ci-bot"));
  EXPECT_THAT(response.status().message(), HasSubstr("down"));
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
  EXPECT_EQ(broker_->account_count(), 0u);
  EXPECT_TRUE(store_.All().empty());
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
}

// A store failure on the first commit rolls everything back, the token's Secret included.
TEST_F(ProvisioningTest, FailedFirstCommitRollsBack) {
  // Another writer already holds the key: the first commit (expecting it absent) fails.
  ASSERT_TRUE(
      store_.Put("accounts/dev/automation/ci-bot", "junk", store::Precondition::None()).ok());
  auto response = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
  EXPECT_EQ(kube_.ValidTokenCount(), 0);
}

// Kubernetes errors keep their code, message and reason, prefixed with what kcred was doing.
TEST_F(ProvisioningTest, KubernetesErrorsKeepTheirReason) {
  kube_.FailNext(Verb::kCreate, Resource::kRole, 1,
                 kube::StatusFromResponse(
                     422, kube::MakeStatusBody(422, "Invalid", "rules[0]: bad").dump(), "POST",
                     "/apis/rbac.authorization.k8s.io/v1/namespaces/automation/roles"));
  auto response = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("creating Role automation/ci-bot: POST"));
  EXPECT_THAT(response.status().message(), HasSubstr("rules[0]: bad"));
  EXPECT_EQ(kube::KubeReason(response.status()), "Invalid");
}

// A lost answer to the anchor's creation is recovered: the retry reuses kcred's own Secret.
TEST_F(ProvisioningTest, LostAnchorAnswerIsRecovered) {
  kube_.FailNextAfterApplying(Verb::kCreate, Resource::kSecret, 1,
                              absl::DeadlineExceededError("timeout"));
  ASSERT_FALSE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  // The rollback cannot know the anchor's uid; the label sweep of a later delete would find it,
  // and a retry reuses it.
  auto retried = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "ci-bot"))), TokenState::kValid);
}

// The longest valid account name still yields valid object names and label values.
TEST_F(ProvisioningTest, LongestAccountName) {
  const std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                           std::string(63, 'c') + "." + std::string(61, 'd');
  ASSERT_EQ(name.size(), 253u);
  auto response = Provision(Ref("automation", name), RulesSpec(v1::SCOPE_CLUSTER));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", name))), TokenState::kValid);
  auto sa = kube_.Peek(Resource::kServiceAccount, "automation", name);
  ASSERT_TRUE(sa.has_value());
  EXPECT_LE((*sa)["metadata"]["labels"][kAccountLabel].get<std::string>().size(), 63u);
  EXPECT_EQ(LabelledEverywhere("automation", name), 4u);  // SA, ClusterRole, binding, anchor
  ASSERT_TRUE(Rotate(Ref("automation", name), 0).ok());
  ASSERT_TRUE(Delete(Ref("automation", name)).ok());
  EXPECT_EQ(LabelledEverywhere("automation", name), 0u);
}

// Requests the policy refuses touch nothing in Kubernetes; the same spec within it works.
TEST_F(ProvisioningTest, AdmissionRefusesBeforeAnyKubernetesCall) {
  UseDefaultPolicy();
  v1::AccountSpec all;
  v1::PolicyRule* rule = all.mutable_access()->mutable_rules()->add_rules();
  rule->add_verbs("*");
  rule->add_resources("*");
  rule->add_api_groups("*");
  all.set_scope(v1::SCOPE_CLUSTER);
  all.set_create_namespace(true);
  const size_t calls = kube_.Calls().size();
  auto refused = Provision(Ref("automation", "esc"), all);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("clusters[\"dev\"].policy."));
  EXPECT_EQ(kube_.Calls().size(), calls);
  EXPECT_EQ(broker_->account_count(), 0u);
  auto admitted = Provision(Ref("automation", "ci-bot"), RulesSpec());
  EXPECT_TRUE(admitted.ok()) << admitted.status();
}

// A namespace selector is checked against the namespace's labels as the cluster has them.
TEST_F(ProvisioningTest, NamespaceSelectorReadsTheNamespace) {
  cluster_.policy = config::AdmissionPolicy();  // the defaults
  cluster_.policy.namespace_selector = "kcred.io/accounts=allowed";
  cluster_.policy.allow_create_namespace = true;
  broker_ = MakeBroker();
  ASSERT_TRUE(
      kube_
          .Seed(Resource::kNamespace,
                {{"metadata", {{"name", "open"}, {"labels", {{"kcred.io/accounts", "allowed"}}}}}})
          .ok());
  EXPECT_TRUE(Provision(Ref("open", "bot"), RulesSpec()).ok());
  auto unlabelled = Provision(Ref("automation", "bot"), RulesSpec());
  EXPECT_EQ(unlabelled.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(unlabelled.status().message(), HasSubstr("namespace_selector"));
  v1::AccountSpec create = RulesSpec();
  create.set_create_namespace(true);
  auto missing = Provision(Ref("brand-new", "bot"), create);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(missing.status().message(), HasSubstr("does not exist"));
  EXPECT_FALSE(kube_.Get(Resource::kNamespace, "", "brand-new", absl::InfiniteFuture()).ok());
}

}  // namespace
}  // namespace kcred::broker
