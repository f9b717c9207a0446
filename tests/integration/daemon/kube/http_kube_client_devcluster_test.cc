// HttpKubeClient against a real kcred-devcluster process: TLS with the cluster CA, the admin
// kubeconfig as credential, every call kcredd's broker makes, and the error mapping of real
// Status answers.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/clock.h"
#include "daemon/kube/credential.h"
#include "daemon/kube/http_kube_client.h"
#include "daemon/kube/kube_status.h"
#include "tests/support/process.h"

namespace kcred::kube {
namespace {

using ::kcred::testing::Process;
using ::kcred::testing::ProcessOptions;
using ::kcred::testing::TempDir;

constexpr auto kStartTimeout = std::chrono::seconds(20);

class HttpKubeClientDevClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = tmp_.File("data");
    ProcessOptions options;
    options.argv = {kcred::testing::BinaryPath("kcred-devcluster"), "--listen=127.0.0.1:0",
                    "--data-dir=" + data_dir_, "--log-level=warn"};
    options.stdout_file = tmp_.File("devcluster.log");
    absl::StatusOr<std::unique_ptr<Process>> process = Process::Start(options);
    ASSERT_TRUE(process.ok()) << process.status();
    server_ = *std::move(process);
    absl::StatusOr<std::string> address =
        kcred::testing::WaitForFile(data_dir_ + "/address", kStartTimeout);
    ASSERT_TRUE(address.ok()) << address.status();

    absl::StatusOr<KubeconfigTarget> admin = LoadKubeconfig(data_dir_ + "/admin.kubeconfig", "");
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *admin;
    client_ = MakeClient(admin_.credential);
  }

  std::unique_ptr<HttpKubeClient> MakeClient(CredentialPtr credential) {
    HttpKubeClientOptions options;
    options.cluster_name = "dev";
    options.server = admin_.server;
    options.ca_pem = admin_.ca_pem;
    options.credential = std::move(credential);
    options.max_attempts = 2;
    absl::StatusOr<std::unique_ptr<HttpKubeClient>> client =
        HttpKubeClient::Create(options, clock_);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  absl::Time Deadline() { return absl::Now() + absl::Seconds(20); }

  static nlohmann::json Object(const std::string& ns, const std::string& name) {
    nlohmann::json meta{
        {"name", name},
        {"labels", {{"app.kubernetes.io/managed-by", "kcred"}, {"kcred.io/account", name}}}};
    if (!ns.empty()) meta["namespace"] = ns;
    return {{"metadata", meta}};
  }

  TempDir tmp_;
  std::string data_dir_;
  std::unique_ptr<Process> server_;
  KubeconfigTarget admin_;
  RealClock clock_;
  std::unique_ptr<HttpKubeClient> client_;
};

// The manual recipe through the client: namespace, ServiceAccount, Role, binding, anchor Secret,
// a bound token that authenticates, and revocation by deleting the anchor.
TEST_F(HttpKubeClientDevClusterTest, RecipeAndRevocation) {
  absl::StatusOr<ServerVersion> version = client_->GetServerVersion(Deadline());
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_TRUE(absl::StartsWith(version->git_version, "v1.")) << version->git_version;

  ASSERT_TRUE(client_->Create(Resource::kNamespace, Object("", "automation"), Deadline()).ok());
  ASSERT_TRUE(
      client_->Create(Resource::kServiceAccount, Object("automation", "ci-bot"), Deadline()).ok());
  nlohmann::json role = Object("automation", "ci-bot");
  role["rules"] = {{{"apiGroups", {""}}, {"resources", {"configmaps"}}, {"verbs", {"get"}}}};
  absl::StatusOr<nlohmann::json> created_role = client_->Create(Resource::kRole, role, Deadline());
  ASSERT_TRUE(created_role.ok()) << created_role.status();
  nlohmann::json binding = Object("automation", "ci-bot");
  binding["roleRef"] = {
      {"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "ci-bot"}};
  binding["subjects"] = {
      {{"kind", "ServiceAccount"}, {"name", "ci-bot"}, {"namespace", "automation"}}};
  ASSERT_TRUE(client_->Create(Resource::kRoleBinding, binding, Deadline()).ok());
  absl::StatusOr<nlohmann::json> anchor =
      client_->Create(Resource::kSecret, Object("automation", "ci-bot-anchor-1"), Deadline());
  ASSERT_TRUE(anchor.ok()) << anchor.status();

  TokenRequestSpec spec;
  spec.expiration = absl::Hours(1);
  spec.bound_secret_name = "ci-bot-anchor-1";
  spec.bound_secret_uid = (*anchor)["metadata"]["uid"];
  absl::StatusOr<IssuedToken> token =
      client_->CreateToken("automation", "ci-bot", spec, Deadline());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_GT(token->expiration, absl::Now() + absl::Minutes(50));

  // The new token authenticates: its missing permission gives 403, not 401.
  auto as_bot = MakeClient(MakeStaticTokenCredential(token->token));
  absl::StatusOr<nlohmann::json> forbidden =
      as_bot->Get(Resource::kSecret, "automation", "ci-bot-anchor-1", Deadline());
  EXPECT_EQ(forbidden.status().code(), absl::StatusCode::kPermissionDenied) << forbidden.status();

  // Deleting the anchor revokes the token at once.
  ASSERT_TRUE(client_
                  ->Delete(Resource::kSecret, "automation", "ci-bot-anchor-1",
                           {(*anchor)["metadata"]["uid"], ""}, Deadline())
                  .ok());
  absl::StatusOr<nlohmann::json> revoked =
      as_bot->Get(Resource::kSecret, "automation", "x", Deadline());
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated) << revoked.status();
  EXPECT_FALSE(absl::StrContains(revoked.status().message(), token->token.Reveal()));
}

// Real Status answers map to the documented codes; lists filter by label.
TEST_F(HttpKubeClientDevClusterTest, ErrorsAndLists) {
  ASSERT_TRUE(client_->Create(Resource::kNamespace, Object("", "team-a"), Deadline()).ok());
  absl::StatusOr<nlohmann::json> role =
      client_->Create(Resource::kClusterRole, Object("", "kcred-a"), Deadline());
  ASSERT_TRUE(role.ok()) << role.status();

  absl::StatusOr<nlohmann::json> again =
      client_->Create(Resource::kClusterRole, Object("", "kcred-a"), Deadline());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_EQ(KubeReason(again.status()), "AlreadyExists");

  nlohmann::json updated = *role;
  updated["rules"] = {{{"apiGroups", {""}}, {"resources", {"pods"}}, {"verbs", {"list"}}}};
  ASSERT_TRUE(client_->Update(Resource::kClusterRole, updated, Deadline()).ok());
  absl::StatusOr<nlohmann::json> stale =
      client_->Update(Resource::kClusterRole, updated, Deadline());
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted) << stale.status();

  absl::StatusOr<nlohmann::json> missing =
      client_->Get(Resource::kServiceAccount, "team-a", "nobody", Deadline());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "\"nobody\" not found"))
      << missing.status();
  EXPECT_TRUE(absl::StrContains(missing.status().message(),
                                "GET /api/v1/namespaces/team-a/serviceaccounts/nobody"));

  absl::StatusOr<nlohmann::json> no_namespace =
      client_->Create(Resource::kServiceAccount, Object("absent", "sa"), Deadline());
  EXPECT_EQ(no_namespace.status().code(), absl::StatusCode::kNotFound) << no_namespace.status();

  ASSERT_TRUE(client_->Create(Resource::kSecret, Object("team-a", "one"), Deadline()).ok());
  ASSERT_TRUE(client_->Create(Resource::kSecret, Object("team-a", "two"), Deadline()).ok());
  absl::StatusOr<std::vector<nlohmann::json>> listed =
      client_->List(Resource::kSecret, "team-a",
                    "app.kubernetes.io/managed-by=kcred,kcred.io/account=two", Deadline());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0]["metadata"]["name"], "two");

  EXPECT_EQ(
      client_->Delete(Resource::kSecret, "team-a", "one", {"wrong-uid", ""}, Deadline()).code(),
      absl::StatusCode::kAborted);
  EXPECT_TRUE(client_->Delete(Resource::kSecret, "team-a", "one", {}, Deadline()).ok());
  EXPECT_EQ(client_->Delete(Resource::kSecret, "team-a", "one", {}, Deadline()).code(),
            absl::StatusCode::kNotFound);

  TokenRequestSpec short_lived;
  short_lived.expiration = absl::Minutes(1);
  ASSERT_TRUE(client_->Create(Resource::kServiceAccount, Object("team-a", "bot"), Deadline()).ok());
  EXPECT_EQ(client_->CreateToken("team-a", "bot", short_lived, Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kcred::kube
