#include "daemon/kube/fake_kube_client.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "daemon/kube/kube_status.h"
#include "gtest/gtest.h"
#include "tests/support/simulated_clock.h"

namespace kcred::kube {
namespace {

using ::kcred::testing::SimulatedClock;

const absl::Time kNoDeadline = absl::InfiniteFuture();

nlohmann::json Meta(const std::string& ns, const std::string& name,
                    nlohmann::json labels = nlohmann::json::object()) {
  nlohmann::json meta{{"name", name}, {"labels", labels}};
  if (!ns.empty()) meta["namespace"] = ns;
  return {{"metadata", meta}};
}

class FakeKubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kube_.Create(Resource::kNamespace, Meta("", "ns"), kNoDeadline).ok());
  }
  SimulatedClock clock_;
  FakeKubeClient kube_{clock_};
};

// The server sets uid, resourceVersion and creationTimestamp; Get returns what was stored.
TEST_F(FakeKubeClientTest, CreateSetsServerFields) {
  absl::StatusOr<nlohmann::json> sa =
      kube_.Create(Resource::kServiceAccount, Meta("ns", "bot"), kNoDeadline);
  ASSERT_TRUE(sa.ok()) << sa.status();
  EXPECT_EQ((*sa)["kind"], "ServiceAccount");
  EXPECT_FALSE((*sa)["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE((*sa)["metadata"]["resourceVersion"].get<std::string>().empty());
  EXPECT_EQ((*sa)["metadata"]["creationTimestamp"], FormatKubeTime(clock_.Now()));
  EXPECT_EQ(*kube_.Get(Resource::kServiceAccount, "ns", "bot", kNoDeadline), *sa);
}

// The same errors, codes and messages as a real API server behind HttpKubeClient.
TEST_F(FakeKubeClientTest, ErrorsLikeAnApiServer) {
  ASSERT_TRUE(kube_.Create(Resource::kRole, Meta("ns", "r"), kNoDeadline).ok());
  absl::StatusOr<nlohmann::json> again =
      kube_.Create(Resource::kRole, Meta("ns", "r"), kNoDeadline);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.status().message(),
            "POST /apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles: "
            "roles.rbac.authorization.k8s.io \"r\" already exists (HTTP 409 AlreadyExists)");

  absl::StatusOr<nlohmann::json> missing =
      kube_.Get(Resource::kServiceAccount, "ns", "nobody", kNoDeadline);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(
      absl::StrContains(missing.status().message(), "serviceaccounts \"nobody\" not found"));

  absl::StatusOr<nlohmann::json> no_namespace =
      kube_.Create(Resource::kSecret, Meta("elsewhere", "s"), kNoDeadline);
  EXPECT_EQ(no_namespace.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(
      absl::StrContains(no_namespace.status().message(), "namespaces \"elsewhere\" not found"));

  absl::StatusOr<nlohmann::json> bad_name =
      kube_.Create(Resource::kServiceAccount, Meta("ns", "Bad_Name"), kNoDeadline);
  EXPECT_EQ(bad_name.status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(kube_.Delete(Resource::kSecret, "ns", "nothing", {}, kNoDeadline).code(),
            absl::StatusCode::kNotFound);
}

// Update needs the current resourceVersion; a stale one is Conflict (Aborted).
TEST_F(FakeKubeClientTest, OptimisticConcurrency) {
  nlohmann::json role = *kube_.Create(Resource::kRole, Meta("ns", "r"), kNoDeadline);
  nlohmann::json stale = role;
  role["rules"] = nlohmann::json::array({{{"verbs", {"get"}}, {"resources", {"pods"}}}});
  absl::StatusOr<nlohmann::json> updated = kube_.Update(Resource::kRole, role, kNoDeadline);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], role["metadata"]["resourceVersion"]);
  EXPECT_EQ((*updated)["metadata"]["uid"], role["metadata"]["uid"]);
  EXPECT_EQ((*updated)["rules"][0]["verbs"][0], "get");

  absl::StatusOr<nlohmann::json> conflict = kube_.Update(Resource::kRole, stale, kNoDeadline);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(KubeReason(conflict.status()), "Conflict");

  stale["metadata"].erase("resourceVersion");
  EXPECT_EQ(kube_.Update(Resource::kRole, stale, kNoDeadline).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Delete honours uid and resourceVersion preconditions.
TEST_F(FakeKubeClientTest, DeletePreconditions) {
  nlohmann::json secret = *kube_.Create(Resource::kSecret, Meta("ns", "s"), kNoDeadline);
  std::string uid = secret["metadata"]["uid"];
  EXPECT_EQ(kube_.Delete(Resource::kSecret, "ns", "s", {"other-uid", ""}, kNoDeadline).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(kube_.Delete(Resource::kSecret, "ns", "s", {"", "1"}, kNoDeadline).code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(kube_.Delete(Resource::kSecret, "ns", "s", {uid, ""}, kNoDeadline).ok());
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "ns", "s").has_value());
}

// Label selectors: equality, inequality, existence and set forms; namespaces filter.
TEST_F(FakeKubeClientTest, ListByLabelSelector) {
  ASSERT_TRUE(kube_.Create(Resource::kNamespace, Meta("", "ns2"), kNoDeadline).ok());
  nlohmann::json kcred{{"app.kubernetes.io/managed-by", "kcred"}, {"kcred.io/account", "a"}};
  nlohmann::json kcred_b{{"app.kubernetes.io/managed-by", "kcred"}, {"kcred.io/account", "b"}};
  ASSERT_TRUE(kube_.Create(Resource::kSecret, Meta("ns", "a1", kcred), kNoDeadline).ok());
  ASSERT_TRUE(kube_.Create(Resource::kSecret, Meta("ns", "b1", kcred_b), kNoDeadline).ok());
  ASSERT_TRUE(kube_.Create(Resource::kSecret, Meta("ns2", "a2", kcred), kNoDeadline).ok());
  ASSERT_TRUE(kube_.Create(Resource::kSecret, Meta("ns", "foreign"), kNoDeadline).ok());

  auto names = [&](const std::string& ns, const std::string& selector) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<nlohmann::json>> items =
        kube_.List(Resource::kSecret, ns, selector, kNoDeadline);
    EXPECT_TRUE(items.ok()) << items.status();
    if (items.ok()) {
      for (const auto& item : *items) out.push_back(item["metadata"]["name"]);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("", "kcred.io/account=a"), (V{"a1", "a2"}));
  EXPECT_EQ(names("ns", "kcred.io/account=a"), (V{"a1"}));
  EXPECT_EQ(names("ns", "app.kubernetes.io/managed-by=kcred,kcred.io/account!=a"), (V{"b1"}));
  EXPECT_EQ(names("ns", "!kcred.io/account"), (V{"foreign"}));
  EXPECT_EQ(names("ns", "kcred.io/account"), (V{"a1", "b1"}));
  EXPECT_EQ(names("", "kcred.io/account in (a, b)"), (V{"a1", "b1", "a2"}))
      << "ordered by namespace, then name";
  EXPECT_EQ(names("ns", "kcred.io/account notin (a)"), (V{"b1", "foreign"}));
  EXPECT_EQ(names("ns", "").size(), 3u);
  EXPECT_EQ(kube_.List(Resource::kSecret, "ns", "a in (b", kNoDeadline).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A bound token is valid until expiry and revoked as soon as its Secret is deleted.
TEST_F(FakeKubeClientTest, BoundTokenLifecycle) {
  ASSERT_TRUE(kube_.Create(Resource::kServiceAccount, Meta("ns", "bot"), kNoDeadline).ok());
  nlohmann::json anchor = *kube_.Create(Resource::kSecret, Meta("ns", "bot-1"), kNoDeadline);
  TokenRequestSpec spec;
  spec.expiration = absl::Hours(1);
  spec.bound_secret_name = "bot-1";
  spec.bound_secret_uid = anchor["metadata"]["uid"];
  absl::StatusOr<IssuedToken> token = kube_.CreateToken("ns", "bot", spec, kNoDeadline);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->expiration, clock_.Now() + absl::Hours(1));
  EXPECT_FALSE(token->audiences.empty());
  EXPECT_EQ(kube_.CheckToken(token->token), FakeKubeClient::TokenState::kValid);

  spec.expiration = absl::Hours(2);
  IssuedToken second = *kube_.CreateToken("ns", "bot", spec, kNoDeadline);
  EXPECT_NE(second.token, token->token);
  EXPECT_EQ(kube_.ValidTokenCount(), 2);

  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(kube_.CheckToken(token->token), FakeKubeClient::TokenState::kExpired);
  EXPECT_EQ(kube_.CheckToken(second.token), FakeKubeClient::TokenState::kValid);
  ASSERT_TRUE(kube_.Delete(Resource::kSecret, "ns", "bot-1", {}, kNoDeadline).ok());
  EXPECT_EQ(kube_.CheckToken(second.token), FakeKubeClient::TokenState::kRevoked);
  EXPECT_EQ(kube_.CheckToken(SecretString("never-issued")), FakeKubeClient::TokenState::kUnknown);
}

// TokenRequest validation: missing account, short lifetime, missing or replaced Secret; and the
// cluster's cap on lifetimes.
TEST_F(FakeKubeClientTest, TokenRequestValidation) {
  TokenRequestSpec spec;
  EXPECT_EQ(kube_.CreateToken("ns", "ghost", spec, kNoDeadline).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(kube_.Create(Resource::kServiceAccount, Meta("ns", "bot"), kNoDeadline).ok());
  spec.expiration = absl::Minutes(5);
  absl::StatusOr<IssuedToken> short_lived = kube_.CreateToken("ns", "bot", spec, kNoDeadline);
  EXPECT_EQ(short_lived.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(short_lived.status().message(), "less than 10 minutes"));
  spec.expiration = absl::Hours(1);
  spec.bound_secret_name = "absent";
  EXPECT_EQ(kube_.CreateToken("ns", "bot", spec, kNoDeadline).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(kube_.Create(Resource::kSecret, Meta("ns", "absent"), kNoDeadline).ok());
  spec.bound_secret_uid = "stale-uid";
  EXPECT_EQ(kube_.CreateToken("ns", "bot", spec, kNoDeadline).status().code(),
            absl::StatusCode::kAborted);

  kube_.SetMaxTokenExpiration(absl::Hours(2));
  spec.bound_secret_uid.clear();
  spec.expiration = absl::Hours(48);
  EXPECT_EQ(kube_.CreateToken("ns", "bot", spec, kNoDeadline)->expiration,
            clock_.Now() + absl::Hours(2));
}

// The token controller fills legacy token Secrets; deleting the ServiceAccount revokes and
// removes them.
TEST_F(FakeKubeClientTest, LegacyTokenSecret) {
  nlohmann::json sa = *kube_.Create(Resource::kServiceAccount, Meta("ns", "bot"), kNoDeadline);
  nlohmann::json secret = Meta("ns", "bot-token");
  secret["type"] = "kubernetes.io/service-account-token";
  secret["metadata"]["annotations"] = {{"kubernetes.io/service-account.name", "bot"}};
  nlohmann::json created = *kube_.Create(Resource::kSecret, secret, kNoDeadline);
  ASSERT_TRUE(created.contains("data"));
  std::string token;
  ASSERT_TRUE(absl::Base64Unescape(created["data"]["token"].get<std::string>(), &token));
  EXPECT_EQ(created["metadata"]["annotations"]["kubernetes.io/service-account.uid"],
            sa["metadata"]["uid"]);
  EXPECT_EQ(kube_.CheckToken(SecretString(token)), FakeKubeClient::TokenState::kValid);
  clock_.Advance(absl::Hours(24 * 365));
  EXPECT_EQ(kube_.CheckToken(SecretString(token)), FakeKubeClient::TokenState::kValid)
      << "legacy tokens do not expire";

  ASSERT_TRUE(kube_.Delete(Resource::kServiceAccount, "ns", "bot", {}, kNoDeadline).ok());
  EXPECT_EQ(kube_.CheckToken(SecretString(token)), FakeKubeClient::TokenState::kRevoked);
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "ns", "bot-token").has_value());

  kube_.SetFillLegacyTokenSecrets(false);
  ASSERT_TRUE(kube_.Create(Resource::kServiceAccount, Meta("ns", "bot"), kNoDeadline).ok());
  nlohmann::json unfilled = *kube_.Create(Resource::kSecret, secret, kNoDeadline);
  EXPECT_FALSE(unfilled.contains("data"));
}

// Deleting a namespace takes its objects along and revokes their tokens.
TEST_F(FakeKubeClientTest, NamespaceDeletionCascades) {
  ASSERT_TRUE(kube_.Create(Resource::kServiceAccount, Meta("ns", "bot"), kNoDeadline).ok());
  ASSERT_TRUE(kube_.Create(Resource::kClusterRole, Meta("", "kept"), kNoDeadline).ok());
  IssuedToken token = *kube_.CreateToken("ns", "bot", TokenRequestSpec{}, kNoDeadline);
  ASSERT_TRUE(kube_.Delete(Resource::kNamespace, "", "ns", {}, kNoDeadline).ok());
  EXPECT_EQ(kube_.ObjectCount(Resource::kServiceAccount), 0u);
  EXPECT_EQ(kube_.ObjectCount(Resource::kClusterRole), 1u);
  EXPECT_EQ(kube_.CheckToken(token.token), FakeKubeClient::TokenState::kRevoked);
}

// Injected failures hit the chosen verb and kind the chosen number of times, and change nothing
// unless asked to fail after applying.
TEST_F(FakeKubeClientTest, ErrorInjection) {
  kube_.FailNext(Verb::kCreate, Resource::kRoleBinding, 2, absl::UnavailableError("injected"));
  EXPECT_TRUE(kube_.Create(Resource::kRole, Meta("ns", "r"), kNoDeadline).ok())
      << "another kind is not affected";
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(kube_.Create(Resource::kRoleBinding, Meta("ns", "rb"), kNoDeadline).status().code(),
              absl::StatusCode::kUnavailable);
  }
  EXPECT_FALSE(kube_.Peek(Resource::kRoleBinding, "ns", "rb").has_value());
  EXPECT_TRUE(kube_.Create(Resource::kRoleBinding, Meta("ns", "rb"), kNoDeadline).ok());
  EXPECT_EQ(kube_.CallCount(Verb::kCreate, Resource::kRoleBinding), 3);

  kube_.FailNextAfterApplying(Verb::kDelete, std::nullopt, 1,
                              absl::DeadlineExceededError("answer lost"));
  EXPECT_EQ(kube_.Delete(Resource::kRoleBinding, "ns", "rb", {}, kNoDeadline).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(kube_.Peek(Resource::kRoleBinding, "ns", "rb").has_value()) << "it was applied";
  EXPECT_EQ(kube_.Delete(Resource::kRoleBinding, "ns", "rb", {}, kNoDeadline).code(),
            absl::StatusCode::kNotFound);

  kube_.FailNext(Verb::kServerVersion, std::nullopt, 1, absl::UnavailableError("down"));
  EXPECT_FALSE(kube_.GetServerVersion(kNoDeadline).ok());
  EXPECT_EQ(kube_.GetServerVersion(kNoDeadline)->git_version, "v1.31.0");

  kube_.FailNext(Verb::kGet, std::nullopt, 5, absl::UnavailableError("down"));
  kube_.ClearFailures();
  EXPECT_TRUE(kube_.Get(Resource::kRole, "ns", "r", kNoDeadline).ok());
  EXPECT_FALSE(kube_.Calls().empty());
}

}  // namespace
}  // namespace kcred::kube
