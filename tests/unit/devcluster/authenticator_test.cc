#include "devcluster/authenticator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "devcluster/api_error.h"
#include "tests/unit/devcluster/api_server_fixture.h"

namespace kcred::devcluster {
namespace {

class AuthenticatorTest : public testing::ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    config_.admin_token = kcred::SecretString("the-admin-token");
    config_.api_audiences = {"https://issuer.test"};
    authenticator_.emplace(config_, *tokens_, store_, clock_, kcred::Logger("authn-test"));
  }

  absl::StatusOr<UserInfo> WithHeader(const std::string& value) {
    httplib::Request request;
    if (!value.empty()) request.headers.emplace("Authorization", value);
    return authenticator_->AuthenticateRequest(request);
  }

  ApiServerConfig config_;
  std::optional<Authenticator> authenticator_;
};

// The admin token is the cluster admin, however the scheme is capitalised and spaced.
TEST_F(AuthenticatorTest, AdminToken) {
  for (const char* header :
       {"Bearer the-admin-token", "bearer the-admin-token ", "BEARER  the-admin-token"}) {
    absl::StatusOr<UserInfo> admin = WithHeader(header);
    ASSERT_TRUE(admin.ok()) << header << ": " << admin.status();
    EXPECT_EQ(admin->username, "kcred:admin");
    EXPECT_THAT(admin->groups, ::testing::Contains("system:masters"));
  }
}

// Anything but a valid bearer token is Kubernetes' bare 401 Unauthorized.
TEST_F(AuthenticatorTest, EverythingElseIsUnauthorized) {
  for (const char* header : {"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer the-admin",
                             "Bearer the-admin-token-and-more"}) {
    absl::StatusOr<UserInfo> user = WithHeader(header);
    ASSERT_FALSE(user.ok()) << header;
    EXPECT_EQ(HttpStatusCode(user.status()), 401) << header;
    EXPECT_EQ(user.status().message(), "Unauthorized");
  }
}

// Account tokens authenticate for the server's audiences; a review may ask for other audiences.
TEST_F(AuthenticatorTest, ServiceAccountTokensAndAudiences) {
  CreateAccount("team", "bot");
  const std::string token = IssueToken("team", "bot");
  absl::StatusOr<UserInfo> user = WithHeader("Bearer " + token);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->username, "system:serviceaccount:team:bot");

  absl::StatusOr<UserInfo> elsewhere = authenticator_->AuthenticateToken(token, {"https://x"});
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(elsewhere.status()));
  EXPECT_NE(elsewhere.status().message(), "Unauthorized");
  EXPECT_TRUE(authenticator_->AuthenticateToken(token, {"https://issuer.test"}).ok());
}

}  // namespace
}  // namespace kcred::devcluster
