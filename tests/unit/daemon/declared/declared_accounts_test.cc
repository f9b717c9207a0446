// The declared-accounts reconciler against a real Broker (fake Kubernetes, memory store).
#include "daemon/declared/declared_accounts.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/broker/broker.h"
#include "daemon/kube/fake_kube_client.h"
#include "daemon/store/memory_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/stepping_clock.h"

namespace kcred::declared {
namespace {

using kube::Resource;
using kube::Verb;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::AccountRef Ref(const std::string& name) {
  v1::AccountRef ref;
  ref.set_cluster("dev");
  ref.set_namespace_("automation");
  ref.set_name(name);
  return ref;
}

v1::AccountSpec Spec(const std::string& verb) {
  v1::AccountSpec spec;
  v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
  rule->add_verbs(verb);
  rule->add_resources("pods");
  return spec;
}

config::DeclaredAccount Declared(const std::string& name, const std::string& verb = "get") {
  config::DeclaredAccount account;
  account.ref = Ref(name);
  account.spec = Spec(verb);
  account.where = absl::StrCat("kcredd.yaml:", name.size(), ":5");
  return account;
}

class DeclaredAccountsTest : public ::testing::Test {
 protected:
  DeclaredAccountsTest() : kube_(clock_), sealer_(kcred::testing::TestSealer()) {
    config::TokenDefaults defaults;
    defaults.grace = absl::ZeroDuration();
    kcred::testing::SeedNamespace(kube_, "automation");
    broker_ = std::make_unique<broker::Broker>(
        clock_, store_, *sealer_,
        std::vector<broker::ClusterHandle>{
            {kcred::testing::TestCluster(), kcred::testing::Unowned(kube_)}},
        defaults);
  }

  absl::StatusOr<v1::Account> Get(const std::string& name) {
    return broker_->GetAccount(Ref(name));
  }

  std::vector<std::string> RoleVerbs(const std::string& name) {
    std::vector<std::string> verbs;
    auto role = kube_.Peek(Resource::kRole, "automation", name);
    if (!role) return verbs;
    for (const auto& rule : (*role)["rules"]) {
      for (const auto& verb : rule["verbs"]) verbs.push_back(verb.get<std::string>());
    }
    return verbs;
  }

  kcred::testing::SteppingClock clock_;
  kube::FakeKubeClient kube_;
  store::MemoryStore store_;
  std::unique_ptr<store::Sealer> sealer_;
  std::unique_ptr<broker::Broker> broker_;
};

// A pass creates the declared accounts, the next leaves them unchanged, a changed spec updates one.
TEST_F(DeclaredAccountsTest, CreatesThenLeavesUnchangedThenUpdatesToTheDeclaredSpec) {
  DeclaredAccountsReconciler reconciler(clock_, *broker_);
  config::DeclaredAccounts accounts;
  accounts.items = {Declared("ci-bot"), Declared("deployer")};

  PassReport first = reconciler.Reconcile(accounts);
  EXPECT_EQ(first.created, 2);
  EXPECT_TRUE(first.failures.empty());
  EXPECT_EQ(first.Summary(), "2 declared: 2 created");
  ASSERT_TRUE(Get("ci-bot").ok());
  EXPECT_EQ(Get("ci-bot")->origin(), v1::ORIGIN_CONFIG);
  EXPECT_THAT(RoleVerbs("ci-bot"), ElementsAre("get"));

  PassReport second = reconciler.Reconcile(accounts);
  EXPECT_EQ(second.unchanged, 2);
  EXPECT_EQ(second.created + second.updated, 0);

  accounts.items[0] = Declared("ci-bot", "list");
  PassReport third = reconciler.Reconcile(accounts);
  EXPECT_EQ(third.updated, 1);
  EXPECT_EQ(third.unchanged, 1);
  EXPECT_THAT(RoleVerbs("ci-bot"), ElementsAre("list"));
  EXPECT_EQ(Get("ci-bot")->spec().access().rules().rules(0).verbs(0), "list");
}

// An account dropped from the configuration is kept, unless prune is set: then it is deleted.
TEST_F(DeclaredAccountsTest, RemovedAccountIsKeptWithoutPruneAndDeletedWithPrune) {
  DeclaredAccountsReconciler reconciler(clock_, *broker_);
  config::DeclaredAccounts accounts;
  accounts.items = {Declared("ci-bot"), Declared("deployer")};
  ASSERT_TRUE(reconciler.Reconcile(accounts).failures.empty());

  accounts.items = {Declared("ci-bot")};
  PassReport kept = reconciler.Reconcile(accounts);
  EXPECT_EQ(kept.kept, 1);
  EXPECT_EQ(kept.pruned, 0);
  EXPECT_TRUE(Get("deployer").ok());
  EXPECT_TRUE(kube_.Peek(Resource::kServiceAccount, "automation", "deployer").has_value());

  accounts.prune = true;
  PassReport pruned = reconciler.Reconcile(accounts);
  EXPECT_EQ(pruned.pruned, 1);
  EXPECT_EQ(pruned.kept, 0);
  EXPECT_TRUE(absl::IsNotFound(Get("deployer").status()));
  EXPECT_FALSE(kube_.Peek(Resource::kServiceAccount, "automation", "deployer").has_value());
  EXPECT_FALSE(kube_.Peek(Resource::kRole, "automation", "deployer").has_value());
  EXPECT_TRUE(Get("ci-bot").ok());
}

// Accounts of a cluster no longer configured are kept, even with prune.
TEST_F(DeclaredAccountsTest, AccountsOfARemovedClusterAreKeptNotPruned) {
  DeclaredAccountsReconciler reconciler(clock_, *broker_);
  config::DeclaredAccounts accounts;
  accounts.items = {Declared("ci-bot")};
  ASSERT_TRUE(reconciler.Reconcile(accounts).failures.empty());
  ASSERT_TRUE(broker_->UpdateClusters({}).ok());

  accounts.items.clear();
  accounts.prune = true;
  PassReport report = reconciler.Reconcile(accounts);
  EXPECT_EQ(report.pruned, 0);
  EXPECT_EQ(report.kept, 1);
  EXPECT_TRUE(report.failures.empty());
  EXPECT_TRUE(Get("ci-bot").ok());
  EXPECT_TRUE(kube_.Peek(Resource::kServiceAccount, "automation", "ci-bot").has_value());
}

// An API account is neither pruned nor taken over by a declaration of the same name.
TEST_F(DeclaredAccountsTest, AccountsFromTheApiAreNeverPrunedNorTakenOver) {
  v1::ProvisionAccountRequest request;
  *request.mutable_ref() = Ref("from-api");
  *request.mutable_spec() = Spec("get");
  ASSERT_TRUE(broker_->Provision(request).ok());

  DeclaredAccountsReconciler reconciler(clock_, *broker_);
  config::DeclaredAccounts accounts;
  accounts.prune = true;
  PassReport empty = reconciler.Reconcile(accounts);
  EXPECT_EQ(empty.pruned, 0);
  EXPECT_TRUE(Get("from-api").ok());

  accounts.items = {Declared("from-api", "list")};
  PassReport conflict = reconciler.Reconcile(accounts);
  ASSERT_EQ(conflict.failures.size(), 1u);
  EXPECT_THAT(conflict.failures[0], HasSubstr("dev/automation/from-api: "));
  EXPECT_THAT(conflict.failures[0], HasSubstr("through the API"));
  EXPECT_EQ(Get("from-api")->origin(), v1::ORIGIN_API);
  EXPECT_THAT(RoleVerbs("from-api"), ElementsAre("get"));
}

// The API cannot change a declared account.
TEST_F(DeclaredAccountsTest, ApiChangesToADeclaredAccountAreRefused) {
  DeclaredAccountsReconciler reconciler(clock_, *broker_);
  config::DeclaredAccounts accounts;
  accounts.items = {Declared("ci-bot")};
  ASSERT_TRUE(reconciler.Reconcile(accounts).failures.empty());

  v1::ProvisionAccountRequest request;
  *request.mutable_ref() = Ref("ci-bot");
  *request.mutable_spec() = Spec("delete");
  absl::Status refused = broker_->Provision(request).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("configuration"));
  EXPECT_THAT(RoleVerbs("ci-bot"), ElementsAre("get"));
}

// Accounts that fail are retried on the reconciler's thread until they are provisioned.
TEST_F(DeclaredAccountsTest, FailedAccountsAreRetriedOnTheThreadUntilTheyWork) {
  ReconcilerOptions options;
  options.min_retry = absl::Milliseconds(20);
  options.max_retry = absl::Milliseconds(40);
  DeclaredAccountsReconciler reconciler(clock_, *broker_, options);
  // The API server refuses the first three ServiceAccount creations (an outage at start).
  kube_.FailNext(Verb::kCreate, Resource::kServiceAccount, 3,
                 absl::UnavailableError("the API server is restarting"));
  config::DeclaredAccounts accounts;
  accounts.items = {Declared("ci-bot")};
  reconciler.Start();
  reconciler.Apply(accounts);

  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up &&
         !(reconciler.last_report() && reconciler.last_report()->failures.empty())) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(reconciler.last_report().has_value());
  EXPECT_TRUE(reconciler.last_report()->failures.empty());
  EXPECT_EQ(reconciler.last_report()->created, 1);
  EXPECT_GE(reconciler.passes(), 2);
  EXPECT_TRUE(Get("ci-bot").ok());
  reconciler.Stop();
}

// Each declared spec is validated against its cluster, and a refusal names where it is declared.
TEST(ValidateDeclaredAccountsTest, ChecksEachSpecAgainstItsCluster) {
  config::Config config;
  config::ClusterConfig cluster;
  cluster.name = "dev";
  cluster.min_token_ttl = absl::Minutes(10);
  config.clusters.push_back(cluster);
  config.accounts.items = {Declared("ci-bot"), Declared("short-lived")};
  EXPECT_TRUE(ValidateDeclaredAccounts(config).ok());

  config.accounts.items[1].spec.mutable_token()->mutable_ttl()->set_seconds(60);
  absl::Status refused = ValidateDeclaredAccounts(config);
  EXPECT_TRUE(absl::IsInvalidArgument(refused));
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("kcredd.yaml:11:5: accounts.items[1] (dev/automation/short-lived): "));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("ttl"));
}

}  // namespace
}  // namespace kcred::declared
