// Token issue (token_issue.h): bound and legacy generations, directly and through the broker.
#include "daemon/broker/token_issue.h"

#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;
using testing::Unowned;

class TokenIssueTest : public BrokerFixture {};

// A TokenIssuer over the fixture's clock, sealer and fake cluster, for account
// dev/automation/ci-bot, whose ServiceAccount exists.
class TokenIssuerTest : public BrokerFixture {
 protected:
  TokenIssuerTest()
      : issuer_(clock_, *sealer_, defaults_),
        handle_(cluster_, Unowned(kube_)),
        key_{"dev", "automation", "ci-bot"} {
    EXPECT_TRUE(kube_
                    .Seed(Resource::kServiceAccount,
                          {{"metadata", {{"name", "ci-bot"}, {"namespace", "automation"}}}})
                    .ok());
  }

  absl::StatusOr<internal::v1::GenerationRecord> Issue(int64_t generation, v1::TokenMode mode,
                                                       SecretString* token) {
    return issuer_.Issue(handle_, key_, RulesSpec(), generation, mode, token);
  }

  TokenIssuer issuer_;
  ClusterHandle handle_;
  AccountKey key_;
};

// A bound token is bound to its generation's anchor Secret, expires after the ttl, and is
// recorded sealed under the generation's context.
TEST_F(TokenIssuerTest, IssuerBindsABoundTokenToItsAnchor) {
  SecretString token;
  auto issued = Issue(4, v1::TOKEN_MODE_BOUND, &token);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kValid);
  EXPECT_EQ(issued->generation(), 4);
  EXPECT_EQ(issued->mode(), v1::TOKEN_MODE_BOUND);
  EXPECT_EQ(issued->secret_name(), "ci-bot-kcred-4");
  EXPECT_EQ(issued->token_fingerprint(), token.fingerprint());
  EXPECT_EQ(FromProto(issued->expire_time()) - FromProto(issued->issue_time()), absl::Hours(1));
  auto anchor = kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-4");
  ASSERT_TRUE(anchor.has_value());
  EXPECT_EQ((*anchor)["metadata"]["uid"], issued->secret_uid());
  auto opened =
      sealer_->Open(issued->sealed_token(), SealingContext(StoreKey(key_), issued->generation()));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(*opened == token);
  // Deleting the anchor revokes the token.
  ASSERT_TRUE(issuer_.Revoke(handle_, key_, *issued).ok());
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kRevoked);
}

// A Secret of the generation's name is reused when it is kcred's for this account, refused
// otherwise.
TEST_F(TokenIssuerTest, IssuerReusesOnlyItsOwnSecret) {
  ASSERT_TRUE(
      kube_.Seed(Resource::kSecret, TokenSecret(key_, RulesSpec(), 1, v1::TOKEN_MODE_BOUND)).ok());
  SecretString token;
  auto reused = Issue(1, v1::TOKEN_MODE_BOUND, &token);
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_EQ(kube_.ObjectCount(Resource::kSecret), 1u);

  ASSERT_TRUE(kube_
                  .Seed(Resource::kSecret,
                        {{"metadata", {{"name", "ci-bot-kcred-2"}, {"namespace", "automation"}}}})
                  .ok());
  auto foreign = Issue(2, v1::TOKEN_MODE_BOUND, &token);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(foreign.status().message(), HasSubstr("Secret automation/ci-bot-kcred-2 exists"));
  EXPECT_TRUE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-2").has_value());
}

// When the token request fails, the anchor this call created is deleted again.
TEST_F(TokenIssuerTest, IssuerRemovesItsAnchorWhenTheTokenRequestFails) {
  kube_.FailNext(Verb::kCreateToken, std::nullopt, 1, absl::UnavailableError("apiserver down"));
  SecretString token;
  auto failed = Issue(1, v1::TOKEN_MODE_BOUND, &token);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.status().message(),
              HasSubstr("requesting a token for ServiceAccount automation/ci-bot"));
  EXPECT_EQ(kube_.ObjectCount(Resource::kSecret), 0u);
}

// Revoking a generation whose Secret is gone, or now another object's, counts as done; other
// failures name the generation.
TEST_F(TokenIssuerTest, RevokeToleratesGoneAndReplacedSecrets) {
  SecretString token;
  auto issued = Issue(1, v1::TOKEN_MODE_LEGACY, &token);
  ASSERT_TRUE(issued.ok()) << issued.status();
  internal::v1::GenerationRecord replaced = *issued;
  replaced.set_secret_uid("another-uid");
  EXPECT_TRUE(issuer_.Revoke(handle_, key_, replaced).ok());
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kValid);  // not ours to delete

  kube_.FailNext(Verb::kDelete, Resource::kSecret, 1, absl::UnavailableError("etcd slow"));
  absl::Status failed = issuer_.Revoke(handle_, key_, *issued);
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.message(),
              HasSubstr("revoking generation 1: deleting Secret automation/ci-bot-kcred-1"));

  ASSERT_TRUE(issuer_.Revoke(handle_, key_, *issued).ok());
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kRevoked);
  EXPECT_TRUE(issuer_.Revoke(handle_, key_, *issued).ok());  // already gone
}

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
