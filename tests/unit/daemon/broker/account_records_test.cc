// Account records (account_records.h): the compare-and-swap commit, sealed tokens at rest, the
// origin rules.
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "daemon/broker/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;

class AccountRecordsTest : public BrokerFixture {};

// Provision and DeleteAccount as the API or the configuration.
class OriginTest : public BrokerFixture {
 protected:
  absl::StatusOr<v1::ProvisionAccountResponse> ProvisionAs(v1::Origin origin,
                                                           const v1::AccountRef& ref,
                                                           bool validate_only = false) {
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = ref;
    *request.mutable_spec() = RulesSpec();
    request.set_validate_only(validate_only);
    return broker_->Provision(request, origin);
  }
  absl::StatusOr<v1::DeleteAccountResponse> DeleteAs(v1::Origin origin, const v1::AccountRef& ref) {
    v1::DeleteAccountRequest request;
    *request.mutable_ref() = ref;
    return broker_->DeleteAccount(request, origin);
  }
};

// A record changed in the store by another writer is not overwritten; a retry proceeds from it.
TEST_F(AccountRecordsTest, ConcurrentStoreWriterIsNotOverwritten) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  const std::string key = "accounts/dev/automation/ci-bot";
  auto stored = store_.Get(key);
  ASSERT_TRUE(stored.ok());
  internal::v1::AccountRecord record;
  ASSERT_TRUE(record.ParseFromString(stored->value));
  (*record.mutable_account()->mutable_spec()->mutable_labels())["written-by"] = "other";
  ASSERT_TRUE(store_.Put(key, record.SerializeAsString(), store::Precondition::None()).ok());

  auto rotated = Rotate(Ref("automation", "ci-bot"));
  ASSERT_EQ(rotated.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(rotated.status().message(), HasSubstr("retry"));
  // The other writer's change survived, and the token in service is still generation 1.
  record.Clear();
  ASSERT_TRUE(record.ParseFromString(store_.Get(key)->value));
  EXPECT_EQ(record.account().spec().labels().at("written-by"), "other");
  EXPECT_EQ(broker_->GetToken(Ref("automation", "ci-bot"))->generation(), 1);

  auto retried = Rotate(Ref("automation", "ci-bot"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->account().status().generation(), 2);
  EXPECT_EQ(retried->account().spec().labels().at("written-by"), "other");
  EXPECT_EQ(kube_.CheckToken(TokenOf(Ref("automation", "ci-bot"))), TokenState::kValid);
}

// The store holds tokens only sealed: no raw value contains a token.
TEST_F(AccountRecordsTest, StoreNeverHoldsPlainTokens) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  std::vector<std::string> tokens = {TokenOf(Ref("automation", "ci-bot")).Reveal()};
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot")).ok());
  tokens.push_back(TokenOf(Ref("automation", "ci-bot")).Reveal());
  std::vector<store::KeyValue> all = store_.All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].key, "accounts/dev/automation/ci-bot");
  for (const std::string& token : tokens) {
    ASSERT_FALSE(token.empty());
    EXPECT_EQ(all[0].value.find(token), std::string::npos);
  }
}

// A configured account records its origin (also in events) and refuses API provisioning.
TEST_F(OriginTest, ConfigAccountIsChangedOnlyInTheConfiguration) {
  std::vector<v1::AccountEvent> events;
  absl::Mutex mu;
  broker_->SetEventListener([&](const v1::AccountEvent& event) {
    absl::MutexLock lock(&mu);
    events.push_back(event);
  });
  auto created = ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->account().origin(), v1::ORIGIN_CONFIG);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->origin(), v1::ORIGIN_CONFIG);

  auto api = ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot"));
  EXPECT_EQ(api.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(api.status().message(),
              HasSubstr("account dev/automation/ci-bot is declared in kcredd's configuration "
                        "(accounts:); change it there"));
  EXPECT_EQ(ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot"), true).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto again = ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);

  absl::MutexLock lock(&mu);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::EVENT_TYPE_PROVISIONED);
  EXPECT_EQ(events[0].account().origin(), v1::ORIGIN_CONFIG);
}

// The configuration does not take over an API account, and never deletes one.
TEST_F(OriginTest, ApiAccountIsNotTakenOverOrPrunedByConfig) {
  ASSERT_TRUE(ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot")).ok());
  const int writes = Writes(kube_);
  auto config = ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(config.status().message(),
              HasSubstr("account dev/automation/ci-bot was provisioned through the API; kcredd's "
                        "configuration does not take it over: delete it through the API first, "
                        "or remove it from the configuration"));
  auto pruned = DeleteAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"));
  EXPECT_EQ(pruned.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(pruned.status().message(), HasSubstr("was provisioned through the API"));
  EXPECT_EQ(Writes(kube_), writes);
  auto account = broker_->GetAccount(Ref("automation", "ci-bot"));
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(account->origin(), v1::ORIGIN_API);
  EXPECT_FALSE(account->status().has_last_error_time());
  EXPECT_TRUE(broker_->GetKubeconfig(Ref("automation", "ci-bot")).ok());
}

// The API cannot delete a configured account (nor take it over afterwards); the configuration
// deletes its own.
TEST_F(OriginTest, DeletingConfigAccounts) {
  ASSERT_TRUE(ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "a")).ok());
  const int writes = Writes(kube_);
  auto api = DeleteAs(v1::ORIGIN_API, Ref("automation", "a"));
  EXPECT_EQ(api.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(api.status().message(), HasSubstr("accounts.prune: true"));
  EXPECT_EQ(Writes(kube_), writes);
  EXPECT_EQ(ProvisionAs(v1::ORIGIN_API, Ref("automation", "a")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "a"))->origin(), v1::ORIGIN_CONFIG);
  EXPECT_TRUE(DeleteAs(v1::ORIGIN_CONFIG, Ref("automation", "a")).ok());
  EXPECT_EQ(broker_->account_count(), 0u);
  EXPECT_EQ(LabelledEverywhere("automation", "a"), 0u);
}

// The API rotates a configured account only with a grace; the schedule rotates it as it is.
TEST_F(OriginTest, RotatingConfigAccounts) {
  ASSERT_TRUE(ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "a")).ok());
  v1::RotateTokenRequest request;
  *request.mutable_ref() = Ref("automation", "a");
  request.mutable_grace()->set_seconds(0);
  auto zero = broker_->RotateToken(request);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(zero.status().message(), HasSubstr("grace above zero"));
  request.mutable_grace()->set_seconds(30);
  auto with_grace = broker_->RotateToken(request);
  ASSERT_TRUE(with_grace.ok()) << with_grace.status();
  EXPECT_EQ(with_grace->account().status().generation(), 2);
  request.clear_grace();
  auto scheduled = broker_->RotateToken(request, v1::ORIGIN_UNSPECIFIED);
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->account().status().generation(), 3);
}

// validate_only previews show the origin the call would record, and create nothing.
TEST_F(OriginTest, PreviewShowsOrigin) {
  auto preview = ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot"), true);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->account().origin(), v1::ORIGIN_CONFIG);
  EXPECT_EQ(broker_->account_count(), 0u);
  preview = ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot"), true);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->account().origin(), v1::ORIGIN_API);
  EXPECT_EQ(ProvisionAs(v1::ORIGIN_UNSPECIFIED, Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Records stored without an origin are API accounts.
TEST_F(OriginTest, RecordsWithoutOriginAreApiAccounts) {
  ASSERT_TRUE(ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot")).ok());
  std::vector<store::KeyValue> all = store_.All();
  ASSERT_EQ(all.size(), 1u);
  internal::v1::AccountRecord record;
  ASSERT_TRUE(record.ParseFromString(all[0].value));
  record.mutable_account()->clear_origin();
  ASSERT_TRUE(store_
                  .Put(all[0].key, record.SerializeAsString(),
                       store::Precondition::ModRevision(all[0].mod_revision))
                  .ok());
  broker_ = MakeBroker();
  ASSERT_TRUE(broker_->Restore().ok());
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->origin(), v1::ORIGIN_API);
  EXPECT_EQ(ProvisionAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DeleteAs(v1::ORIGIN_CONFIG, Ref("automation", "ci-bot")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto unchanged = ProvisionAs(v1::ORIGIN_API, Ref("automation", "ci-bot"));
  ASSERT_TRUE(unchanged.ok()) << unchanged.status();
  EXPECT_EQ(unchanged->outcome(), v1::PROVISION_OUTCOME_UNCHANGED);
}

// ----- the record helpers on their own -------------------------------------------------------

const absl::Time kNow = absl::FromUnixSeconds(1767225600);

// Store keys and sealing contexts spell the account's identity.
TEST(AccountRecordHelpersTest, KeysAndContexts) {
  const AccountKey key = KeyOf(BrokerFixture::Ref("automation", "ci-bot"));
  EXPECT_EQ(key, AccountKey("dev", "automation", "ci-bot"));
  EXPECT_EQ(RefString(key), "dev/automation/ci-bot");
  EXPECT_EQ(RefString(BrokerFixture::Ref("automation", "ci-bot")), "dev/automation/ci-bot");
  EXPECT_EQ(StoreKey(key), "accounts/dev/automation/ci-bot");
  EXPECT_EQ(SealingContext(StoreKey(key), 3), "accounts/dev/automation/ci-bot#generation=3");
}

// A stored record parses when it is filed under its own key; its origin defaults to the API.
TEST(AccountRecordHelpersTest, ParseRecordChecksTheKey) {
  internal::v1::AccountRecord record;
  *record.mutable_account()->mutable_ref() = BrokerFixture::Ref("automation", "ci-bot");
  store::KeyValue item{"accounts/dev/automation/ci-bot", record.SerializeAsString(), 1, 1};
  auto parsed = ParseRecord(item);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->account().origin(), v1::ORIGIN_API);

  item.key = "accounts/dev/automation/other";
  EXPECT_EQ(ParseRecord(item).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ParseRecord(item).status().message(), HasSubstr("the store is inconsistent"));
  item.value = "not a record";
  EXPECT_THAT(ParseRecord(item).status().message(), HasSubstr("is not an account record"));
}

// Only the API and the configuration declare accounts.
TEST(AccountRecordHelpersTest, ValidateOrigin) {
  EXPECT_TRUE(ValidateOrigin(v1::ORIGIN_API).ok());
  EXPECT_TRUE(ValidateOrigin(v1::ORIGIN_CONFIG).ok());
  EXPECT_EQ(ValidateOrigin(v1::ORIGIN_UNSPECIFIED).code(), absl::StatusCode::kInvalidArgument);
}

internal::v1::AccountRecord RecordWithToken(absl::Time issued) {
  internal::v1::AccountRecord record;
  v1::Account& account = *record.mutable_account();
  *account.mutable_ref() = BrokerFixture::Ref("automation", "ci-bot");
  account.set_uid("0123456789abcdef");
  internal::v1::GenerationRecord* g = record.add_generations();
  g->set_generation(1);
  g->set_secret_name("ci-bot-kcred-1");
  g->set_token_fingerprint("sha256:0000000000000000");
  *g->mutable_issue_time() = ToProto(issued);
  *g->mutable_expire_time() = ToProto(issued + absl::Hours(1));
  return record;
}

// A one-hour token rotated at 80% of its life.
TokenPolicy HourPolicy() {
  TokenPolicy policy;
  policy.ttl = absl::Hours(1);
  policy.rotate_fraction = 0.8;
  return policy;
}

v1::Condition ConditionOf(const v1::AccountStatus& status, v1::ConditionType type) {
  for (const v1::Condition& condition : status.conditions()) {
    if (condition.type() == type) return condition;
  }
  return v1::Condition();
}

// RefreshStatus derives the status from the generations: Ready while the token is valid and no
// error stands, Degraded with the last error, Deleting once deletion began; a condition keeps its
// transition time while its status holds, and every refresh makes a new etag.
TEST(AccountRecordHelpersTest, RefreshStatusDerivesConditions) {
  const TokenPolicy policy = HourPolicy();
  internal::v1::AccountRecord record = RecordWithToken(kNow);
  RefreshStatus(record, policy, kNow);
  const v1::AccountStatus& status = record.account().status();
  EXPECT_EQ(status.generation(), 1);
  EXPECT_EQ(FromProto(status.next_rotation_time()), kNow + absl::Minutes(48));
  EXPECT_EQ(status.managed_objects_size(), 1);  // the anchor
  v1::Condition ready = ConditionOf(status, v1::CONDITION_TYPE_READY);
  EXPECT_EQ(ready.status(), v1::CONDITION_STATUS_TRUE);
  EXPECT_EQ(ready.reason(), "Provisioned");
  const std::string first_etag = record.account().etag();
  EXPECT_EQ(first_etag, "01234567-1");

  record.mutable_account()->mutable_status()->set_last_error("apiserver down");
  RefreshStatus(record, policy, kNow + absl::Minutes(1));
  ready = ConditionOf(record.account().status(), v1::CONDITION_TYPE_READY);
  EXPECT_EQ(ready.status(), v1::CONDITION_STATUS_FALSE);
  EXPECT_EQ(ready.reason(), "Degraded");
  EXPECT_EQ(FromProto(ready.last_transition_time()), kNow + absl::Minutes(1));
  v1::Condition degraded = ConditionOf(record.account().status(), v1::CONDITION_TYPE_DEGRADED);
  EXPECT_EQ(degraded.status(), v1::CONDITION_STATUS_TRUE);
  EXPECT_EQ(degraded.message(), "apiserver down");
  EXPECT_NE(record.account().etag(), first_etag);

  RefreshStatus(record, policy, kNow + absl::Minutes(2));
  ready = ConditionOf(record.account().status(), v1::CONDITION_TYPE_READY);
  EXPECT_EQ(FromProto(ready.last_transition_time()), kNow + absl::Minutes(1));  // still false

  record.set_deleting(true);
  RefreshStatus(record, policy, kNow + absl::Minutes(3));
  EXPECT_EQ(ConditionOf(record.account().status(), v1::CONDITION_TYPE_READY).reason(), "Deleting");

  internal::v1::AccountRecord expired = RecordWithToken(kNow - absl::Hours(2));
  RefreshStatus(expired, policy, kNow);
  EXPECT_EQ(ConditionOf(expired.account().status(), v1::CONDITION_TYPE_READY).reason(),
            "NoValidToken");
}

// Readers see Ready turn false once the token has expired, before anything is written about it.
TEST(AccountRecordHelpersTest, ObservedAccountExpires) {
  internal::v1::AccountRecord record = RecordWithToken(kNow);
  RefreshStatus(record, HourPolicy(), kNow);
  v1::Account valid = ObservedAccount(record.account(), kNow + absl::Minutes(59));
  EXPECT_EQ(ConditionOf(valid.status(), v1::CONDITION_TYPE_READY).status(),
            v1::CONDITION_STATUS_TRUE);
  v1::Account expired = ObservedAccount(record.account(), kNow + absl::Hours(1));
  const v1::Condition ready = ConditionOf(expired.status(), v1::CONDITION_TYPE_READY);
  EXPECT_EQ(ready.status(), v1::CONDITION_STATUS_FALSE);
  EXPECT_EQ(ready.reason(), "TokenExpired");
  EXPECT_EQ(FromProto(ready.last_transition_time()), kNow + absl::Hours(1));
}

}  // namespace
}  // namespace kcred::broker
