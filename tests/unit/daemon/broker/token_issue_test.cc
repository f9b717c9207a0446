// Token issue (token_issue.h): legacy generations, through the broker.
#include "daemon/broker/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using kube::Resource;
using kube::Verb;
using testing::BrokerFixture;
using ::testing::HasSubstr;
using testing::Ref;
using testing::RulesSpec;
using TokenState = kube::FakeKubeClient::TokenState;

class TokenIssueTest : public BrokerFixture {};

// Legacy mode: a kubernetes.io/service-account-token Secret filled by the token controller.
TEST_F(TokenIssueTest, LegacyMode) {
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
TEST_F(TokenIssueTest, LegacyModeWaitIsBounded) {
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

}  // namespace
}  // namespace kcred::broker
