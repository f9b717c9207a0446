// The reconcile of an account's objects (reconcile.h): spec changes, repairs, adoption and
// namespaces, through Broker::Provision and directly.
#include "daemon/broker/reconcile.h"

#include "daemon/broker/broker.h"
#include "daemon/broker/object_names.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;
using testing::Unowned;

class ReconcileTest : public BrokerFixture {
 protected:
  ReconcileTest() : handle_(cluster_, Unowned(kube_)) {}

  // The stored record of account automation/<name>.
  internal::v1::AccountRecord StoredRecord(const std::string& name) {
    internal::v1::AccountRecord record;
    auto stored = store_.Get(StoreKey({"dev", "automation", name}));
    EXPECT_TRUE(stored.ok()) << stored.status();
    EXPECT_TRUE(stored.ok() && record.ParseFromString(stored->value)) << stored.status();
    return record;
  }

  ClusterHandle handle_;
};

// Changed rules update the Role in place; the ServiceAccount and the token stay.
TEST_F(ReconcileTest, ChangedRulesAreReconciled) {
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
TEST_F(ReconcileTest, ChangedRoleRefRecreatesBinding) {
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

// A ServiceAccount or anchor deleted behind kcred's back is repaired by the next apply, with a
// new token (the old one died with them).
TEST_F(ReconcileTest, ReapplyRepairsDeletedObjects) {
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
TEST_F(ReconcileTest, SwitchToTokenOnlyKeepsServiceAccount) {
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
TEST_F(ReconcileTest, ForeignObjectNeedsAdopt) {
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

// Two accounts provisioned at once may both create their namespace: the one that loses the race
// finds it there and goes on.
TEST_F(ReconcileTest, CreateNamespaceToleratesAConcurrentCreator) {
  v1::AccountSpec spec = RulesSpec();
  spec.set_create_namespace(true);
  kube_.FailNextAfterApplying(Verb::kCreate, Resource::kNamespace, 1,
                              absl::AlreadyExistsError("namespaces \"shared\" already exists"));
  auto provisioned = Provision(Ref("shared", "bot"), spec);
  ASSERT_TRUE(provisioned.ok()) << provisioned.status();
  EXPECT_TRUE(kube_.Peek(Resource::kServiceAccount, "shared", "bot").has_value());
  EXPECT_TRUE(broker_->GetKubeconfig(Ref("shared", "bot")).ok());
}

// The namespace is created only when asked, labelled as kcred's, and kept on deletion.
TEST_F(ReconcileTest, CreateNamespace) {
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

// ----- Reconcile on its own ------------------------------------------------------------------

// Plan only reads; Apply creates what it planned, in order, and reports it.
TEST_F(ReconcileTest, PlanReadsApplyWrites) {
  const AccountKey key{"dev", "automation", "ci-bot"};
  const v1::AccountSpec spec = RulesSpec();
  Reconcile reconcile(clock_, handle_, key, spec, nullptr);
  ASSERT_TRUE(reconcile.Plan().ok());
  EXPECT_EQ(Writes(kube_), 0);
  EXPECT_TRUE(reconcile.HasWrites());
  std::vector<std::string> planned;
  for (const v1::ObjectChange& change : reconcile.Preview()) {
    EXPECT_EQ(change.action(), v1::CHANGE_ACTION_CREATED);
    planned.push_back(change.object().kind());
  }
  EXPECT_THAT(planned, ::testing::ElementsAre("ServiceAccount", "Role", "RoleBinding"));
  EXPECT_TRUE(reconcile.ServiceAccountReplaced(""));

  Reconcile::Applied applied;
  ASSERT_TRUE(reconcile.Apply(applied).ok());
  EXPECT_EQ(applied.changes.size(), 3u);
  EXPECT_EQ(applied.objects.size(), 3u);
  EXPECT_EQ(applied.created.size(), 3u);
  EXPECT_FALSE(applied.created_namespace);
  auto sa = kube_.Peek(Resource::kServiceAccount, "automation", "ci-bot");
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ(reconcile.ServiceAccountUid(), (*sa)["metadata"]["uid"]);
  EXPECT_EQ(Labelled(Resource::kRoleBinding, "automation", "ci-bot"), 1u);
}

// The plan of an account that matches its spec keeps everything and writes nothing.
TEST_F(ReconcileTest, UnchangedAccountPlansNoWrites) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  const internal::v1::AccountRecord record = StoredRecord("ci-bot");
  const AccountKey key{"dev", "automation", "ci-bot"};
  const v1::AccountSpec spec = RulesSpec();
  Reconcile reconcile(clock_, handle_, key, spec, &record);
  ASSERT_TRUE(reconcile.Plan().ok());
  EXPECT_FALSE(reconcile.HasWrites());
  EXPECT_TRUE(reconcile.Preview().empty());
  EXPECT_FALSE(reconcile.ServiceAccountReplaced(record.account().status().service_account_uid()));
}

// Rollback deletes what Apply created, newest first, but never a namespace.
TEST_F(ReconcileTest, RollbackKeepsTheNamespace) {
  const AccountKey key{"dev", "fresh", "bot"};
  v1::AccountSpec spec = RulesSpec();
  spec.set_create_namespace(true);
  Reconcile reconcile(clock_, handle_, key, spec, nullptr);
  ASSERT_TRUE(reconcile.Plan().ok());
  Reconcile::Applied applied;
  ASSERT_TRUE(reconcile.Apply(applied).ok());
  EXPECT_TRUE(applied.created_namespace);
  EXPECT_EQ(applied.created.size(), 4u);
  const int deletes = kube_.CallCount(Verb::kDelete);
  reconcile.Rollback(applied.created);
  EXPECT_EQ(kube_.CallCount(Verb::kDelete), deletes + 3);
  EXPECT_TRUE(kube_.Peek(Resource::kNamespace, "", "fresh").has_value());
  EXPECT_EQ(LabelledEverywhere("fresh", "bot"), 0u);
  // Objects already gone are no failure.
  reconcile.Rollback(applied.created);
}

// A foreign object stops the plan before any write, naming it; the plan is empty of writes.
TEST_F(ReconcileTest, ForeignObjectStopsThePlan) {
  ASSERT_TRUE(kube_
                  .Seed(Resource::kRoleBinding,
                        {{"metadata", {{"name", "ci-bot"}, {"namespace", "automation"}}},
                         {"roleRef", {{"kind", "Role"}, {"name", "x"}}}})
                  .ok());
  const AccountKey key{"dev", "automation", "ci-bot"};
  const v1::AccountSpec spec = RulesSpec();
  Reconcile reconcile(clock_, handle_, key, spec, nullptr);
  absl::Status planned = reconcile.Plan();
  EXPECT_EQ(planned.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(planned.message(), HasSubstr("RoleBinding automation/ci-bot already exists"));
  EXPECT_EQ(Writes(kube_), 0);
}

}  // namespace
}  // namespace kcred::broker
