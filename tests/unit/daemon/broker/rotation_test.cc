// Broker::RotateToken: the new generation, the previous one's grace, failures, mode changes.
#include "daemon/broker/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;

class RotationTest : public BrokerFixture {};

// Rotation: the new token works at once; the old one is revoked when its grace has passed.
TEST_F(RotationTest, RotateWithGrace) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString old_token = TokenOf(Ref("automation", "ci-bot"));
  clock_.Advance(absl::Minutes(10));
  auto rotated = Rotate(Ref("automation", "ci-bot"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->previous_generation(), 1);
  EXPECT_EQ(rotated->account().status().generation(), 2);
  ASSERT_EQ(rotated->account().status().pending_revocations_size(), 1);
  EXPECT_EQ(rotated->account().status().pending_revocations(0).generation(), 1);
  const absl::Time revoke_at = FromProto(rotated->previous_revoke_time());
  EXPECT_EQ(revoke_at, clock_.Now() + absl::Minutes(5));

  SecretString new_token = TokenOf(Ref("automation", "ci-bot"));
  EXPECT_TRUE(new_token != old_token);
  EXPECT_EQ(kube_.CheckToken(new_token), TokenState::kValid);
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kValid);
  EXPECT_TRUE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-2").has_value());

  auto early = broker_->RevokeDue();
  ASSERT_TRUE(early.ok());
  ASSERT_TRUE(early->has_value());
  EXPECT_EQ(**early, revoke_at);
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kValid);

  clock_.Advance(absl::Minutes(5));
  auto due = broker_->RevokeDue();
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_FALSE(due->has_value());
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kRevoked);
  EXPECT_EQ(kube_.CheckToken(new_token), TokenState::kValid);
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-1").has_value());
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  EXPECT_EQ(account->status().pending_revocations_size(), 0);
}

// Grace zero revokes the previous token within the rotation call.
TEST_F(RotationTest, RotateWithZeroGraceRevokesAtOnce) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString old_token = TokenOf(Ref("automation", "ci-bot"));
  auto rotated = Rotate(Ref("automation", "ci-bot"), 0);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kRevoked);
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "ci-bot"))), TokenState::kValid);
  EXPECT_EQ(rotated->account().status().pending_revocations_size(), 0);
  EXPECT_EQ(FromProto(rotated->previous_revoke_time()), clock_.Now());
}

// A failed token request leaves the current token in service and records the error.
TEST_F(RotationTest, FailedRotationKeepsCurrentToken) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString token = TokenOf(Ref("automation", "ci-bot"));
  kube_.FailNext(Verb::kCreateToken, std::nullopt, 1, absl::UnavailableError("apiserver down"));
  auto rotated = Rotate(Ref("automation", "ci-bot"));
  ASSERT_EQ(rotated.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(rotated.status().message(),
              HasSubstr("requesting a token for ServiceAccount automation/ci-bot"));
  EXPECT_TRUE(TokenOf(Ref("automation", "ci-bot")) == token);
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  EXPECT_EQ(account->status().generation(), 1);
  EXPECT_THAT(account->status().last_error(), HasSubstr("apiserver down"));
  // The anchor of the failed attempt is not left behind.
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-2").has_value());
  // Applying the unchanged spec verifies the objects and clears the error, without writes.
  const int writes = Writes(kube_);
  auto reapplied = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(reapplied.ok()) << reapplied.status();
  EXPECT_EQ(reapplied->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);
  EXPECT_TRUE(reapplied->account().status().last_error().empty());
  EXPECT_EQ(Writes(kube_), writes);
  // The next rotation succeeds.
  auto retried = Rotate(Ref("automation", "ci-bot"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->account().status().last_error().empty());
}

// Changing the token mode rotates at once; the previous token keeps its grace.
TEST_F(RotationTest, ModeChangeRotates) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  v1::AccountSpec spec = RulesSpec();
  spec.mutable_token()->set_mode(v1::TOKEN_MODE_LEGACY);
  auto response = Provision(Ref("automation", "ci-bot"), spec);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->outcome(), v1::PROVISION_OUTCOME_UPDATED);
  EXPECT_EQ(response->account().status().generation(), 2);
  EXPECT_EQ(response->account().status().pending_revocations_size(), 1);
  auto secret = kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-2");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ((*secret)["type"], "kubernetes.io/service-account-token");
}

// After a failed rotation, the account's next rotation time shows the retry while it is later
// than the plan.
TEST_F(RotationTest, NextRotationShowsTheRetryAfterAFailedRotation) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto next = [&] {
    return FromProto(
        broker_->GetAccount(Ref("automation", "ci-bot"))->status().next_rotation_time());
  };
  const absl::Time planned = next();
  ASSERT_GT(planned, clock_.Now());

  // The planned time passed and the rotation failed: the retry is what comes next.
  clock_.Advance(planned - clock_.Now() + absl::Seconds(1));
  const absl::Time retry = clock_.Now() + absl::Seconds(30);
  broker_->NoteRotationRetry(Ref("automation", "ci-bot"), retry);
  EXPECT_EQ(next(), retry);
  // A retry earlier than the plan never hides it.
  broker_->NoteRotationRetry(Ref("automation", "ci-bot"), planned - absl::Minutes(1));
  EXPECT_EQ(next(), planned);
  broker_->NoteRotationRetry(Ref("automation", "ci-bot"), absl::InfinitePast());
  EXPECT_EQ(next(), planned);
  // Unknown accounts are ignored.
  broker_->NoteRotationRetry(Ref("automation", "nobody"), retry);
}

// RotateToken's grace is capped by the cluster policy's max_grace.
TEST_F(RotationTest, RotationGraceIsCapped) {
  UseDefaultPolicy();
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto long_grace = Rotate(Ref("automation", "ci-bot"), 120);
  EXPECT_EQ(long_grace.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(long_grace.status().message(), HasSubstr("clusters[\"dev\"].policy.max_grace"));
  EXPECT_TRUE(Rotate(Ref("automation", "ci-bot"), 30).ok());
}

}  // namespace
}  // namespace kcred::broker
