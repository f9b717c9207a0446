// The Revoker against a real Broker (fake Kubernetes, memory store) on simulated time: it sleeps
// until the next revocation is due, revokes then and not before, and sweeps twice.
#include "daemon/rotation/broker_rotation.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"
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
// a second before), then sleeps towards its second sweep, and after that without a deadline.
TEST_F(RevokerTest, SleepsUntilTheNextRevocationAndRevokesThen) {
  const absl::Time t0 = clock_.Now();
  Revoker revoker(clock_, *broker_, /*sweep_again_after=*/absl::Hours(1));
  // Swept once at start; nothing to revoke: asleep until the second sweep.
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0 + absl::Hours(1)));

  const SecretString first = CurrentToken();
  v1::RotateTokenRequest rotate;
  *rotate.mutable_ref() = Bot();
  ASSERT_TRUE(broker_->RotateToken(rotate).ok());
  revoker.Wake();
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0 + absl::Minutes(10))) << "not asleep until the grace";
  EXPECT_EQ(broker_->GetAccount(Bot())->status().pending_revocations_size(), 1);

  clock_.AdvanceTo(t0 + absl::Minutes(10) - absl::Seconds(1));
  EXPECT_EQ(clock_.blocked(), 1) << "woke before the grace ended";
  EXPECT_EQ(kube_.CheckToken(first), FakeKubeClient::TokenState::kValid);

  clock_.AdvanceTo(t0 + absl::Minutes(10));
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0 + absl::Hours(1)));
  EXPECT_EQ(kube_.CheckToken(first), FakeKubeClient::TokenState::kRevoked);
  EXPECT_EQ(kube_.CheckToken(CurrentToken()), FakeKubeClient::TokenState::kValid);
  EXPECT_EQ(broker_->GetAccount(Bot())->status().pending_revocations_size(), 0);

  clock_.AdvanceTo(t0 + absl::Hours(1));
  ASSERT_TRUE(clock_.AwaitBlockedUntil(absl::InfiniteFuture())) << "both sweeps are done";
}

}  // namespace
}  // namespace kcred::rotation
