#include "devcluster/api_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/devcluster/api_server_fixture.h"

namespace kcred::devcluster {
namespace {

using testing::kAdminToken;

class ApiServerTest : public testing::ApiServerFixture {};

// Without a valid bearer token every request is 401 with the bare message "Unauthorized".
TEST_F(ApiServerTest, UnauthenticatedRequestsAre401) {
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    httplib::Response res = Call("GET", "/api/v1/namespaces", "", token);
    EXPECT_EQ(res.status, 401);
    EXPECT_EQ(Json(res)["message"], "Unauthorized");
    EXPECT_EQ(Json(res)["reason"], "Unauthorized");
  }
}

// An account's token is checked by RBAC on every request, with Kubernetes' Forbidden message,
// and stops working once it expires (plus the allowed skew).
TEST_F(ApiServerTest, ServiceAccountTokenIsAuthorizedAndExpires) {
  CreateAccount("team", "bot");
  std::string token = IssueToken("team", "bot", 600);
  httplib::Response denied = Call("GET", "/api/v1/namespaces/team/secrets", "", token);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(Json(denied)["message"],
            "secrets is forbidden: User \"system:serviceaccount:team:bot\" cannot list resource "
            "\"secrets\" in API group \"\" in the namespace \"team\"");
  ASSERT_EQ(
      Call(
          "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles",
          R"({"metadata":{"name":"r"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["list"]}]})")
          .status,
      201);
  ASSERT_EQ(
      Call(
          "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings",
          R"({"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r"},
                     "subjects":[{"kind":"ServiceAccount","name":"bot","namespace":"team"}]})")
          .status,
      201);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team/secrets", "", token).status, 200);

  httplib::Response review = Call(
      "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
      R"({"spec":{"resourceAttributes":{"namespace":"team","verb":"delete","resource":"secrets"}}})",
      token);
  EXPECT_EQ(review.status, 201);
  EXPECT_EQ(Json(review)["status"]["allowed"], false);
  httplib::Response whoami =
      Call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "{}", token);
  EXPECT_EQ(Json(whoami)["status"]["userInfo"]["username"], "system:serviceaccount:team:bot");

  // Expiry allows kube-apiserver's one minute of clock skew.
  clock_.Advance(absl::Seconds(600 + 61));
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team/secrets", "", token).status, 401);
}

// Bodies of the wrong shape are 400s, not crashes.
TEST_F(ApiServerTest, MalformedBodiesAreBadRequests) {
  EXPECT_EQ(Call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"x"},"spec":"oops"})").status,
            400);
  EXPECT_EQ(Call("POST", "/api/v1/namespaces/default/secrets", "not json").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/namespaces/default/secrets",
                 R"({"metadata":{"name":"s"},"data":{"k":"%%%"}})")
                .status,
            400);
  EXPECT_EQ(
      Call("POST", "/api/v1/namespaces/default/secrets", "<x/>", kAdminToken, "application/xml")
          .status,
      415);
}

// Injected 503s carry Retry-After; only the admin may change faults.
TEST_F(ApiServerTest, FaultsEndpoint) {
  CreateAccount("team", "bot");
  std::string token = IssueToken("team", "bot");
  EXPECT_EQ(Call("PUT", "/kcred-dev/faults", R"({"errorRate":1})", token).status, 403);
  ASSERT_EQ(Call("PUT", "/kcred-dev/faults",
                 R"({"errorRate":1,"errorCode":503,"retryAfterSeconds":4,"verbs":["list"]})")
                .status,
            200);
  httplib::Response failed = Call("GET", "/api/v1/namespaces");
  EXPECT_EQ(failed.status, 503);
  EXPECT_EQ(failed.get_header_value("Retry-After"), "4");
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/default").status, 200);
  EXPECT_EQ(Call("DELETE", "/kcred-dev/faults").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces").status, 200);
}

// RBAC comes before routing to a handler: an account gets 403 even for kinds not served here.
TEST_F(ApiServerTest, AuthorizationBeforeNotFound) {
  CreateAccount("team", "bot");
  const std::string token = IssueToken("team", "bot");
  const std::string deployments = "/apis/apps/v1/namespaces/team/deployments";
  EXPECT_EQ(Call("GET", deployments, "", token).status, 403);
  EXPECT_EQ(Call("GET", deployments).status, 404);
  EXPECT_EQ(Json(Call("GET", deployments))["message"],
            "the server could not find the requested resource");
}

}  // namespace
}  // namespace kcred::devcluster
