// RevokeDue and SweepOrphans (revocation.h), and the record-level rules they follow.
#include "daemon/broker/revocation.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/validation.h"
#include "daemon/kube/resource.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;

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

// Many revocations due at once (as after a restart) are all done by one RevokeDue, several at a
// time, and each account keeps its current token.
TEST_F(RevocationTest, ManyDueRevocationsAreAllDoneInOnePass) {
  std::vector<SecretString> previous;
  for (int i = 0; i < 3 * kRevokeParallelism; ++i) {
    const v1::AccountRef ref = Ref("automation", absl::StrCat("bot-", i));
    ASSERT_TRUE(Provision(ref, RulesSpec()).ok());
    previous.push_back(TokenOf(ref));
    ASSERT_TRUE(Rotate(ref, /*grace_minutes=*/1).ok());
  }
  clock_.Advance(absl::Minutes(2));
  auto due = broker_->RevokeDue();
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_FALSE(due->has_value()) << "nothing left pending";
  for (int i = 0; i < 3 * kRevokeParallelism; ++i) {
    EXPECT_EQ(kube_.CheckToken(previous[i]), TokenState::kRevoked) << "bot-" << i;
    EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", absl::StrCat("bot-", i)))),
              TokenState::kValid);
  }
}

// The sweep lists each namespace once, however many accounts it holds.
TEST_F(RevocationTest, SweepListsEachNamespaceOnce) {
  SeedNamespace("other");
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(Provision(Ref("automation", name), RulesSpec()).ok());
  }
  ASSERT_TRUE(Provision(Ref("other", "d"), RulesSpec()).ok());
  const int lists = kube_.CallCount(Verb::kList, Resource::kSecret);
  auto swept = broker_->SweepOrphans();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 0);
  EXPECT_EQ(kube_.CallCount(Verb::kList, Resource::kSecret) - lists, 2);
}

// After Shutdown the sweep and the revocations stop with CANCELLED before their next account, and
// the cluster's client answers every call CANCELLED; served credentials stay available.
TEST_F(RevocationTest, ShutdownCancelsTheSweepAndTheRevocations) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot"), /*grace_minutes=*/1).ok());
  clock_.Advance(absl::Minutes(2));
  broker_->Shutdown();
  const int calls = AllCalls(kube_);
  EXPECT_EQ(broker_->SweepOrphans().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(broker_->RevokeDue().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(AllCalls(kube_), calls) << "no Kubernetes call after Shutdown";
  EXPECT_EQ(
      kube_.Get(Resource::kNamespace, "", "automation", absl::InfiniteFuture()).status().code(),
      absl::StatusCode::kCancelled);
  EXPECT_TRUE(broker_->GetToken(Ref("automation", "ci-bot")).ok());
}

// ----- the rules on their own ----------------------------------------------------------------

const absl::Time kT0 = absl::FromUnixSeconds(1767225600);

internal::v1::AccountRecord RecordWithRevocations(std::vector<std::optional<absl::Time>> times) {
  internal::v1::AccountRecord record;
  int64_t generation = static_cast<int64_t>(times.size());
  for (const std::optional<absl::Time>& time : times) {
    internal::v1::GenerationRecord* g = record.add_generations();
    g->set_generation(generation);
    g->set_secret_name(absl::StrCat("ci-bot-kcred-", generation--));
    if (time.has_value()) *g->mutable_revoke_time() = ToProto(*time);
  }
  return record;
}

// A revocation is due once its time has come; the next one is the earliest pending.
TEST(RevocationRulesTest, DueAndNextRevocation) {
  const auto record =
      RecordWithRevocations({std::nullopt, kT0 + absl::Minutes(5), kT0 + absl::Minutes(2)});
  EXPECT_FALSE(RevocationDue(record, kT0 + absl::Minutes(1)));
  EXPECT_TRUE(RevocationDue(record, kT0 + absl::Minutes(2)));
  EXPECT_EQ(NextRevocation(record), kT0 + absl::Minutes(2));
  EXPECT_EQ(NextRevocation(RecordWithRevocations({std::nullopt})), std::nullopt);
  EXPECT_FALSE(RevocationDue(RecordWithRevocations({std::nullopt}), absl::InfiniteFuture()));

  EXPECT_EQ(Earlier(std::nullopt, kT0), kT0);
  EXPECT_EQ(Earlier(kT0, std::nullopt), kT0);
  EXPECT_EQ(Earlier(kT0, kT0 - absl::Seconds(1)), kT0 - absl::Seconds(1));
  EXPECT_EQ(Earlier(std::nullopt, std::nullopt), std::nullopt);
}

// A listed token Secret is an orphan when no generation owns it and it is older than the grace;
// one without a readable creation time is left alone.
TEST(RevocationRulesTest, OrphanSecrets) {
  const auto record = RecordWithRevocations({std::nullopt});  // owns ci-bot-kcred-1
  auto secret = [](const std::string& name, const std::string& created) {
    nlohmann::json object = {{"metadata", {{"name", name}}}};
    if (!created.empty()) object["metadata"]["creationTimestamp"] = created;
    return object;
  };
  const absl::Time created = kT0;
  const std::string stamp = kube::FormatKubeTime(created);
  const absl::Duration grace = absl::Minutes(5);
  EXPECT_FALSE(
      IsOrphanSecret(secret("ci-bot-kcred-1", stamp), record, grace, created + absl::Hours(1)));
  EXPECT_FALSE(
      IsOrphanSecret(secret("ci-bot-kcred-2", stamp), record, grace, created + absl::Minutes(4)));
  EXPECT_TRUE(IsOrphanSecret(secret("ci-bot-kcred-2", stamp), record, grace, created + grace));
  EXPECT_FALSE(IsOrphanSecret(secret("ci-bot-kcred-2", ""), record, grace, absl::InfiniteFuture()));
}

}  // namespace
}  // namespace kcred::broker
