#include "daemon/broker/broker.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/validation.h"
#include "daemon/kube/fake_kube_client.h"
#include "daemon/kube/kube_status.h"
#include "daemon/store/aes_gcm_sealer.h"
#include "daemon/store/memory_store.h"
#include "daemon/store/sealing_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/stepping_clock.h"

namespace kcred::broker {
namespace {

using kube::FakeKubeClient;
using kube::Resource;
using kube::Verb;
using nlohmann::json;
using ::testing::HasSubstr;
using TokenState = FakeKubeClient::TokenState;

constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n";

// A Store that counts reads, to show what is answered from memory.
class CountingStore : public store::Store {
 public:
  absl::StatusOr<store::KeyValue> Get(const std::string& key) override {
    Count();
    return inner_.Get(key);
  }
  absl::StatusOr<store::ListResult> List(const store::ListOptions& options) override {
    Count();
    return inner_.List(options);
  }
  absl::StatusOr<store::Revision> Put(const std::string& key, const std::string& value,
                                      store::Precondition expect) override {
    return inner_.Put(key, value, expect);
  }
  absl::StatusOr<bool> Delete(const std::string& key, store::Precondition expect) override {
    return inner_.Delete(key, expect);
  }
  absl::StatusOr<store::Revision> Txn(const store::TxnRequest& request) override {
    return inner_.Txn(request);
  }
  absl::StatusOr<store::Revision> CurrentRevision() override { return inner_.CurrentRevision(); }

  int reads() const {
    absl::MutexLock lock(&mu_);
    return reads_;
  }
  // Every value in the store, raw.
  std::vector<store::KeyValue> All() {
    store::ListOptions options;
    return inner_.List(options)->items;
  }

 private:
  void Count() {
    absl::MutexLock lock(&mu_);
    ++reads_;
  }
  store::MemoryStore inner_;
  mutable absl::Mutex mu_;
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
};

// The client as a ClusterHandle takes it, without ownership: `client` outlives the broker.
std::shared_ptr<kube::KubeClient> Unowned(kube::KubeClient& client) {
  return std::shared_ptr<kube::KubeClient>(std::shared_ptr<kube::KubeClient>(), &client);
}

int Writes(const FakeKubeClient& kube) {
  return kube.CallCount(Verb::kCreate) + kube.CallCount(Verb::kUpdate) +
         kube.CallCount(Verb::kDelete) + kube.CallCount(Verb::kCreateToken);
}

int AllCalls(const FakeKubeClient& kube) { return static_cast<int>(kube.Calls().size()); }

v1::AccountRef Ref(const std::string& ns, const std::string& name,
                   const std::string& cluster = "dev") {
  v1::AccountRef ref;
  ref.set_cluster(cluster);
  ref.set_namespace_(ns);
  ref.set_name(name);
  return ref;
}

v1::AccountSpec RulesSpec(v1::Scope scope = v1::SCOPE_NAMESPACE) {
  v1::AccountSpec spec;
  spec.set_scope(scope);
  v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
  for (const char* verb : {"get", "list", "watch"}) rule->add_verbs(verb);
  rule->add_resources("pods");
  rule->add_resources("configmaps");
  return spec;
}

v1::AccountSpec RoleRefSpec(v1::RoleKind kind, const std::string& role,
                            v1::Scope scope = v1::SCOPE_NAMESPACE) {
  v1::AccountSpec spec;
  spec.set_scope(scope);
  spec.mutable_access()->mutable_role_ref()->set_kind(kind);
  spec.mutable_access()->mutable_role_ref()->set_name(role);
  return spec;
}

google::protobuf::Duration Minutes(int64_t minutes) {
  google::protobuf::Duration d;
  d.set_seconds(minutes * 60);
  return d;
}

class BrokerTest : public ::testing::Test {
 protected:
  BrokerTest() : kube_(clock_) {
    auto key = store::MakeSealingKey(SecretString(std::string(32, 'k')));
    sealer_ = std::move(*store::AesGcmSealer::Create(std::move(*key)));
    cluster_.name = "dev";
    cluster_.server = "https://127.0.0.1:6443";
    cluster_.ca_pem = kCaPem;
    // Everything kcred can do is admitted here; AdmissionTest below covers the defaults.
    cluster_.policy.allow_cluster_scope = true;
    cluster_.policy.allow_create_namespace = true;
    cluster_.policy.allow_token_only = true;
    cluster_.policy.allow_legacy_tokens = true;
    cluster_.policy.allow_adopt = true;
    cluster_.policy.allowed_role_refs = {"ClusterRole/*", "Role/*"};
    defaults_.ttl = absl::Hours(1);
    defaults_.grace = absl::Minutes(5);
    defaults_.legacy_token_wait = absl::Seconds(30);
    SeedNamespace("automation");
    broker_ = MakeBroker();
  }

  std::unique_ptr<Broker> MakeBroker() {
    return std::make_unique<Broker>(clock_, store_, *sealer_,
                                    std::vector<ClusterHandle>{{cluster_, Unowned(kube_)}},
                                    defaults_);
  }

  void SeedNamespace(const std::string& name) {
    ASSERT_TRUE(kube_.Seed(Resource::kNamespace, {{"metadata", {{"name", name}}}}).ok());
  }

  absl::StatusOr<v1::ProvisionAccountResponse> Provision(const v1::AccountRef& ref,
                                                         const v1::AccountSpec& spec) {
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = ref;
    *request.mutable_spec() = spec;
    return broker_->Provision(request);
  }

  absl::StatusOr<v1::RotateTokenResponse> Rotate(const v1::AccountRef& ref,
                                                 std::optional<int64_t> grace_minutes = {}) {
    v1::RotateTokenRequest request;
    *request.mutable_ref() = ref;
    request.set_reason("test");
    if (grace_minutes.has_value()) *request.mutable_grace() = Minutes(*grace_minutes);
    return broker_->RotateToken(request);
  }

  absl::StatusOr<v1::DeleteAccountResponse> Delete(const v1::AccountRef& ref) {
    v1::DeleteAccountRequest request;
    *request.mutable_ref() = ref;
    return broker_->DeleteAccount(request);
  }

  SecretString TokenOf(const v1::AccountRef& ref) {
    absl::StatusOr<v1::GetTokenResponse> token = broker_->GetToken(ref);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? SecretString(token->token()) : SecretString();
  }

  // Objects of `resource` carrying the account's labels.
  size_t Labelled(Resource resource, const std::string& ns, const std::string& name) {
    const std::string list_ns = kube::Describe(resource).namespaced ? ns : "";
    auto items =
        kube_.List(resource, list_ns, AccountSelector("dev", ns, name), absl::InfiniteFuture());
    EXPECT_TRUE(items.ok()) << items.status();
    return items.ok() ? items->size() : 0;
  }

  size_t LabelledEverywhere(const std::string& ns, const std::string& name) {
    size_t total = 0;
    for (Resource r :
         {Resource::kServiceAccount, Resource::kSecret, Resource::kRole, Resource::kRoleBinding,
          Resource::kClusterRole, Resource::kClusterRoleBinding}) {
      total += Labelled(r, ns, name);
    }
    return total;
  }

  testing::SteppingClock clock_;
  FakeKubeClient kube_;
  CountingStore store_;
  std::unique_ptr<store::AesGcmSealer> sealer_;
  config::ClusterConfig cluster_;
  config::TokenDefaults defaults_;
  std::unique_ptr<Broker> broker_;
};

// Rules at namespace scope: ServiceAccount, Role, RoleBinding and a bound token, all labelled.
TEST_F(BrokerTest, ProvisionRulesNamespaceScope) {
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
  EXPECT_EQ(kubeconfig->certificate_authority(), kCaPem);
  EXPECT_EQ(kubeconfig->generation(), 1);
  EXPECT_THAT(kubeconfig->kubeconfig(), HasSubstr(token.Reveal()));
  EXPECT_THAT(kubeconfig->kubeconfig(), HasSubstr("current-context: kcred-dev-automation-ci-bot"));
  EXPECT_THAT(kubeconfig->kubeconfig(), HasSubstr("namespace: automation"));
}

// The second identical apply makes no Kubernetes write and reports UNCHANGED.
TEST_F(BrokerTest, NextRotationShowsTheRetryAfterAFailedRotation) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto next = [&] {
    return FromProto(
        broker_->GetAccount(Ref("automation", "ci-bot"))->status().next_rotation_time());
  };
  const absl::Time planned = next();
  ASSERT_GT(planned, clock_.Now());

  // The planned time passed and the rotation failed: the retry is what comes next.
  clock_.Advance(planned - clock_.Now() + absl::Seconds(1));
  const absl::Time retry = clock_.Now() + absl::Seconds(30);
  broker_->NoteRotationRetry(Ref("automation", "ci-bot"), retry);
  EXPECT_EQ(next(), retry);
  // A retry earlier than the plan never hides it.
  broker_->NoteRotationRetry(Ref("automation", "ci-bot"), planned - absl::Minutes(1));
  EXPECT_EQ(next(), planned);
  broker_->NoteRotationRetry(Ref("automation", "ci-bot"), absl::InfinitePast());
  EXPECT_EQ(next(), planned);
  // Unknown accounts are ignored.
  broker_->NoteRotationRetry(Ref("automation", "nobody"), retry);
}

TEST_F(BrokerTest, SameSpecTwiceIsUnchanged) {
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
TEST_F(BrokerTest, ProvisionRulesClusterScope) {
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
TEST_F(BrokerTest, NonResourceUrlsWithClusterScope) {
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
TEST_F(BrokerTest, ProvisionRoleRef) {
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
TEST_F(BrokerTest, RoleRefMissingRoleIsNotFound) {
  auto response = Provision(Ref("automation", "a"), RoleRefSpec(v1::ROLE_KIND_ROLE, "nope"));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(response.status().message(), HasSubstr("Role automation/nope does not exist"));
  EXPECT_EQ(Writes(kube_), 0);
  EXPECT_EQ(broker_->account_count(), 0u);
}

// token_only: tokens for an existing ServiceAccount, no RBAC, and the SA survives deletion.
TEST_F(BrokerTest, TokenOnly) {
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

// Changed rules update the Role in place; the ServiceAccount and the token stay.
TEST_F(BrokerTest, ChangedRulesAreReconciled) {
  auto first = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(first.ok());
  SecretString token = TokenOf(Ref("automation", "ci-bot"));
  v1::AccountSpec spec = RulesSpec();
  spec.mutable_access()->mutable_rules()->mutable_rules(0)->add_verbs("delete");
  (*spec.mutable_labels())["team"] = "ci";
  auto second = Provision(Ref("automation", "ci-bot"), spec);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->outcome(), v1::PROVISION_OUTCOME_UPDATED);
  auto role = kube_.Peek(Resource::kRole, "automation", "ci-bot");
  EXPECT_EQ((*role)["rules"][0]["verbs"], json({"get", "list", "watch", "delete"}));
  EXPECT_EQ((*role)["metadata"]["labels"]["team"], "ci");
  EXPECT_EQ(second->account().status().service_account_uid(),
            first->account().status().service_account_uid());
  EXPECT_EQ(second->account().status().generation(), 1);
  EXPECT_TRUE(TokenOf(Ref("automation", "ci-bot")) == token);
  EXPECT_EQ(kube_.CallCount(Verb::kCreateToken), 1);
  EXPECT_NE(second->account().etag(), first->account().etag());

  // Dropping the label again removes it from the objects.
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  role = kube_.Peek(Resource::kRole, "automation", "ci-bot");
  EXPECT_FALSE((*role)["metadata"]["labels"].contains("team"));
}

// A changed role_ref re-creates the binding (roleRef is immutable); scope changes move objects.
TEST_F(BrokerTest, ChangedRoleRefRecreatesBinding) {
  ASSERT_TRUE(kube_
                  .Seed(Resource::kClusterRole,
                        {{"metadata", {{"name", "view"}}}, {"rules", json::array()}})
                  .ok());
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto before = kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot");
  auto response =
      Provision(Ref("automation", "ci-bot"), RoleRefSpec(v1::ROLE_KIND_CLUSTER_ROLE, "view"));
  ASSERT_TRUE(response.ok()) << response.status();
  auto after = kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ((*after)["roleRef"]["kind"], "ClusterRole");
  EXPECT_EQ((*after)["roleRef"]["name"], "view");
  EXPECT_NE((*after)["metadata"]["uid"], (*before)["metadata"]["uid"]);
  // The Role kcred made for the rules is no longer needed.
  EXPECT_FALSE(kube_.Peek(Resource::kRole, "automation", "ci-bot").has_value());
  EXPECT_EQ(response->account().status().generation(), 1);

  // To cluster scope: the RoleBinding goes, a ClusterRoleBinding comes.
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"),
                        RoleRefSpec(v1::ROLE_KIND_CLUSTER_ROLE, "view", v1::SCOPE_CLUSTER))
                  .ok());
  EXPECT_FALSE(kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot").has_value());
  EXPECT_TRUE(kube_.Peek(Resource::kClusterRoleBinding, "", "kcred:automation:ci-bot").has_value());
}

// Deleting a role_ref account leaves the referenced role alone.
TEST_F(BrokerTest, DeleteKeepsReferencedRole) {
  ASSERT_TRUE(kube_
                  .Seed(Resource::kClusterRole,
                        {{"metadata", {{"name", "view"}}}, {"rules", json::array()}})
                  .ok());
  ASSERT_TRUE(
      Provision(Ref("automation", "ci-bot"), RoleRefSpec(v1::ROLE_KIND_CLUSTER_ROLE, "view")).ok());
  ASSERT_TRUE(Delete(Ref("automation", "ci-bot")).ok());
  EXPECT_TRUE(kube_.Peek(Resource::kClusterRole, "", "view").has_value());
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
}

// A ServiceAccount or anchor deleted behind kcred's back is repaired by the next apply, with a
// new token (the old one died with them).
TEST_F(BrokerTest, ReapplyRepairsDeletedObjects) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(
      kube_.Delete(Resource::kServiceAccount, "automation", "ci-bot", {}, absl::InfiniteFuture())
          .ok());
  auto repaired = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(repaired->outcome(), v1::PROVISION_OUTCOME_UPDATED);
  EXPECT_EQ(repaired->account().status().generation(), 2);
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "ci-bot"))), TokenState::kValid);

  ASSERT_TRUE(
      kube_.Delete(Resource::kSecret, "automation", "ci-bot-kcred-2", {}, absl::InfiniteFuture())
          .ok());
  repaired = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(repaired->account().status().generation(), 3);
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "ci-bot"))), TokenState::kValid);
  EXPECT_EQ(repaired->account().status().pending_revocations_size(), 0);
}

// Switching an account to token_only keeps its ServiceAccount through a later deletion.
TEST_F(BrokerTest, SwitchToTokenOnlyKeepsServiceAccount) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  v1::AccountSpec spec;
  spec.mutable_access()->mutable_token_only();
  auto switched = Provision(Ref("automation", "ci-bot"), spec);
  ASSERT_TRUE(switched.ok()) << switched.status();
  EXPECT_FALSE(kube_.Peek(Resource::kRole, "automation", "ci-bot").has_value());
  EXPECT_FALSE(kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot").has_value());
  ASSERT_TRUE(Delete(Ref("automation", "ci-bot")).ok());
  EXPECT_TRUE(kube_.Peek(Resource::kServiceAccount, "automation", "ci-bot").has_value());
}

// A foreign object of the same name is never touched without adopt; adopt takes it over.
TEST_F(BrokerTest, ForeignObjectNeedsAdopt) {
  ASSERT_TRUE(
      kube_
          .Seed(
              Resource::kRole,
              {{"metadata",
                {{"name", "ci-bot"}, {"namespace", "automation"}, {"labels", {{"owner", "ops"}}}}},
               {"rules", json::array()}})
          .ok());
  auto refused = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(refused.status().message(), HasSubstr("Role automation/ci-bot"));
  EXPECT_THAT(refused.status().message(), HasSubstr("set adopt"));
  EXPECT_EQ(Writes(kube_), 0);
  EXPECT_FALSE(kube_.Peek(Resource::kServiceAccount, "automation", "ci-bot").has_value());

  v1::AccountSpec spec = RulesSpec();
  spec.set_adopt(true);
  auto adopted = Provision(Ref("automation", "ci-bot"), spec);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  bool saw_adopt = false;
  for (const v1::ObjectChange& change : adopted->changes()) {
    if (change.object().kind() == "Role") {
      EXPECT_EQ(change.action(), v1::CHANGE_ACTION_ADOPTED);
      saw_adopt = true;
    }
  }
  EXPECT_TRUE(saw_adopt);
  auto role = kube_.Peek(Resource::kRole, "automation", "ci-bot");
  EXPECT_EQ((*role)["metadata"]["labels"][kManagedByLabel], "kcred");
  EXPECT_EQ((*role)["metadata"]["labels"]["owner"], "ops");
  EXPECT_EQ((*role)["rules"][0]["resources"], json({"pods", "configmaps"}));
}

// The namespace is created only when asked, labelled as kcred's, and kept on deletion.
// Two accounts provisioned at once may both create their namespace: the one that loses the race
// finds it there and goes on.
TEST_F(BrokerTest, CreateNamespaceToleratesAConcurrentCreator) {
  v1::AccountSpec spec = RulesSpec();
  spec.set_create_namespace(true);
  kube_.FailNextAfterApplying(Verb::kCreate, Resource::kNamespace, 1,
                              absl::AlreadyExistsError("namespaces \"shared\" already exists"));
  auto provisioned = Provision(Ref("shared", "bot"), spec);
  ASSERT_TRUE(provisioned.ok()) << provisioned.status();
  EXPECT_TRUE(kube_.Peek(Resource::kServiceAccount, "shared", "bot").has_value());
  EXPECT_TRUE(broker_->GetKubeconfig(Ref("shared", "bot")).ok());
}

TEST_F(BrokerTest, CreateNamespace) {
  auto refused = Provision(Ref("fresh", "bot"), RulesSpec());
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(refused.status().message(), HasSubstr("namespace \"fresh\" does not exist"));
  EXPECT_THAT(refused.status().message(), HasSubstr("create_namespace"));
  EXPECT_EQ(Writes(kube_), 0);

  v1::AccountSpec spec = RulesSpec();
  spec.set_create_namespace(true);
  (*spec.mutable_labels())["team"] = "ci";
  (*spec.mutable_annotations())["example.com/owner"] = "ci@example.com";
  ASSERT_TRUE(Provision(Ref("fresh", "bot"), spec).ok());
  auto ns = kube_.Peek(Resource::kNamespace, "", "fresh");
  ASSERT_TRUE(ns.has_value());
  EXPECT_EQ((*ns)["metadata"]["labels"]["team"], "ci");
  EXPECT_EQ((*ns)["metadata"]["annotations"]["example.com/owner"], "ci@example.com");
  auto sa = kube_.Peek(Resource::kServiceAccount, "fresh", "bot");
  EXPECT_EQ((*sa)["metadata"]["annotations"]["example.com/owner"], "ci@example.com");
  auto anchor = kube_.Peek(Resource::kSecret, "fresh", "bot-kcred-1");
  EXPECT_EQ((*anchor)["metadata"]["labels"]["team"], "ci");
  EXPECT_EQ((*ns)["metadata"]["labels"][kManagedByLabel], "kcred");
  EXPECT_EQ((*ns)["metadata"]["labels"][kCreatedForLabel], "bot");
  ASSERT_TRUE(Delete(Ref("fresh", "bot")).ok());
  EXPECT_TRUE(kube_.Peek(Resource::kNamespace, "", "fresh").has_value());
  EXPECT_EQ(LabelledEverywhere("fresh", "bot"), 0u);
}

struct BadRequest {
  std::string what;
  v1::AccountRef ref;
  v1::AccountSpec spec;
  absl::StatusCode code;
  std::string message;
};

// Each bad input is refused at entry with a message that says what to fix, and nothing is made.
TEST_F(BrokerTest, ValidationErrors) {
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

// Rotation: the new token works at once; the old one is revoked when its grace has passed.
TEST_F(BrokerTest, RotateWithGrace) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString old_token = TokenOf(Ref("automation", "ci-bot"));
  clock_.Advance(absl::Minutes(10));
  auto rotated = Rotate(Ref("automation", "ci-bot"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->previous_generation(), 1);
  EXPECT_EQ(rotated->account().status().generation(), 2);
  ASSERT_EQ(rotated->account().status().pending_revocations_size(), 1);
  EXPECT_EQ(rotated->account().status().pending_revocations(0).generation(), 1);
  const absl::Time revoke_at = FromProto(rotated->previous_revoke_time());
  EXPECT_EQ(revoke_at, clock_.Now() + absl::Minutes(5));

  SecretString new_token = TokenOf(Ref("automation", "ci-bot"));
  EXPECT_TRUE(new_token != old_token);
  EXPECT_EQ(kube_.CheckToken(new_token), TokenState::kValid);
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kValid);
  EXPECT_TRUE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-2").has_value());

  auto early = broker_->RevokeDue();
  ASSERT_TRUE(early.ok());
  ASSERT_TRUE(early->has_value());
  EXPECT_EQ(**early, revoke_at);
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kValid);

  clock_.Advance(absl::Minutes(5));
  auto due = broker_->RevokeDue();
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_FALSE(due->has_value());
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kRevoked);
  EXPECT_EQ(kube_.CheckToken(new_token), TokenState::kValid);
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-1").has_value());
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  EXPECT_EQ(account->status().pending_revocations_size(), 0);
}

// Grace zero revokes the previous token within the rotation call.
TEST_F(BrokerTest, RotateWithZeroGraceRevokesAtOnce) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString old_token = TokenOf(Ref("automation", "ci-bot"));
  auto rotated = Rotate(Ref("automation", "ci-bot"), 0);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kRevoked);
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "ci-bot"))), TokenState::kValid);
  EXPECT_EQ(rotated->account().status().pending_revocations_size(), 0);
  EXPECT_EQ(FromProto(rotated->previous_revoke_time()), clock_.Now());
}

// A failed token request leaves the current token in service and records the error.
TEST_F(BrokerTest, FailedRotationKeepsCurrentToken) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString token = TokenOf(Ref("automation", "ci-bot"));
  kube_.FailNext(Verb::kCreateToken, std::nullopt, 1, absl::UnavailableError("apiserver down"));
  auto rotated = Rotate(Ref("automation", "ci-bot"));
  ASSERT_EQ(rotated.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(rotated.status().message(),
              HasSubstr("requesting a token for ServiceAccount automation/ci-bot"));
  EXPECT_TRUE(TokenOf(Ref("automation", "ci-bot")) == token);
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  EXPECT_EQ(account->status().generation(), 1);
  EXPECT_THAT(account->status().last_error(), HasSubstr("apiserver down"));
  // The anchor of the failed attempt is not left behind.
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-2").has_value());
  // Applying the unchanged spec verifies the objects and clears the error, without writes.
  const int writes = Writes(kube_);
  auto reapplied = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(reapplied.ok()) << reapplied.status();
  EXPECT_EQ(reapplied->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);
  EXPECT_TRUE(reapplied->account().status().last_error().empty());
  EXPECT_EQ(Writes(kube_), writes);
  // The next rotation succeeds.
  auto retried = Rotate(Ref("automation", "ci-bot"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->account().status().last_error().empty());
}

// A revocation that fails stays scheduled, is reported, and succeeds on a later call.
TEST_F(BrokerTest, FailedRevocationIsRetried) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString old_token = TokenOf(Ref("automation", "ci-bot"));
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot")).ok());
  clock_.Advance(absl::Minutes(5));
  kube_.FailNext(Verb::kDelete, Resource::kSecret, 1, absl::UnavailableError("etcd slow"));
  auto failed = broker_->RevokeDue();
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.status().message(), HasSubstr("dev/automation/ci-bot"));
  EXPECT_THAT(failed.status().message(), HasSubstr("etcd slow"));
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kValid);
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  EXPECT_EQ(account->status().pending_revocations_size(), 1);
  EXPECT_THAT(account->status().last_error(), HasSubstr("revoking generation 1"));
  // Other reads keep working meanwhile.
  EXPECT_TRUE(broker_->GetToken(Ref("automation", "ci-bot")).ok());

  auto retried = broker_->RevokeDue();
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kRevoked);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->status().pending_revocations_size(),
            0);
}

// validate_only on an existing account reports the updates it would make, and makes none.
TEST_F(BrokerTest, ValidateOnlyReportsUpdates) {
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

// Pending revocations are durable: a restarted broker still revokes them.
TEST_F(BrokerTest, PendingRevocationSurvivesRestart) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString old_token = TokenOf(Ref("automation", "ci-bot"));
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot")).ok());
  broker_ = MakeBroker();
  ASSERT_TRUE(broker_->Restore().ok());
  clock_.Advance(absl::Minutes(6));
  auto due = broker_->RevokeDue();
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kRevoked);
}

// A token Secret no committed generation owns (a crash before the commit) is swept once old.
TEST_F(BrokerTest, SweepOrphans) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  // What a crash after creating anchor 2, before committing it, leaves behind.
  json labels = json(AccountLabels("dev", "automation", "ci-bot"));
  labels[kGenerationLabel] = "2";
  ASSERT_TRUE(
      kube_
          .Create(Resource::kSecret,
                  {{"metadata",
                    {{"name", "ci-bot-kcred-2"}, {"namespace", "automation"}, {"labels", labels}}},
                   {"type", "Opaque"}},
                  absl::InfiniteFuture())
          .ok());
  // A foreign Secret in the namespace is never touched.
  ASSERT_TRUE(kube_
                  .Create(Resource::kSecret,
                          {{"metadata", {{"name", "unrelated"}, {"namespace", "automation"}}}},
                          absl::InfiniteFuture())
                  .ok());
  auto young = broker_->SweepOrphans();
  ASSERT_TRUE(young.ok()) << young.status();
  EXPECT_EQ(*young, 0);  // within the grace period: maybe still in use
  clock_.Advance(absl::Minutes(6));
  auto swept = broker_->SweepOrphans();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 1);
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-2").has_value());
  EXPECT_TRUE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-1").has_value());
  EXPECT_TRUE(kube_.Peek(Resource::kSecret, "automation", "unrelated").has_value());
  EXPECT_TRUE(broker_->GetToken(Ref("automation", "ci-bot")).ok());
}

// A record changed in the store by another writer is not overwritten; a retry proceeds from it.
TEST_F(BrokerTest, ConcurrentStoreWriterIsNotOverwritten) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  const std::string key = "accounts/dev/automation/ci-bot";
  auto stored = store_.Get(key);
  ASSERT_TRUE(stored.ok());
  internal::v1::AccountRecord record;
  ASSERT_TRUE(record.ParseFromString(stored->value));
  (*record.mutable_account()->mutable_spec()->mutable_labels())["written-by"] = "other";
  ASSERT_TRUE(store_.Put(key, record.SerializeAsString(), store::Precondition::None()).ok());

  auto rotated = Rotate(Ref("automation", "ci-bot"));
  ASSERT_EQ(rotated.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(rotated.status().message(), HasSubstr("retry"));
  // The other writer's change survived, and the token in service is still generation 1.
  record.Clear();
  ASSERT_TRUE(record.ParseFromString(store_.Get(key)->value));
  EXPECT_EQ(record.account().spec().labels().at("written-by"), "other");
  EXPECT_EQ(broker_->GetToken(Ref("automation", "ci-bot"))->generation(), 1);

  auto retried = Rotate(Ref("automation", "ci-bot"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->account().status().generation(), 2);
  EXPECT_EQ(retried->account().spec().labels().at("written-by"), "other");
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "ci-bot"))), TokenState::kValid);
}

// Legacy mode: a kubernetes.io/service-account-token Secret filled by the token controller.
TEST_F(BrokerTest, LegacyMode) {
  v1::AccountSpec spec = RulesSpec();
  spec.mutable_token()->set_mode(v1::TOKEN_MODE_LEGACY);
  auto response = Provision(Ref("automation", "old-tool"), spec);
  ASSERT_TRUE(response.ok()) << response.status();
  auto secret = kube_.Peek(Resource::kSecret, "automation", "old-tool-kcred-1");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ((*secret)["type"], "kubernetes.io/service-account-token");
  EXPECT_EQ((*secret)["metadata"]["annotations"]["kubernetes.io/service-account.name"], "old-tool");
  EXPECT_EQ(kube_.CallCount(Verb::kCreateToken), 0);
  EXPECT_FALSE(response->account().status().has_expire_time());
  SecretString token = TokenOf(Ref("automation", "old-tool"));
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kValid);
  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "old-tool"));
  ASSERT_TRUE(kubeconfig.ok());
  EXPECT_FALSE(kubeconfig->has_expire_time());

  ASSERT_TRUE(Rotate(Ref("automation", "old-tool"), 0).ok());
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kRevoked);
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "automation", "old-tool-kcred-1").has_value());
}

// Legacy mode without a token controller gives up after the configured wait, leaving nothing.
TEST_F(BrokerTest, LegacyModeWaitIsBounded) {
  kube_.SetFillLegacyTokenSecrets(false);
  v1::AccountSpec spec = RulesSpec();
  spec.mutable_token()->set_mode(v1::TOKEN_MODE_LEGACY);
  const absl::Time start = clock_.Now();
  auto response = Provision(Ref("automation", "old-tool"), spec);
  ASSERT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(response.status().message(), HasSubstr("did not fill Secret automation/old-tool"));
  EXPECT_GE(clock_.Now() - start, absl::Seconds(30));
  EXPECT_LT(clock_.Now() - start, absl::Seconds(32));
  EXPECT_EQ(kube_.ObjectCount(Resource::kSecret), 0u);
  EXPECT_EQ(kube_.ObjectCount(Resource::kServiceAccount), 0u);  // rolled back
  EXPECT_EQ(broker_->account_count(), 0u);
}

// Changing the token mode rotates at once; the previous token keeps its grace.
TEST_F(BrokerTest, ModeChangeRotates) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  v1::AccountSpec spec = RulesSpec();
  spec.mutable_token()->set_mode(v1::TOKEN_MODE_LEGACY);
  auto response = Provision(Ref("automation", "ci-bot"), spec);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->outcome(), v1::PROVISION_OUTCOME_UPDATED);
  EXPECT_EQ(response->account().status().generation(), 2);
  EXPECT_EQ(response->account().status().pending_revocations_size(), 1);
  auto secret = kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-2");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ((*secret)["type"], "kubernetes.io/service-account-token");
}

// Delete removes every object kcred made (nothing left by label) and revokes the token.
TEST_F(BrokerTest, DeleteRemovesEverything) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec(v1::SCOPE_CLUSTER)).ok());
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot")).ok());  // two live generations
  SecretString token = TokenOf(Ref("automation", "ci-bot"));
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 5u);
  auto deleted = Delete(Ref("automation", "ci-bot"));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->deleted_objects_size(), 5);
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kRevoked);
  EXPECT_EQ(kube_.ValidTokenCount(), 0);
  EXPECT_TRUE(store_.All().empty());
  EXPECT_EQ(broker_->account_count(), 0u);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Delete(Ref("automation", "ci-bot")).status().code(), absl::StatusCode::kNotFound);
}

// Delete retried after partial failures (before and after the server applied a call) finishes.
TEST_F(BrokerTest, DeleteRetriedAfterPartialFailure) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString token = TokenOf(Ref("automation", "ci-bot"));
  kube_.FailNextAfterApplying(Verb::kDelete, Resource::kSecret, 1,
                              absl::DeadlineExceededError("timeout"));
  auto first = Delete(Ref("automation", "ci-bot"));
  ASSERT_EQ(first.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(first.status().message(), HasSubstr("deleting Secret automation/ci-bot-kcred-1"));
  // Being deleted: no token is served any more.
  EXPECT_EQ(broker_->GetToken(Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kUnavailable);

  kube_.FailNext(Verb::kDelete, Resource::kRole, 1, absl::UnavailableError("apiserver down"));
  auto second = Delete(Ref("automation", "ci-bot"));
  ASSERT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("deleting Role automation/ci-bot"));
  EXPECT_EQ(broker_->account_count(), 1u);

  auto third = Delete(Ref("automation", "ci-bot"));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kRevoked);
  EXPECT_TRUE(store_.All().empty());
}

// A new account whose provisioning fails part-way is rolled back.
TEST_F(BrokerTest, FailedFirstProvisionRollsBack) {
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
TEST_F(BrokerTest, FailedFirstCommitRollsBack) {
  // Another writer already holds the key: the first commit (expecting it absent) fails.
  ASSERT_TRUE(
      store_.Put("accounts/dev/automation/ci-bot", "junk", store::Precondition::None()).ok());
  auto response = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
  EXPECT_EQ(kube_.ValidTokenCount(), 0);
}

// Kubernetes errors keep their code, message and reason, prefixed with what kcred was doing.
TEST_F(BrokerTest, KubernetesErrorsKeepTheirReason) {
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
TEST_F(BrokerTest, LostAnchorAnswerIsRecovered) {
  kube_.FailNextAfterApplying(Verb::kCreate, Resource::kSecret, 1,
                              absl::DeadlineExceededError("timeout"));
  ASSERT_FALSE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  // The rollback cannot know the anchor's uid; the label sweep of a later delete would find it,
  // and a retry reuses it.
  auto retried = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "ci-bot"))), TokenState::kValid);
}

// Restore brings back every account and the same kubeconfig without calling Kubernetes.
TEST_F(BrokerTest, RestoreFromStore) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "other"), RulesSpec(v1::SCOPE_CLUSTER)).ok());
  auto before = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(before.ok());
  auto account_before = broker_->GetAccount(Ref("automation", "ci-bot"));
  const int calls = AllCalls(kube_);

  broker_ = MakeBroker();
  ASSERT_TRUE(broker_->Restore().ok());
  EXPECT_EQ(AllCalls(kube_), calls);
  EXPECT_EQ(broker_->account_count(), 2u);
  auto after = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->kubeconfig(), before->kubeconfig());
  EXPECT_EQ(after->token_fingerprint(), before->token_fingerprint());
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->etag(), account_before->etag());
  // And the restored account can be applied again without changes.
  auto unchanged = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);
}

// A record whose sealed token was tampered with is restored without a token, not served wrongly.
TEST_F(BrokerTest, RestoreWithUnreadableToken) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto wrong_key = store::MakeSealingKey(SecretString(std::string(32, 'x')));
  auto other_sealer = store::AesGcmSealer::Create(std::move(*wrong_key));
  Broker restored(clock_, store_, **other_sealer, {{cluster_, Unowned(kube_)}}, defaults_);
  ASSERT_TRUE(restored.Restore().ok());
  auto kubeconfig = restored.GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_EQ(kubeconfig.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(kubeconfig.status().message(), HasSubstr("cannot be opened"));
}

// GetKubeconfig and GetToken are answered from memory: no Kubernetes call, no store read.
TEST_F(BrokerTest, CredentialsServedFromMemory) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  const int calls = AllCalls(kube_);
  const int reads = store_.reads();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(broker_->GetKubeconfig(Ref("automation", "ci-bot")).ok());
    ASSERT_TRUE(broker_->GetToken(Ref("automation", "ci-bot")).ok());
    ASSERT_TRUE(broker_->GetAccount(Ref("automation", "ci-bot")).ok());
  }
  EXPECT_EQ(AllCalls(kube_), calls);
  EXPECT_EQ(store_.reads(), reads);
}

// An expired token is refused with UNAVAILABLE saying when it expired.
TEST_F(BrokerTest, ExpiredTokenRefused) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  clock_.Advance(absl::Hours(1));
  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_EQ(kubeconfig.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(kubeconfig.status().message(), HasSubstr("expired at 2026-01-01T01:00:00"));
  EXPECT_EQ(broker_->GetToken(Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kUnavailable);
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(account->status().conditions(0).type(), v1::CONDITION_TYPE_READY);
  EXPECT_EQ(account->status().conditions(0).status(), v1::CONDITION_STATUS_FALSE);
  EXPECT_EQ(account->status().conditions(0).reason(), "TokenExpired");
  // Applying the spec again replaces the expired token.
  auto reapplied = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(reapplied.ok()) << reapplied.status();
  EXPECT_EQ(reapplied->account().status().generation(), 2);
  EXPECT_TRUE(broker_->GetToken(Ref("automation", "ci-bot")).ok());
}

// The store holds tokens only sealed: no raw value contains a token.
TEST_F(BrokerTest, StoreNeverHoldsPlainTokens) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  std::vector<std::string> tokens = {TokenOf(Ref("automation", "ci-bot")).Reveal()};
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot")).ok());
  tokens.push_back(TokenOf(Ref("automation", "ci-bot")).Reveal());
  std::vector<store::KeyValue> all = store_.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].key, "accounts/dev/automation/ci-bot");
  for (const std::string& token : tokens) {
    ASSERT_FALSE(token.empty());
    EXPECT_EQ(all[0].value.find(token), std::string::npos);
  }
}

// Paging walks every account in order; a forged page token is refused; selectors filter.
TEST_F(BrokerTest, ListAccountsPagesAndFilters) {
  SeedNamespace("b-team");
  for (const char* name : {"a1", "a2", "a3"}) {
    v1::AccountSpec spec = RulesSpec();
    (*spec.mutable_labels())["team"] = name == std::string("a2") ? "ops" : "ci";
    ASSERT_TRUE(Provision(Ref("automation", name), spec).ok());
  }
  ASSERT_TRUE(Provision(Ref("b-team", "z"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("b-team", "y"), RulesSpec()).ok());

  std::vector<std::string> seen;
  v1::ListAccountsRequest request;
  request.set_page_size(2);
  int pages = 0;
  do {
    auto page = broker_->ListAccounts(request);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const v1::Account& account : page->accounts()) {
      seen.push_back(absl::StrCat(account.ref().namespace_(), "/", account.ref().name()));
    }
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ::testing::ElementsAre("automation/a1", "automation/a2", "automation/a3",
                                           "b-team/y", "b-team/z"));

  v1::ListAccountsRequest forged;
  forged.set_page_token("bm90LW91cnM");
  EXPECT_EQ(broker_->ListAccounts(forged).status().code(), absl::StatusCode::kInvalidArgument);

  v1::ListAccountsRequest filtered;
  filtered.mutable_selector()->set_label_selector("team=ci");
  auto ci = broker_->ListAccounts(filtered);
  ASSERT_TRUE(ci.ok());
  EXPECT_EQ(ci->accounts_size(), 2);
  filtered.mutable_selector()->set_label_selector("team!=ci");
  EXPECT_EQ(broker_->ListAccounts(filtered)->accounts_size(), 3);  // a2 and the unlabelled ones
  filtered.mutable_selector()->set_label_selector("team");
  EXPECT_EQ(broker_->ListAccounts(filtered)->accounts_size(), 3);
  filtered.mutable_selector()->set_label_selector("");
  filtered.mutable_selector()->set_namespace_("b-team");
  EXPECT_EQ(broker_->ListAccounts(filtered)->accounts_size(), 2);
  filtered.mutable_selector()->clear_namespace_();
  filtered.mutable_selector()->set_label_selector("team in (ops, qa)");
  EXPECT_EQ(broker_->ListAccounts(filtered)->accounts_size(), 1);
  filtered.mutable_selector()->set_label_selector("team notin (ops),team");
  EXPECT_EQ(broker_->ListAccounts(filtered)->accounts_size(), 2);
  filtered.mutable_selector()->set_label_selector("!team");
  EXPECT_EQ(broker_->ListAccounts(filtered)->accounts_size(), 2);
  filtered.mutable_selector()->set_label_selector("team in (ops");
  EXPECT_EQ(broker_->ListAccounts(filtered).status().code(), absl::StatusCode::kInvalidArgument);
  filtered.mutable_selector()->set_label_selector("bad key=x");
  EXPECT_EQ(broker_->ListAccounts(filtered).status().code(), absl::StatusCode::kInvalidArgument);
  v1::ListAccountsRequest unknown;
  unknown.mutable_selector()->set_cluster("prod");
  EXPECT_EQ(broker_->ListAccounts(unknown).status().code(), absl::StatusCode::kNotFound);
}

// expected_etag guards against lost updates; validate_only changes nothing.
TEST_F(BrokerTest, EtagAndValidateOnly) {
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

// ListClusters reports reachability, version and account counts; a probe of the last two seconds
// is reused instead of asking the API server again.
TEST_F(BrokerTest, ListClusters) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto clusters = broker_->ListClusters();
  ASSERT_TRUE(clusters.ok());
  ASSERT_EQ(clusters->clusters_size(), 1);
  EXPECT_TRUE(clusters->clusters(0).reachable());
  EXPECT_EQ(clusters->clusters(0).server_version(), "v1.31.0");
  EXPECT_EQ(clusters->clusters(0).account_count(), 1);
  const int probes = kube_.CallCount(Verb::kServerVersion);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(broker_->ListClusters().ok());
  EXPECT_EQ(kube_.CallCount(Verb::kServerVersion), probes);
  kube_.FailNext(Verb::kServerVersion, std::nullopt, 1, absl::UnavailableError("connect refused"));
  clock_.Advance(absl::Seconds(3));
  clusters = broker_->ListClusters();
  EXPECT_EQ(kube_.CallCount(Verb::kServerVersion), probes + 1);
  EXPECT_FALSE(clusters->clusters(0).reachable());
  EXPECT_THAT(clusters->clusters(0).error(), HasSubstr("connect refused"));
}

// The longest valid account name still yields valid object names and label values.
TEST_F(BrokerTest, LongestAccountName) {
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

// Several clusters: each account lives on its own, and every cluster is probed.
TEST_F(BrokerTest, SeveralClusters) {
  FakeKubeClient prod(clock_);
  ASSERT_TRUE(prod.Seed(Resource::kNamespace, {{"metadata", {{"name", "automation"}}}}).ok());
  config::ClusterConfig prod_config = cluster_;
  prod_config.name = "prod";
  prod_config.server = "https://prod.example:6443";
  broker_ = std::make_unique<Broker>(
      clock_, store_, *sealer_,
      std::vector<ClusterHandle>{{cluster_, Unowned(kube_)}, {prod_config, Unowned(prod)}},
      defaults_);
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot", "prod"), RulesSpec()).ok());
  EXPECT_EQ(kube_.ObjectCount(Resource::kServiceAccount), 0u);
  EXPECT_EQ(prod.ObjectCount(Resource::kServiceAccount), 1u);
  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "ci-bot", "prod"));
  ASSERT_TRUE(kubeconfig.ok());
  EXPECT_EQ(kubeconfig->server(), "https://prod.example:6443");
  EXPECT_EQ(kubeconfig->context_name(), "kcred-prod-automation-ci-bot");
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kNotFound);

  prod.FailNext(Verb::kServerVersion, std::nullopt, 1, absl::UnavailableError("no route"));
  auto clusters = broker_->ListClusters();
  ASSERT_TRUE(clusters.ok());
  ASSERT_EQ(clusters->clusters_size(), 2);
  EXPECT_EQ(clusters->clusters(0).name(), "dev");
  EXPECT_TRUE(clusters->clusters(0).reachable());
  EXPECT_EQ(clusters->clusters(0).account_count(), 0);
  EXPECT_EQ(clusters->clusters(1).name(), "prod");
  EXPECT_FALSE(clusters->clusters(1).reachable());
  EXPECT_EQ(clusters->clusters(1).account_count(), 1);
  broker_.reset();  // before `prod` goes
}

// Events follow every committed change, and never carry a token.
TEST_F(BrokerTest, EventsForWatchers) {
  absl::Mutex mu;
  std::vector<v1::AccountEvent> events;
  broker_->SetEventListener([&](const v1::AccountEvent& event) {
    absl::MutexLock lock(&mu);
    events.push_back(event);
  });
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());  // unchanged: no event
  std::vector<std::string> tokens = {TokenOf(Ref("automation", "ci-bot")).Reveal()};
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot"), 0).ok());
  tokens.push_back(TokenOf(Ref("automation", "ci-bot")).Reveal());
  kube_.FailNext(Verb::kCreateToken, std::nullopt, 1, absl::UnavailableError("down"));
  ASSERT_FALSE(Rotate(Ref("automation", "ci-bot")).ok());
  ASSERT_TRUE(Delete(Ref("automation", "ci-bot")).ok());

  absl::MutexLock lock(&mu);
  std::vector<v1::EventType> types;
  for (const v1::AccountEvent& event : events) {
    types.push_back(event.type());
    EXPECT_EQ(event.account().ref().name(), "ci-bot");
    EXPECT_TRUE(event.has_time());
    const std::string bytes = event.SerializeAsString();
    for (const std::string& token : tokens) EXPECT_EQ(bytes.find(token), std::string::npos);
  }
  EXPECT_THAT(types, ::testing::ElementsAre(v1::EVENT_TYPE_PROVISIONED, v1::EVENT_TYPE_ROTATED,
                                            v1::EVENT_TYPE_REVOKED, v1::EVENT_TYPE_FAILED,
                                            v1::EVENT_TYPE_DELETED));
  EXPECT_EQ(events[1].account().status().generation(), 2);
  EXPECT_THAT(events[3].message(), HasSubstr("down"));
}

// Kubeconfig names follow the cluster's templates.
TEST_F(BrokerTest, KubeconfigNameTemplates) {
  cluster_.cluster_name_template = "gs-{cluster}";
  cluster_.context_name_template = "gs-{cluster}-{name}@{namespace}";
  broker_ = MakeBroker();
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(kubeconfig.ok());
  EXPECT_EQ(kubeconfig->cluster_name(), "gs-dev");
  EXPECT_EQ(kubeconfig->context_name(), "gs-dev-ci-bot@automation");
}

// Operations on different accounts run in parallel without corrupting each other.
TEST_F(BrokerTest, ConcurrentAccounts) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([this, i] {
      const v1::AccountRef ref = Ref("automation", absl::StrCat("bot-", i % 4));
      EXPECT_TRUE(Provision(ref, RulesSpec()).ok());
      EXPECT_TRUE(Rotate(ref).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(broker_->account_count(), 4u);
  for (int i = 0; i < 4; ++i) {
    auto account = broker_->GetAccount(Ref("automation", absl::StrCat("bot-", i)));
    ASSERT_TRUE(account.ok());
    EXPECT_EQ(account->status().generation(), 3);  // created once, rotated twice
  }
}

// ----- swappable clusters --------------------------------------------------------------------

constexpr char kOtherCaPem[] = "-----BEGIN CERTIFICATE-----\nOTHERCA\n-----END CERTIFICATE-----\n";

// A KubeClient over a FakeKubeClient whose CreateToken calls can be held until the test lets them
// go, to have an operation in flight at a chosen point.
class GatedKubeClient : public kube::KubeClient {
 public:
  explicit GatedKubeClient(Clock& clock) : fake_(clock) {}

  FakeKubeClient& fake() { return fake_; }
  void HoldCreateToken() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  // Returns once a CreateToken call is being held.
  void WaitUntilHeld() { absl::MutexLock lock(&mu_, absl::Condition(&held_)); }
  void Release() {
    absl::MutexLock lock(&mu_);
    hold_ = false;
  }

  absl::StatusOr<json> Get(Resource resource, const std::string& ns, const std::string& name,
                           absl::Time deadline) override {
    return fake_.Get(resource, ns, name, deadline);
  }
  absl::StatusOr<std::vector<json>> List(Resource resource, const std::string& ns,
                                         const std::string& selector,
                                         absl::Time deadline) override {
    return fake_.List(resource, ns, selector, deadline);
  }
  absl::StatusOr<json> Create(Resource resource, const json& object, absl::Time deadline) override {
    return fake_.Create(resource, object, deadline);
  }
  absl::StatusOr<json> Update(Resource resource, const json& object, absl::Time deadline) override {
    return fake_.Update(resource, object, deadline);
  }
  absl::Status Delete(Resource resource, const std::string& ns, const std::string& name,
                      const kube::DeletePreconditions& preconditions,
                      absl::Time deadline) override {
    return fake_.Delete(resource, ns, name, preconditions, deadline);
  }
  absl::StatusOr<kube::IssuedToken> CreateToken(const std::string& ns,
                                                const std::string& service_account,
                                                const kube::TokenRequestSpec& spec,
                                                absl::Time deadline) override {
    {
      absl::MutexLock lock(&mu_);
      held_ = hold_;
      mu_.Await(absl::Condition(
          +[](bool* hold) { return !*hold; }, &hold_));
      held_ = false;
    }
    return fake_.CreateToken(ns, service_account, spec, deadline);
  }
  absl::StatusOr<kube::ServerVersion> GetServerVersion(absl::Time deadline) override {
    return fake_.GetServerVersion(deadline);
  }

 private:
  FakeKubeClient fake_;
  absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
};

class BrokerClustersTest : public BrokerTest {
 protected:
  BrokerClustersTest() : prod_(std::make_shared<FakeKubeClient>(clock_)) {
    EXPECT_TRUE(prod_->Seed(Resource::kNamespace, {{"metadata", {{"name", "automation"}}}}).ok());
    prod_config_ = cluster_;
    prod_config_.name = "prod";
    prod_config_.server = "https://prod.example:6443";
    broker_ = std::make_unique<Broker>(
        clock_, store_, *sealer_,
        std::vector<ClusterHandle>{{cluster_, Unowned(kube_)}, {prod_config_, prod_}}, defaults_);
  }

  std::vector<std::string> ClusterNames() {
    std::vector<std::string> names;
    auto clusters = broker_->ListClusters();
    EXPECT_TRUE(clusters.ok()) << clusters.status();
    if (clusters.ok()) {
      for (const v1::Cluster& cluster : clusters->clusters()) names.push_back(cluster.name());
    }
    return names;
  }

  std::shared_ptr<FakeKubeClient> prod_;
  config::ClusterConfig prod_config_;
};

// A changed cluster's kubeconfigs get the new server URL and CA at once, with the same token and
// no Kubernetes call; the other cluster's stay as they were.
TEST_F(BrokerClustersTest, UpdateRerendersChangedClusterOnly) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot", "prod"), RulesSpec()).ok());
  auto before = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  auto prod_before = broker_->GetKubeconfig(Ref("automation", "ci-bot", "prod"));
  ASSERT_TRUE(before.ok() && prod_before.ok());
  const SecretString token = TokenOf(Ref("automation", "ci-bot"));
  const int dev_calls = AllCalls(kube_);
  const int prod_calls = AllCalls(*prod_);

  config::ClusterConfig moved = cluster_;
  moved.server = "https://dev-2.example:6443";
  moved.ca_pem = kOtherCaPem;
  moved.context_name_template = "{cluster}-{name}";
  ASSERT_TRUE(broker_->UpdateClusters({{moved, Unowned(kube_)}, {prod_config_, prod_}}).ok());

  auto after = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->server(), "https://dev-2.example:6443");
  EXPECT_EQ(after->certificate_authority(), kOtherCaPem);
  EXPECT_EQ(after->context_name(), "dev-ci-bot");
  EXPECT_THAT(after->kubeconfig(), HasSubstr("server: https://dev-2.example:6443"));
  EXPECT_THAT(after->kubeconfig(), ::testing::Not(HasSubstr("127.0.0.1")));
  EXPECT_EQ(after->generation(), before->generation());
  EXPECT_EQ(after->token_fingerprint(), before->token_fingerprint());
  EXPECT_EQ(TokenOf(Ref("automation", "ci-bot")).fingerprint(), token.fingerprint());

  auto prod_after = broker_->GetKubeconfig(Ref("automation", "ci-bot", "prod"));
  ASSERT_TRUE(prod_after.ok());
  EXPECT_EQ(prod_after->kubeconfig(), prod_before->kubeconfig());
  EXPECT_EQ(AllCalls(kube_), dev_calls);
  EXPECT_EQ(AllCalls(*prod_), prod_calls);

  // New tokens are rendered for the new configuration too.
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot"), 0).ok());
  auto rotated = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated->generation(), 2);
  EXPECT_EQ(rotated->server(), "https://dev-2.example:6443");
}

// An operation running while its cluster is replaced finishes with the handle it started with,
// which stays alive until then; what it commits is served for the new configuration.
TEST_F(BrokerClustersTest, OperationInFlightKeepsItsHandle) {
  auto gated = std::make_shared<GatedKubeClient>(clock_);
  ASSERT_TRUE(
      gated->fake().Seed(Resource::kNamespace, {{"metadata", {{"name", "automation"}}}}).ok());
  broker_ = std::make_unique<Broker>(clock_, store_, *sealer_,
                                     std::vector<ClusterHandle>{{cluster_, gated}}, defaults_);
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  const SecretString first = TokenOf(Ref("automation", "ci-bot"));

  GatedKubeClient* old_client = gated.get();
  std::weak_ptr<GatedKubeClient> old_alive = gated;
  gated->HoldCreateToken();
  gated.reset();  // from here on, only the broker and its operations hold the old client
  absl::StatusOr<v1::RotateTokenResponse> rotated;
  std::thread rotation([&] { rotated = Rotate(Ref("automation", "ci-bot"), 0); });
  old_client->WaitUntilHeld();

  config::ClusterConfig moved = cluster_;
  moved.server = "https://dev-2.example:6443";
  auto replacement = std::make_shared<FakeKubeClient>(clock_);
  ASSERT_TRUE(broker_->UpdateClusters({{moved, replacement}}).ok());
  EXPECT_FALSE(old_alive.expired());
  auto during = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_EQ(during->generation(), 1);
  EXPECT_EQ(during->server(), "https://dev-2.example:6443");

  old_client->Release();
  rotation.join();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->account().status().generation(), 2);
  EXPECT_TRUE(old_alive.expired());  // freed with the last operation that used it
  auto after = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->generation(), 2);
  EXPECT_EQ(after->server(), "https://dev-2.example:6443");
  EXPECT_NE(TokenOf(Ref("automation", "ci-bot")).fingerprint(), first.fingerprint());
  EXPECT_EQ(AllCalls(*replacement), 0);
}

// A removed cluster's accounts stay loaded but unserved, with the reason; adding the cluster back
// serves the same token again.
TEST_F(BrokerClustersTest, RemovedClusterUnservedUntilAddedBack) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot", "prod"), RulesSpec()).ok());
  const SecretString token = TokenOf(Ref("automation", "ci-bot"));
  const int calls = AllCalls(kube_);

  ASSERT_TRUE(broker_->UpdateClusters({{prod_config_, prod_}}).ok());
  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  EXPECT_EQ(kubeconfig.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(kubeconfig.status().message(), HasSubstr("cluster \"dev\" is no longer configured"));
  EXPECT_EQ(broker_->GetToken(Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kUnavailable);
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  ASSERT_TRUE(account.ok()) << account.status();
  ASSERT_GE(account->status().conditions_size(), 1);
  EXPECT_EQ(account->status().conditions(0).type(), v1::CONDITION_TYPE_READY);
  EXPECT_EQ(account->status().conditions(0).status(), v1::CONDITION_STATUS_FALSE);
  EXPECT_EQ(account->status().conditions(0).reason(), "ClusterNotConfigured");
  EXPECT_EQ(broker_->account_count("dev"), 1u);
  v1::ListAccountsRequest list;
  list.mutable_selector()->set_cluster("dev");
  auto listed = broker_->ListAccounts(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->accounts_size(), 1);
  EXPECT_EQ(Rotate(Ref("automation", "ci-bot")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(broker_->GetKubeconfig(Ref("automation", "other")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(broker_->GetKubeconfig(Ref("automation", "ci-bot", "prod")).ok());

  ASSERT_TRUE(broker_->UpdateClusters({{cluster_, Unowned(kube_)}, {prod_config_, prod_}}).ok());
  EXPECT_EQ(TokenOf(Ref("automation", "ci-bot")).fingerprint(), token.fingerprint());
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->status().conditions(0).status(),
            v1::CONDITION_STATUS_TRUE);
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kValid);
  EXPECT_EQ(AllCalls(kube_), calls);
}

// Accounts restored for a cluster that was not configured are served once it is added.
TEST_F(BrokerClustersTest, RestoredAccountsServedWhenClusterAdded) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot", "prod"), RulesSpec()).ok());
  const SecretString token = TokenOf(Ref("automation", "ci-bot", "prod"));
  broker_ = std::make_unique<Broker>(
      clock_, store_, *sealer_, std::vector<ClusterHandle>{{cluster_, Unowned(kube_)}}, defaults_);
  ASSERT_TRUE(broker_->Restore().ok());
  EXPECT_EQ(broker_->account_count("prod"), 1u);
  auto unserved = broker_->GetToken(Ref("automation", "ci-bot", "prod"));
  EXPECT_EQ(unserved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(unserved.status().message(), HasSubstr("no longer configured"));

  ASSERT_TRUE(broker_->UpdateClusters({{cluster_, Unowned(kube_)}, {prod_config_, prod_}}).ok());
  EXPECT_EQ(TokenOf(Ref("automation", "ci-bot", "prod")).fingerprint(), token.fingerprint());
  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "ci-bot", "prod"));
  ASSERT_TRUE(kubeconfig.ok());
  EXPECT_EQ(kubeconfig->server(), "https://prod.example:6443");
}

// Duplicate names are rejected and leave the clusters as they were.
TEST_F(BrokerClustersTest, UpdateRejectsDuplicates) {
  config::ClusterConfig again = prod_config_;
  again.server = "https://elsewhere.example:6443";
  auto updated = broker_->UpdateClusters({{prod_config_, prod_}, {again, Unowned(kube_)}});
  EXPECT_EQ(updated.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(updated.message(), HasSubstr("\"prod\" is listed twice"));
  EXPECT_THAT(ClusterNames(), ::testing::ElementsAre("dev", "prod"));
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot", "prod"), RulesSpec()).ok());
  EXPECT_EQ(broker_->GetKubeconfig(Ref("automation", "ci-bot", "prod"))->server(),
            "https://prod.example:6443");
}

// ListClusters shows the new set and probes the new clients; account_count counts per cluster.
TEST_F(BrokerClustersTest, ListClustersFollowsUpdate) {
  ASSERT_TRUE(Provision(Ref("automation", "a"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "b"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "c", "prod"), RulesSpec()).ok());
  EXPECT_EQ(broker_->account_count("dev"), 2u);
  EXPECT_EQ(broker_->account_count("prod"), 1u);
  EXPECT_EQ(broker_->account_count("staging"), 0u);
  EXPECT_EQ(broker_->account_count(), 3u);

  config::ClusterConfig staging = cluster_;
  staging.name = "staging";
  staging.server = "https://staging.example:6443";
  auto staging_client = std::make_shared<FakeKubeClient>(clock_);
  ASSERT_TRUE(broker_->UpdateClusters({{prod_config_, prod_}, {staging, staging_client}}).ok());
  auto clusters = broker_->ListClusters();
  ASSERT_TRUE(clusters.ok());
  ASSERT_EQ(clusters->clusters_size(), 2);
  EXPECT_EQ(clusters->clusters(0).name(), "prod");
  EXPECT_EQ(clusters->clusters(0).account_count(), 1);
  EXPECT_EQ(clusters->clusters(1).name(), "staging");
  EXPECT_EQ(clusters->clusters(1).server(), "https://staging.example:6443");
  EXPECT_EQ(clusters->clusters(1).account_count(), 0);
  EXPECT_TRUE(clusters->clusters(1).reachable());
  EXPECT_EQ(staging_client->CallCount(Verb::kServerVersion), 1);
  EXPECT_EQ(kube_.CallCount(Verb::kServerVersion), 0);
  EXPECT_EQ(broker_->account_count("dev"), 2u);  // kept, unserved
}

// Rotations, reads and probes running while the clusters are swapped over and over all succeed,
// and every kubeconfig ends up rendered for the last configuration.
TEST_F(BrokerClustersTest, UpdatesRaceWithOperations) {
  constexpr int kAccounts = 4;
  constexpr int kRotations = 5;
  for (int i = 0; i < kAccounts; ++i) {
    ASSERT_TRUE(Provision(Ref("automation", absl::StrCat("bot-", i)), RulesSpec()).ok());
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kAccounts; ++i) {
    threads.emplace_back([this, i] {
      const v1::AccountRef ref = Ref("automation", absl::StrCat("bot-", i));
      for (int r = 0; r < kRotations; ++r) {
        EXPECT_TRUE(Rotate(ref, 0).ok());
        EXPECT_TRUE(broker_->GetKubeconfig(ref).ok());
      }
    });
  }
  threads.emplace_back([this] {
    for (int r = 0; r < kRotations; ++r) {
      auto clusters = broker_->ListClusters();
      EXPECT_TRUE(clusters.ok());
      EXPECT_EQ(clusters.ok() ? clusters->clusters_size() : -1, 2);
    }
  });
  config::ClusterConfig moved = cluster_;
  for (int u = 0; u < 20; ++u) {
    moved.server = absl::StrCat("https://dev-", u, ".example:6443");
    EXPECT_TRUE(broker_->UpdateClusters({{moved, Unowned(kube_)}, {prod_config_, prod_}}).ok());
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kAccounts; ++i) {
    auto kubeconfig = broker_->GetKubeconfig(Ref("automation", absl::StrCat("bot-", i)));
    ASSERT_TRUE(kubeconfig.ok()) << kubeconfig.status();
    EXPECT_EQ(kubeconfig->generation(), 1 + kRotations);
    EXPECT_EQ(kubeconfig->server(), "https://dev-19.example:6443");
    EXPECT_THAT(kubeconfig->kubeconfig(), HasSubstr("https://dev-19.example:6443"));
  }
}

// ----- origin --------------------------------------------------------------------------------

class BrokerOriginTest : public BrokerTest {
 protected:
  absl::StatusOr<v1::ProvisionAccountResponse> ProvisionAs(v1::Origin origin,
                                                           const v1::AccountRef& ref,
                                                           bool validate_only = false) {
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = ref;
    *request.mutable_spec() = RulesSpec();
    request.set_validate_only(validate_only);
    return broker_->Provision(request, origin);
  }
  absl::StatusOr<v1::DeleteAccountResponse> DeleteAs(v1::Origin origin, const v1::AccountRef& ref) {
    v1::DeleteAccountRequest request;
    *request.mutable_ref() = ref;
    return broker_->DeleteAccount(request, origin);
  }
};

// A configured account records its origin (also in events) and refuses API provisioning.
TEST_F(BrokerOriginTest, ConfigAccountIsChangedOnlyInTheConfiguration) {
  std::vector<v1::AccountEvent> events;
  absl::Mutex mu;
  broker_->SetEventListener([&](const v1::AccountEvent& event) {
    absl::MutexLock lock(&mu);
    events.push_back(event);
  });
  auto created = ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->account().origin(), v1::ORIGIN_CONFIG);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->origin(), v1::ORIGIN_CONFIG);

  auto api = ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot"));
  EXPECT_EQ(api.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(api.status().message(),
              HasSubstr("account dev/automation/ci-bot is declared in kcredd's configuration "
                        "(accounts:); change it there"));
  EXPECT_EQ(ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot"), true).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto again = ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);

  absl::MutexLock lock(&mu);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::EVENT_TYPE_PROVISIONED);
  EXPECT_EQ(events[0].account().origin(), v1::ORIGIN_CONFIG);
}

// The configuration does not take over an API account, and never deletes one.
TEST_F(BrokerOriginTest, ApiAccountIsNotTakenOverOrPrunedByConfig) {
  ASSERT_TRUE(ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot")).ok());
  const int writes = Writes(kube_);
  auto config = ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(config.status().message(),
              HasSubstr("account dev/automation/ci-bot was provisioned through the API; kcredd's "
                        "configuration does not take it over: delete it through the API first, "
                        "or remove it from the configuration"));
  auto pruned = DeleteAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"));
  EXPECT_EQ(pruned.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(pruned.status().message(), HasSubstr("was provisioned through the API"));
  EXPECT_EQ(Writes(kube_), writes);
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(account->origin(), v1::ORIGIN_API);
  EXPECT_FALSE(account->status().has_last_error_time());
  EXPECT_TRUE(broker_->GetKubeconfig(Ref("automation", "ci-bot")).ok());
}

// The API cannot delete a configured account (nor take it over afterwards); the configuration
// deletes its own.
TEST_F(BrokerOriginTest, DeletingConfigAccounts) {
  ASSERT_TRUE(ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "a")).ok());
  const int writes = Writes(kube_);
  auto api = DeleteAs(v1::ORIGIN_API, Ref("automation", "a"));
  EXPECT_EQ(api.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(api.status().message(), HasSubstr("accounts.prune: true"));
  EXPECT_EQ(Writes(kube_), writes);
  EXPECT_EQ(ProvisionAs(v1::ORIGIN_API, Ref("automation", "a")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "a"))->origin(), v1::ORIGIN_CONFIG);
  EXPECT_TRUE(DeleteAs(v1::ORIGIN_CONFIG, Ref("automation", "a")).ok());
  EXPECT_EQ(broker_->account_count(), 0u);
  EXPECT_EQ(LabelledEverywhere("automation", "a"), 0u);
}

// The API rotates a configured account only with a grace; the schedule rotates it as it is.
TEST_F(BrokerOriginTest, RotatingConfigAccounts) {
  ASSERT_TRUE(ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "a")).ok());
  v1::RotateTokenRequest request;
  *request.mutable_ref() = Ref("automation", "a");
  request.mutable_grace()->set_seconds(0);
  auto zero = broker_->RotateToken(request);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(zero.status().message(), HasSubstr("grace above zero"));
  request.mutable_grace()->set_seconds(30);
  auto with_grace = broker_->RotateToken(request);
  ASSERT_TRUE(with_grace.ok()) << with_grace.status();
  EXPECT_EQ(with_grace->account().status().generation(), 2);
  request.clear_grace();
  auto scheduled = broker_->RotateToken(request, v1::ORIGIN_UNSPECIFIED);
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->account().status().generation(), 3);
}

// validate_only previews show the origin the call would record, and create nothing.
TEST_F(BrokerOriginTest, PreviewShowsOrigin) {
  auto preview = ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"), true);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->account().origin(), v1::ORIGIN_CONFIG);
  EXPECT_EQ(broker_->account_count(), 0u);
  preview = ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot"), true);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->account().origin(), v1::ORIGIN_API);
  EXPECT_EQ(ProvisionAs(v1::ORIGIN_UNSPECIFIED, Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Records stored without an origin are API accounts.
TEST_F(BrokerOriginTest, RecordsWithoutOriginAreApiAccounts) {
  ASSERT_TRUE(ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot")).ok());
  std::vector<store::KeyValue> all = store_.All();
  ASSERT_EQ(all.size(), 1u);
  internal::v1::AccountRecord record;
  ASSERT_TRUE(record.ParseFromString(all[0].value));
  record.mutable_account()->clear_origin();
  ASSERT_TRUE(store_
                  .Put(all[0].key, record.SerializeAsString(),
                       store::Precondition::ModRevision(all[0].mod_revision))
                  .ok());
  broker_ = MakeBroker();
  ASSERT_TRUE(broker_->Restore().ok());
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->origin(), v1::ORIGIN_API);
  EXPECT_EQ(ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DeleteAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto unchanged = ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot"));
  ASSERT_TRUE(unchanged.ok()) << unchanged.status();
  EXPECT_EQ(unchanged->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);
}

// ----- admission -----------------------------------------------------------------------------

class BrokerAdmissionTest : public BrokerTest {
 protected:
  BrokerAdmissionTest() {
    cluster_.policy = config::AdmissionPolicy();  // the defaults
    broker_ = MakeBroker();
  }
};

// Requests the policy refuses touch nothing in Kubernetes; the same spec within it works.
TEST_F(BrokerAdmissionTest, RefusedBeforeAnyKubernetesCall) {
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
TEST_F(BrokerAdmissionTest, NamespaceSelectorReadsTheNamespace) {
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

// RotateToken's grace is capped by max_grace.
TEST_F(BrokerAdmissionTest, RotationGraceIsCapped) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto long_grace = Rotate(Ref("automation", "ci-bot"), 120);
  EXPECT_EQ(long_grace.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(long_grace.status().message(), HasSubstr("clusters[\"dev\"].policy.max_grace"));
  EXPECT_TRUE(Rotate(Ref("automation", "ci-bot"), 30).ok());
}

}  // namespace
}  // namespace kcred::broker
