// Served credentials (served_credentials.h): rendering, opening stored tokens, the cache that
// follows cluster changes, and what it refuses to serve.
#include "daemon/broker/served_credentials.h"

#include <string>

#include "daemon/broker/broker.h"
#include "daemon/broker/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TestCluster;
using testing::TestSealer;

class ServedCredentialsTest : public BrokerFixture {};

// Kubeconfig names follow the cluster's templates.
TEST_F(ServedCredentialsTest, KubeconfigNameTemplates) {
  cluster_.cluster_name_template = "gs-{cluster}";
  cluster_.context_name_template = "gs-{cluster}-{name}@{namespace}";
  broker_ = MakeBroker();
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(kubeconfig.ok());
  EXPECT_EQ(kubeconfig->cluster_name(), "gs-dev");
  EXPECT_EQ(kubeconfig->context_name(), "gs-dev-ci-bot@automation");
}

// ----- the parts on their own ----------------------------------------------------------------

const AccountKey kKey{"dev", "automation", "ci-bot"};
const absl::Time kIssued = absl::FromUnixSeconds(1767225600);

// A record whose current generation 2 holds `token`, sealed with `sealer`.
internal::v1::AccountRecord RecordHolding(const store::Sealer& sealer, const SecretString& token) {
  internal::v1::AccountRecord record;
  internal::v1::GenerationRecord* g = record.add_generations();
  g->set_generation(2);
  g->set_token_fingerprint(token.fingerprint());
  *g->mutable_issue_time() = ToProto(kIssued);
  *g->mutable_expire_time() = ToProto(kIssued + absl::Hours(1));
  g->set_sealed_token(*sealer.Seal(token, SealingContext(StoreKey(kKey), 2)));
  *record.mutable_account()->mutable_status()->mutable_next_rotation_time() =
      ToProto(kIssued + absl::Minutes(48));
  return record;
}

// A kubeconfig is rendered again only when the cluster's entry changes, with the same token.
TEST(ServedCredentialsPartsTest, RenderOnlyWhatChanged) {
  const SecretString token("token-value");
  config::ClusterConfig cluster = TestCluster();
  internal::v1::GenerationRecord generation;
  generation.set_generation(1);
  generation.set_token_fingerprint(token.fingerprint());
  Served served = MakeServed(cluster, kKey, generation, token);
  EXPECT_THAT(served.kubeconfig.Reveal(), HasSubstr("token-value"));
  EXPECT_THAT(served.kubeconfig.Reveal(), HasSubstr("server: https://127.0.0.1:6443"));
  EXPECT_TRUE(served.entry.token.empty());
  EXPECT_EQ(served.expire_time, absl::InfiniteFuture());  // a legacy token: no expiry

  EXPECT_FALSE(Render(cluster, kKey, served));
  cluster.server = "https://dev-2.example:6443";
  EXPECT_TRUE(Render(cluster, kKey, served));
  EXPECT_THAT(served.kubeconfig.Reveal(), HasSubstr("server: https://dev-2.example:6443"));
  EXPECT_THAT(served.kubeconfig.Reveal(), HasSubstr("token-value"));
  EXPECT_THAT(served.kubeconfig.Reveal(), Not(HasSubstr("127.0.0.1")));
}

// A stored token is opened and served; a record being deleted, without a token, or sealed under
// another key is not, and says why.
TEST(ServedCredentialsPartsTest, OpenServedSaysWhyNot) {
  const auto sealer = TestSealer();
  const SecretString token("token-value");
  internal::v1::AccountRecord record = RecordHolding(*sealer, token);
  std::string unserved;
  std::optional<Served> served = OpenServed(*sealer, TestCluster(), kKey, record, &unserved);
  ASSERT_TRUE(served.has_value()) << unserved;
  EXPECT_TRUE(served->token == token);
  EXPECT_EQ(served->generation, 2);
  EXPECT_EQ(served->expire_time, kIssued + absl::Hours(1));
  EXPECT_EQ(served->next_rotation_time, kIssued + absl::Minutes(48));

  EXPECT_FALSE(OpenServed(*TestSealer('x'), TestCluster(), kKey, record, &unserved).has_value());
  EXPECT_THAT(unserved, HasSubstr("the stored token of generation 2 cannot be opened"));
  record.set_deleting(true);
  EXPECT_FALSE(OpenServed(*sealer, TestCluster(), kKey, record, &unserved).has_value());
  EXPECT_EQ(unserved, "the account is being deleted");
  EXPECT_FALSE(OpenServed(*sealer, TestCluster(), kKey, internal::v1::AccountRecord(), &unserved)
                   .has_value());
  EXPECT_EQ(unserved, "the account has no token yet");
}

// The cache follows the cluster set: unserved while the cluster is gone (since the first time),
// served again from the store when it comes back, rendered again when its configuration changes.
TEST(ServedCredentialsPartsTest, CacheFollowsTheCluster) {
  const auto sealer = TestSealer();
  const internal::v1::AccountRecord record = RecordHolding(*sealer, SecretString("token-value"));
  // FollowCluster reads the handle's configuration only.
  ClusterHandle dev(TestCluster(), nullptr);
  ServedCache cache;
  std::string unserved;
  cache.Serve(*OpenServed(*sealer, dev.config, kKey, record, &unserved));
  using Followed = ServedCache::Followed;

  EXPECT_EQ(cache.FollowCluster(&dev, *sealer, kKey, record, kIssued), Followed::kKept);
  EXPECT_EQ(cache.FollowCluster(nullptr, *sealer, kKey, record, kIssued), Followed::kUnserved);
  EXPECT_EQ(cache.FollowCluster(nullptr, *sealer, kKey, record, kIssued + absl::Minutes(1)),
            Followed::kKept);
  EXPECT_FALSE(cache.served.has_value());
  EXPECT_TRUE(cache.cluster_missing);
  EXPECT_EQ(cache.cluster_missing_since, kIssued);
  EXPECT_THAT(cache.unserved_reason, HasSubstr("cluster \"dev\" is no longer configured"));

  EXPECT_EQ(cache.FollowCluster(&dev, *sealer, kKey, record, kIssued), Followed::kServedAgain);
  ASSERT_TRUE(cache.served.has_value());
  EXPECT_FALSE(cache.cluster_missing);
  EXPECT_TRUE(cache.unserved_reason.empty());

  ClusterHandle moved(TestCluster(), nullptr);
  moved.config.server = "https://dev-2.example:6443";
  EXPECT_EQ(cache.FollowCluster(&moved, *sealer, kKey, record, kIssued), Followed::kRerendered);
  EXPECT_EQ(cache.served->entry.server, "https://dev-2.example:6443");

  cache.ClusterGone("dev", kIssued);
  EXPECT_EQ(cache.FollowCluster(&dev, *TestSealer('x'), kKey, record, kIssued),
            Followed::kStillUnserved);
  EXPECT_THAT(cache.unserved_reason, HasSubstr("cannot be opened"));
}

// Nothing is served without credentials or once the token has expired; the refusal says why.
TEST(ServedCredentialsPartsTest, CurrentRefusesExpiredAndMissingTokens) {
  const auto sealer = TestSealer();
  ServedCache cache;
  cache.Withhold("the account has no token yet");
  auto none = cache.Current("dev/automation/ci-bot", "apiserver down", kIssued);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(none.status().message(),
            "account dev/automation/ci-bot has no token to serve: the account has no token yet; "
            "last error: apiserver down");

  std::string unserved;
  cache.Serve(*OpenServed(*sealer, TestCluster(), kKey,
                          RecordHolding(*sealer, SecretString("token-value")), &unserved));
  EXPECT_TRUE(cache.Current("dev/automation/ci-bot", "", kIssued).ok());
  auto expired = cache.Current("dev/automation/ci-bot", "", kIssued + absl::Hours(1));
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(expired.status().message(), HasSubstr("(generation 2) expired at"));
  EXPECT_THAT(expired.status().message(), HasSubstr("last error: (none)"));
}

}  // namespace
}  // namespace kcred::broker
