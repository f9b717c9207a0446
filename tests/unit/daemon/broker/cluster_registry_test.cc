// The cluster registry (cluster_registry.h) and Broker::UpdateClusters: handles replaced while
// operations run, kubeconfigs following the new configuration, clusters removed and added back.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/broker/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/gated_kube_client.h"

namespace kcred::broker {
namespace {

using kube::FakeKubeClient;
using testing::BrokerFixture;
using testing::GatedKubeClient;
using ::testing::HasSubstr;
using testing::TestCluster;
using testing::Unowned;

constexpr char kOtherCaPem[] = "-----BEGIN CERTIFICATE-----\nOTHERCA\n-----END CERTIFICATE-----\n";

// Two clusters: "dev" (kube_, not owned) and "prod" (prod_, shared with the broker).
class ClusterRegistryTest : public BrokerFixture {
 protected:
  ClusterRegistryTest() : prod_(std::make_shared<FakeKubeClient>(clock_)) {
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
TEST_F(ClusterRegistryTest, UpdateRerendersChangedClusterOnly) {
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
TEST_F(ClusterRegistryTest, OperationInFlightKeepsItsHandle) {
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
TEST_F(ClusterRegistryTest, RemovedClusterUnservedUntilAddedBack) {
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
TEST_F(ClusterRegistryTest, RestoredAccountsServedWhenClusterAdded) {
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
TEST_F(ClusterRegistryTest, UpdateRejectsDuplicates) {
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
TEST_F(ClusterRegistryTest, ListClustersFollowsUpdate) {
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
TEST_F(ClusterRegistryTest, UpdatesRaceWithOperations) {
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

// ----- the registry on its own ---------------------------------------------------------------

std::vector<ClusterHandle> Handles(kube::KubeClient& client,
                                   const std::vector<config::ClusterConfig>& configs) {
  std::vector<ClusterHandle> handles;
  for (const config::ClusterConfig& config : configs) handles.emplace_back(config, Unowned(client));
  return handles;
}

// A new cluster set needs a name and a client for each cluster, and unique names.
TEST(ClusterSetTest, MakeClusterSetChecksEveryHandle) {
  kcred::testing::SimulatedClock clock{kcred::testing::SimulatedClock::SleepMode::kInstant};
  FakeKubeClient kube(clock);
  auto set = MakeClusterSet(Handles(kube, {TestCluster("dev"), TestCluster("prod")}));
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ((*set)[1]->config.name, "prod");
  EXPECT_EQ((*set)[1]->client.get(), &kube);

  auto twice = MakeClusterSet(Handles(kube, {TestCluster("dev"), TestCluster("dev")}));
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.status().message(), HasSubstr("\"dev\" is listed twice"));
  auto nameless = MakeClusterSet(Handles(kube, {TestCluster("")}));
  EXPECT_THAT(nameless.status().message(), HasSubstr("a cluster needs a name and a client"));
  std::vector<ClusterHandle> clientless(1);
  clientless[0].config = TestCluster("dev");
  EXPECT_EQ(MakeClusterSet(std::move(clientless)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The changes between two sets, by name: added, changed configuration, removed.
TEST(ClusterSetTest, DiffClustersByName) {
  kcred::testing::SimulatedClock clock{kcred::testing::SimulatedClock::SleepMode::kInstant};
  FakeKubeClient kube(clock);
  config::ClusterConfig moved = TestCluster("dev");
  moved.server = "https://dev-2.example:6443";
  auto before = MakeClusterSet(Handles(kube, {TestCluster("dev"), TestCluster("old")}));
  auto after = MakeClusterSet(Handles(kube, {TestCluster("new"), moved, TestCluster("b-new")}));
  ASSERT_TRUE(before.ok() && after.ok());
  const ClusterChanges changes = DiffClusters(*before, *after);
  EXPECT_THAT(changes.added, ::testing::ElementsAre("b-new", "new"));
  EXPECT_THAT(changes.changed, ::testing::ElementsAre("dev"));
  EXPECT_THAT(changes.removed, ::testing::ElementsAre("old"));
  const ClusterChanges none = DiffClusters(*before, *before);
  EXPECT_TRUE(none.added.empty() && none.changed.empty() && none.removed.empty());
}

// Find names the known clusters when one is missing; Replace hands back the previous set.
TEST(ClusterSetTest, RegistryFindsAndReplaces) {
  kcred::testing::SimulatedClock clock{kcred::testing::SimulatedClock::SleepMode::kInstant};
  FakeKubeClient kube(clock);
  ClusterRegistry registry(Handles(kube, {TestCluster("dev")}));
  EXPECT_EQ(registry.Find("").status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = registry.Find("prod");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("cluster \"prod\" is not configured; known clusters: dev"));
  EXPECT_EQ(registry.Lookup("prod"), nullptr);
  const ClusterPtr dev = registry.Lookup("dev");
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(*registry.Find("dev"), dev);

  const std::vector<ClusterPtr> previous = registry.Replace({});
  ASSERT_EQ(previous.size(), 1u);
  EXPECT_EQ(previous[0], dev);
  EXPECT_TRUE(registry.All().empty());
  EXPECT_THAT(registry.Find("dev").status().message(), HasSubstr("known clusters: (none)"));
}

}  // namespace
}  // namespace kcred::broker
