// The declared-accounts reconciler against a real Broker (fake Kubernetes, memory store).
#include "daemon/declared/declared_accounts.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/simulated_clock.h"

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
  static config::TokenDefaults Defaults() {
    config::TokenDefaults defaults;
    defaults.grace = absl::ZeroDuration();
    return defaults;
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

  kcred::testing::SimulatedClock clock_;
  kcred::testing::TestBroker world_{clock_, Defaults(), {"automation"}};
  kube::FakeKubeClient& kube_ = world_.kube;
  std::unique_ptr<broker::Broker>& broker_ = world_.broker;
};

// A pass creates declared accounts, leaves them alone while they match, and updates them to a
// changed declaration.
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

// An account no longer declared is kept while prune is off and deprovisioned once it is on.
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

// Declared accounts of a cluster no longer configured are kept, not pruned, even with prune on.
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

// Accounts provisioned through the API are never pruned, and a declaration of the same name fails
// instead of taking them over.
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

// The API refuses to change an account the configuration declares.
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

// The thread retries failed accounts after a backoff that starts at min_retry and doubles up to
// max_retry, on simulated time, until they work; then it waits for the next Apply.
TEST_F(DeclaredAccountsTest, FailedAccountsAreRetriedOnTheThreadUntilTheyWork) {
  ReconcilerOptions options;
  options.min_retry = absl::Seconds(5);
  options.max_retry = absl::Seconds(8);
  DeclaredAccountsReconciler reconciler(clock_, *broker_, options);
  // The API server refuses the first three ServiceAccount creations (an outage at start).
  kube_.FailNext(Verb::kCreate, Resource::kServiceAccount, 3,
                 absl::UnavailableError("the API server is restarting"));
  config::DeclaredAccounts accounts;
  accounts.items = {Declared("ci-bot")};
  const absl::Time t0 = clock_.Now();
  reconciler.Start();
  reconciler.Apply(accounts);

  // Each failed pass leaves the thread waiting for its retry: 5s, then 10s capped at 8s, then 8s.
  for (const absl::Time retry :
       {t0 + absl::Seconds(5), t0 + absl::Seconds(13), t0 + absl::Seconds(21)}) {
    ASSERT_TRUE(clock_.AwaitBlockedUntil(retry)) << "no retry planned at " << retry;
    ASSERT_TRUE(reconciler.last_report().has_value());
    ASSERT_EQ(reconciler.last_report()->failures.size(), 1u);
    EXPECT_THAT(reconciler.last_report()->failures[0], HasSubstr("the API server is restarting"));
    EXPECT_FALSE(Get("ci-bot").ok());
    clock_.AdvanceTo(retry - absl::Milliseconds(1));
    EXPECT_EQ(clock_.blocked(), 1) << "the retry waits for its time";
    clock_.AdvanceTo(retry);
  }
  // The fourth pass works: nothing is left to retry, so the thread waits without a deadline.
  ASSERT_TRUE(clock_.AwaitBlockedUntil(absl::InfiniteFuture()));
  EXPECT_EQ(reconciler.passes(), 4);
  ASSERT_TRUE(reconciler.last_report().has_value());
  EXPECT_TRUE(reconciler.last_report()->failures.empty());
  EXPECT_EQ(reconciler.last_report()->created, 1);
  EXPECT_TRUE(Get("ci-bot").ok());
  reconciler.Stop();
}

// Validation checks each declared spec against its cluster and names the file position.
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
