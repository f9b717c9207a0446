// The broker's reads: GetAccount, ListAccounts, GetKubeconfig, GetToken, ListClusters.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/broker/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using kube::FakeKubeClient;
using testing::BrokerFixture;
using ::testing::HasSubstr;
using testing::Unowned;

class QueriesTest : public BrokerFixture {};

// GetKubeconfig and GetToken are answered from memory: no Kubernetes call, no store read.
TEST_F(QueriesTest, CredentialsServedFromMemory) {
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

// GetToken tells the account's grace (the spec's, else kcredd's default), with which the exec
// plugin bounds how long a client may keep the token.
TEST_F(QueriesTest, GetTokenTellsTheGrace) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto token = broker_->GetToken(Ref("automation", "ci-bot"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(FromProto(token->grace()), defaults_.grace);
  v1::AccountSpec spec = RulesSpec();
  spec.mutable_token()->mutable_grace()->set_seconds(42);
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), spec).ok());
  token = broker_->GetToken(Ref("automation", "ci-bot"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(FromProto(token->grace()), absl::Seconds(42));
}

// GetToken reports the rotation engine's own time for the next rotation (its jitter can put it
// before the unjittered plan), and the plan when the engine does not know the account.
TEST_F(QueriesTest, GetTokenReportsTheRotationEnginesTime) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto token = broker_->GetToken(Ref("automation", "ci-bot"));
  ASSERT_TRUE(token.ok()) << token.status();
  const absl::Time plan = FromProto(token->next_rotation_time());
  const absl::Time jittered = plan - absl::Minutes(3);
  broker_->SetRotationPlanner([&](const v1::AccountRef& ref) -> std::optional<absl::Time> {
    if (ref.name() == "ci-bot") return jittered;
    return std::nullopt;
  });
  token = broker_->GetToken(Ref("automation", "ci-bot"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(FromProto(token->next_rotation_time()), jittered);
  broker_->SetRotationPlanner([](const v1::AccountRef&) { return std::optional<absl::Time>(); });
  EXPECT_EQ(FromProto(broker_->GetToken(Ref("automation", "ci-bot"))->next_rotation_time()), plan);
  broker_->SetRotationPlanner(nullptr);
  EXPECT_EQ(FromProto(broker_->GetToken(Ref("automation", "ci-bot"))->next_rotation_time()), plan);
}

// An expired token is refused with UNAVAILABLE saying when it expired.
TEST_F(QueriesTest, ExpiredTokenRefused) {
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

// Paging walks every account in order; a forged page token is refused; selectors filter.
TEST_F(QueriesTest, ListAccountsPagesAndFilters) {
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

// ListClusters reports reachability, version and account counts; a probe of the last two seconds
// is reused instead of asking the API server again.
TEST_F(QueriesTest, ListClusters) {
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

// Several clusters: each account lives on its own, and every cluster is probed.
TEST_F(QueriesTest, SeveralClusters) {
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

}  // namespace
}  // namespace kcred::broker
