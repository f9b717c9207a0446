#include "devcluster/token_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "tests/unit/devcluster/api_server_fixture.h"

namespace kcred::devcluster {
namespace {

class TokenRequestTest : public testing::ApiServerFixture {};

// TokenRequest: defaults, the minimum with its exact message, the cap, and bound Secrets.
TEST_F(TokenRequestTest, TokenRequestRules) {
  CreateAccount("team", "bot");
  httplib::Response defaulted =
      Call("POST", "/api/v1/namespaces/team/serviceaccounts/bot/token", "{}");
  ASSERT_EQ(defaulted.status, 201) << defaulted.body;
  EXPECT_EQ(Json(defaulted)["spec"]["expirationSeconds"], 3600);
  EXPECT_EQ(Json(defaulted)["spec"]["audiences"], nlohmann::json({"https://issuer.test"}));
  EXPECT_EQ(Json(defaulted)["status"]["expirationTimestamp"], "2026-01-01T01:00:00Z");

  httplib::Response short_lived = Call("POST", "/api/v1/namespaces/team/serviceaccounts/bot/token",
                                       R"({"spec":{"expirationSeconds":60}})");
  EXPECT_EQ(short_lived.status, 422);
  EXPECT_EQ(Json(short_lived)["message"],
            "TokenRequest.authentication.k8s.io \"bot\" is invalid: spec.expirationSeconds: "
            "Invalid value: 60: may not specify a duration less than 10 minutes");

  EXPECT_EQ(
      Json(Call("POST", "/api/v1/namespaces/team/serviceaccounts/ghost/token", "{}"))["message"],
      "serviceaccounts \"ghost\" not found");

  httplib::Response unbound =
      Call("POST", "/api/v1/namespaces/team/serviceaccounts/bot/token",
           R"({"spec":{"boundObjectRef":{"kind":"Secret","apiVersion":"v1","name":"anchor"}}})");
  EXPECT_EQ(unbound.status, 404);
  ASSERT_EQ(
      Call("POST", "/api/v1/namespaces/team/secrets", R"({"metadata":{"name":"anchor"}})").status,
      201);
  httplib::Response mismatch = Call(
      "POST", "/api/v1/namespaces/team/serviceaccounts/bot/token",
      R"({"spec":{"boundObjectRef":{"kind":"Secret","apiVersion":"v1","name":"anchor","uid":"other"}}})");
  EXPECT_EQ(mismatch.status, 409);
  EXPECT_EQ(Json(mismatch)["reason"], "Conflict");

  Restart(absl::Seconds(5), absl::Hours(2));
  httplib::Response lowered = Call("POST", "/api/v1/namespaces/team/serviceaccounts/bot/token",
                                   R"({"spec":{"expirationSeconds":5}})");
  EXPECT_EQ(lowered.status, 201) << lowered.body;
  httplib::Response capped = Call("POST", "/api/v1/namespaces/team/serviceaccounts/bot/token",
                                  R"({"spec":{"expirationSeconds":86400}})");
  EXPECT_EQ(Json(capped)["spec"]["expirationSeconds"], 7200);
  EXPECT_NE(capped.get_header_value("Warning").find("shortened to 7200 seconds"),
            std::string::npos);
}

// The token controller fills legacy token Secrets, and deleting the account deletes them.
TEST_F(TokenRequestTest, LegacyTokenController) {
  CreateAccount("team", "bot");
  httplib::Response created = Call(
      "POST", "/api/v1/namespaces/team/secrets",
      R"({"metadata":{"name":"bot-token","annotations":{"kubernetes.io/service-account.name":"bot"}},
          "type":"kubernetes.io/service-account-token"})");
  ASSERT_EQ(created.status, 201);
  nlohmann::json secret = Json(Call("GET", "/api/v1/namespaces/team/secrets/bot-token"));
  std::string token;
  ASSERT_TRUE(absl::Base64Unescape(secret["data"]["token"].get<std::string>(), &token));
  EXPECT_EQ(secret["data"]["namespace"], "dGVhbQ==");
  httplib::Response whoami =
      Call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "{}", token);
  EXPECT_EQ(Json(whoami)["status"]["userInfo"]["username"], "system:serviceaccount:team:bot");
  EXPECT_EQ(Call("DELETE", "/api/v1/namespaces/team/serviceaccounts/bot").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team/secrets/bot-token").status, 404);
  EXPECT_EQ(Call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "{}", token).status,
            401);
}

}  // namespace
}  // namespace kcred::devcluster
