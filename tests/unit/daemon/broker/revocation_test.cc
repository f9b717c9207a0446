// RevokeDue and SweepOrphans (revocation.h).
#include "daemon/broker/broker.h"
#include "daemon/broker/object_names.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using kube::Resource;
using kube::Verb;
using nlohmann::json;
using testing::BrokerFixture;
using ::testing::HasSubstr;
using testing::Ref;
using testing::RulesSpec;
using TokenState = kube::FakeKubeClient::TokenState;

class RevocationTest : public BrokerFixture {};

// A revocation that fails stays scheduled, is reported, and succeeds on a later call.
TEST_F(RevocationTest, FailedRevocationIsRetried) {
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

// Pending revocations are durable: a restarted broker still revokes them.
TEST_F(RevocationTest, PendingRevocationSurvivesRestart) {
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
TEST_F(RevocationTest, SweepOrphans) {
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

}  // namespace
}  // namespace kcred::broker
