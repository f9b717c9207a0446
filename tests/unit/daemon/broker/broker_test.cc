// The Broker as a whole: Restore from the store, events for watchers, accounts in parallel.
#include "daemon/broker/broker.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;
using testing::Unowned;

class BrokerTest : public BrokerFixture {};

// Restore brings back every account and the same kubeconfig without calling Kubernetes.
TEST_F(BrokerTest, RestoreFromStore) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "other"), RulesSpec(v1::SCOPE_CLUSTER)).ok());
  auto before = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(before.ok());
  auto account_before = broker_->GetAccount(Ref("automation", "ci-bot"));
  const int calls = AllCalls(kube_);

  broker_ = MakeBroker();
  ASSERT_TRUE(broker_->Restore().ok());
  EXPECT_EQ(AllCalls(kube_), calls);
  EXPECT_EQ(broker_->account_count(), 2u);
  auto after = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->kubeconfig(), before->kubeconfig());
  EXPECT_EQ(after->token_fingerprint(), before->token_fingerprint());
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->etag(), account_before->etag());
  // And the restored account can be applied again without changes.
  auto unchanged = Provision(Ref("automation", "ci-bot"), RulesSpec());
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);
}

// A record whose sealed token was tampered with is restored without a token, not served wrongly.
TEST_F(BrokerTest, RestoreWithUnreadableToken) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto wrong_key = store::MakeSealingKey(SecretString(std::string(32, 'x')));
  auto other_sealer = store::AesGcmSealer::Create(std::move(*wrong_key));
  Broker restored(clock_, store_, **other_sealer, {{cluster_, Unowned(kube_)}}, defaults_);
  ASSERT_TRUE(restored.Restore().ok());
  auto kubeconfig = restored.GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_EQ(kubeconfig.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(kubeconfig.status().message(), HasSubstr("cannot be opened"));
}

// Events follow every committed change, and never carry a token.
TEST_F(BrokerTest, EventsForWatchers) {
  absl::Mutex mu;
  std::vector<v1::AccountEvent> events;
  broker_->SetEventListener([&](const v1::AccountEvent& event) {
    absl::MutexLock lock(&mu);
    events.push_back(event);
  });
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());  // unchanged: no event
  std::vector<std::string> tokens = {TokenOf(Ref("automation", "ci-bot")).Reveal()};
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot"), 0).ok());
  tokens.push_back(TokenOf(Ref("automation", "ci-bot")).Reveal());
  kube_.FailNext(Verb::kCreateToken, std::nullopt, 1, absl::UnavailableError("down"));
  ASSERT_FALSE(Rotate(Ref("automation", "ci-bot")).ok());
  ASSERT_TRUE(Delete(Ref("automation", "ci-bot")).ok());

  absl::MutexLock lock(&mu);
  std::vector<v1::EventType> types;
  for (const v1::AccountEvent& event : events) {
    types.push_back(event.type());
    EXPECT_EQ(event.account().ref().name(), "ci-bot");
    EXPECT_TRUE(event.has_time());
    const std::string bytes = event.SerializeAsString();
    for (const std::string& token : tokens) EXPECT_EQ(bytes.find(token), std::string::npos);
  }
  EXPECT_THAT(types, ::testing::ElementsAre(v1::EVENT_TYPE_PROVISIONED, v1::EVENT_TYPE_ROTATED,
                                            v1::EVENT_TYPE_REVOKED, v1::EVENT_TYPE_FAILED,
                                            v1::EVENT_TYPE_DELETED));
  EXPECT_EQ(events[1].account().status().generation(), 2);
  EXPECT_THAT(events[3].message(), HasSubstr("down"));
}

// Operations on different accounts run in parallel without corrupting each other.
TEST_F(BrokerTest, ConcurrentAccounts) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([this, i] {
      const v1::AccountRef ref = Ref("automation", absl::StrCat("bot-", i % 4));
      EXPECT_TRUE(Provision(ref, RulesSpec()).ok());
      EXPECT_TRUE(Rotate(ref).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(broker_->account_count(), 4u);
  for (int i = 0; i < 4; ++i) {
    auto account = broker_->GetAccount(Ref("automation", absl::StrCat("bot-", i)));
    ASSERT_TRUE(account.ok());
    EXPECT_EQ(account->status().generation(), 3);  // created once, rotated twice
  }
}

}  // namespace
}  // namespace kcred::broker
