// The Revoker and the OrphanSweeper against a real Broker (fake Kubernetes, memory store) on
// simulated time: the Revoker sleeps until the next revocation is due and revokes then, not before;
// the sweeper sweeps twice, and a sweep in progress never holds up a due revocation.
#include "daemon/rotation/broker_rotation.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/broker/object_names.h"
#include "daemon/store/memory_store.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/gated_kube_client.h"
#include "tests/support/simulated_clock.h"

namespace kcred::rotation {
namespace {

using kube::FakeKubeClient;

v1::AccountRef Bot() {
  v1::AccountRef ref;
  ref.set_cluster("dev");
  ref.set_namespace_("automation");
  ref.set_name("bot");
  return ref;
}

class RevokerTest : public ::testing::Test {
 protected:
  static config::TokenDefaults Defaults() {
    config::TokenDefaults defaults;
    defaults.ttl = absl::Hours(2);
    defaults.grace = absl::Minutes(10);
    return defaults;
  }

  void SetUp() override {
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = Bot();
    v1::PolicyRule* rule = request.mutable_spec()->mutable_access()->mutable_rules()->add_rules();
    rule->add_verbs("get");
    rule->add_resources("pods");
    ASSERT_TRUE(broker_->Provision(request).ok());
  }

  void Rotate() {
    v1::RotateTokenRequest rotate;
    *rotate.mutable_ref() = Bot();
    ASSERT_TRUE(broker_->RotateToken(rotate).ok());
  }

  // A token Secret labelled for the account that no generation owns (a crash before the commit).
  void SeedOrphan(const std::string& name) {
    nlohmann::json labels = nlohmann::json(broker::AccountLabels("dev", "automation", "bot"));
    labels[broker::kGenerationLabel] = "7";
    ASSERT_TRUE(kube_
                    .Create(kube::Resource::kSecret,
                            {{"metadata",
                              {{"name", name}, {"namespace", "automation"}, {"labels", labels}}},
                             {"type", "Opaque"}},
                            absl::InfiniteFuture())
                    .ok());
  }

  SecretString CurrentToken() {
    absl::StatusOr<v1::GetTokenResponse> token = broker_->GetToken(Bot());
    EXPECT_TRUE(token.ok()) << token.status();
    return SecretString(token.ok() ? token->token() : "");
  }

  testing::SimulatedClock clock_;
  testing::TestBroker world_{clock_, Defaults(), {"automation"}};
  FakeKubeClient& kube_ = world_.kube;
  std::unique_ptr<broker::Broker>& broker_ = world_.broker;
};

// After a rotation the Revoker sleeps until the previous token's grace ends, revokes it then (not
// a second before), and then sleeps without a deadline until woken.
TEST_F(RevokerTest, SleepsUntilTheNextRevocationAndRevokesThen) {
  const absl::Time t0 = clock_.Now();
  Revoker revoker(clock_, *broker_);
  // Nothing to revoke: asleep until woken.
  ASSERT_TRUE(clock_.AwaitBlockedUntil(absl::InfiniteFuture()));

  const SecretString first = CurrentToken();
  Rotate();
  revoker.Wake();
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0 + absl::Minutes(10))) << "not asleep until the grace";
  EXPECT_EQ(broker_->GetAccount(Bot())->status().pending_revocations_size(), 1);

  clock_.AdvanceTo(t0 + absl::Minutes(10) - absl::Seconds(1));
  EXPECT_EQ(clock_.blocked(), 1) << "woke before the grace ended";
  EXPECT_EQ(kube_.CheckToken(first), FakeKubeClient::TokenState::kValid);

  clock_.AdvanceTo(t0 + absl::Minutes(10));
  ASSERT_TRUE(clock_.AwaitBlockedUntil(absl::InfiniteFuture()));
  EXPECT_EQ(kube_.CheckToken(first), FakeKubeClient::TokenState::kRevoked);
  EXPECT_EQ(kube_.CheckToken(CurrentToken()), FakeKubeClient::TokenState::kValid);
  EXPECT_EQ(broker_->GetAccount(Bot())->status().pending_revocations_size(), 0);
}

// The sweeper sweeps at start (a young orphan is left: it may belong to an operation under way)
// and once more after `sweep_again_after`, which deletes the orphan now past the grace; then its
// thread is done.
TEST_F(RevokerTest, TheSweeperSweepsAtStartAndOnceMore) {
  const absl::Time t0 = clock_.Now();
  SeedOrphan("bot-kcred-7");
  OrphanSweeper sweeper(clock_, *broker_, /*sweep_again_after=*/absl::Minutes(15));
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0 + absl::Minutes(15)));
  EXPECT_EQ(sweeper.sweeps(), 1);
  EXPECT_TRUE(kube_.Peek(kube::Resource::kSecret, "automation", "bot-kcred-7").has_value());

  clock_.AdvanceTo(t0 + absl::Minutes(15));
  for (int i = 0; i < 2000 && sweeper.sweeps() < 2; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(sweeper.sweeps(), 2);
  EXPECT_FALSE(kube_.Peek(kube::Resource::kSecret, "automation", "bot-kcred-7").has_value());
  EXPECT_TRUE(broker_->GetToken(Bot()).ok());
}

// With the sweep stuck in a List (a slow API server), a due revocation still happens: the two run
// on threads of their own. Broker::Shutdown then ends the stuck sweep, so the stop does not wait.
TEST(OrphanSweeperTest, AStuckSweepNeverHoldsUpARevocation) {
  testing::SimulatedClock clock;
  testing::GatedKubeClient gated(clock);
  testing::SeedNamespace(gated.fake(), "automation");
  store::MemoryStore store;
  auto sealer = testing::TestSealer();
  config::TokenDefaults defaults;
  defaults.grace = absl::Minutes(10);
  broker::Broker broker(clock, store, *sealer, {{testing::TestCluster(), testing::Unowned(gated)}},
                        defaults);
  v1::ProvisionAccountRequest request;
  *request.mutable_ref() = Bot();
  v1::PolicyRule* rule = request.mutable_spec()->mutable_access()->mutable_rules()->add_rules();
  rule->add_verbs("get");
  rule->add_resources("pods");
  ASSERT_TRUE(broker.Provision(request).ok());
  const SecretString first(broker.GetToken(Bot())->token());
  v1::RotateTokenRequest rotate;
  *rotate.mutable_ref() = Bot();
  ASSERT_TRUE(broker.RotateToken(rotate).ok());

  gated.HoldList();
  std::optional<OrphanSweeper> sweeper(std::in_place, clock, broker, absl::Hours(1));
  gated.WaitUntilHeld();  // the sweep is inside its List
  Revoker revoker(clock, broker);
  ASSERT_TRUE(clock.AwaitBlockedUntil(clock.Now() + absl::Minutes(10)));
  clock.Advance(absl::Minutes(10));
  ASSERT_TRUE(clock.AwaitBlockedUntil(absl::InfiniteFuture()));
  EXPECT_EQ(gated.fake().CheckToken(first), FakeKubeClient::TokenState::kRevoked);
  EXPECT_EQ(sweeper->sweeps(), 0) << "the sweep is still held";

  broker.Shutdown();
  gated.Release();  // the List returns; the broker is stopping, so the sweep ends there
  sweeper.reset();
  EXPECT_EQ(gated.fake().CallCount(kube::Verb::kList), 1);
}

}  // namespace
}  // namespace kcred::rotation
