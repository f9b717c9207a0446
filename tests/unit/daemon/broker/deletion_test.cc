// Broker::DeleteAccount: everything kcred made goes, tokens first; retries finish the job.
#include "daemon/broker/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;

class DeletionTest : public BrokerFixture {};

// Deleting a role_ref account leaves the referenced role alone.
TEST_F(DeletionTest, DeleteKeepsReferencedRole) {
  ASSERT_TRUE(kube_
                  .Seed(Resource::kClusterRole,
                        {{"metadata", {{"name", "view"}}}, {"rules", json::array()}})
                  .ok());
  ASSERT_TRUE(
      Provision(Ref("automation", "ci-bot"), RoleRefSpec(v1::ROLE_KIND_CLUSTER_ROLE, "view")).ok());
  ASSERT_TRUE(Delete(Ref("automation", "ci-bot")).ok());
  EXPECT_TRUE(kube_.Peek(Resource::kClusterRole, "", "view").has_value());
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
}

// Delete removes every object kcred made (nothing left by label) and revokes the token.
TEST_F(DeletionTest, DeleteRemovesEverything) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec(v1::SCOPE_CLUSTER)).ok());
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot")).ok());  // two live generations
  SecretString token = TokenOf(Ref("automation", "ci-bot"));
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 5u);
  auto deleted = Delete(Ref("automation", "ci-bot"));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->deleted_objects_size(), 5);
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kRevoked);
  EXPECT_EQ(kube_.ValidTokenCount(), 0);
  EXPECT_TRUE(store_.All().empty());
  EXPECT_EQ(broker_->account_count(), 0u);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Delete(Ref("automation", "ci-bot")).status().code(), absl::StatusCode::kNotFound);
}

// Delete retried after partial failures (before and after the server applied a call) finishes.
TEST_F(DeletionTest, DeleteRetriedAfterPartialFailure) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  SecretString token = TokenOf(Ref("automation", "ci-bot"));
  kube_.FailNextAfterApplying(Verb::kDelete, Resource::kSecret, 1,
                              absl::DeadlineExceededError("timeout"));
  auto first = Delete(Ref("automation", "ci-bot"));
  ASSERT_EQ(first.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(first.status().message(), HasSubstr("deleting Secret automation/ci-bot-kcred-1"));
  // Being deleted: no token is served any more.
  EXPECT_EQ(broker_->GetToken(Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kUnavailable);

  kube_.FailNext(Verb::kDelete, Resource::kRole, 1, absl::UnavailableError("apiserver down"));
  auto second = Delete(Ref("automation", "ci-bot"));
  ASSERT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("deleting Role automation/ci-bot"));
  EXPECT_EQ(broker_->account_count(), 1u);

  auto third = Delete(Ref("automation", "ci-bot"));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(LabelledEverywhere("automation", "ci-bot"), 0u);
  EXPECT_EQ(kube_.CheckToken(token), TokenState::kRevoked);
  EXPECT_TRUE(store_.All().empty());
}

}  // namespace
}  // namespace kcred::broker
