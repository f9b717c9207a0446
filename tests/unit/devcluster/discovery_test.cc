#include "devcluster/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "devcluster/api_error.h"
#include "tests/unit/devcluster/api_server_fixture.h"

namespace kcred::devcluster {
namespace {

// ServeNonResource on its own: no store, no user.
struct Answer {
  absl::Status status;
  int code = 0;
  nlohmann::json body;
  std::string raw;
};
Answer Serve(const std::string& method, const std::string& path) {
  httplib::Request http;
  http.method = method;
  http.path = path;
  httplib::Response response;
  ApiRequest request{http, response, {}, {}, 200, nullptr, false, false};
  Answer answer;
  answer.status = ServeNonResource(request, "127.0.0.1:6443");
  answer.code = request.raw ? response.status : request.status;
  answer.body = request.body;
  answer.raw = response.body;
  return answer;
}

class DiscoveryTest : public testing::ApiServerFixture {};

// /api names the address, /apis/<group> is an APIGroup, health is text "ok", writes are 405.
TEST(ServeNonResourceTest, VersionsGroupsAndHealth) {
  Answer api = Serve("GET", "/api");
  ASSERT_TRUE(api.status.ok()) << api.status;
  EXPECT_EQ(api.body["versions"], nlohmann::json({"v1"}));
  EXPECT_EQ(api.body["serverAddressByClientCIDRs"][0]["serverAddress"], "127.0.0.1:6443");
  Answer group = Serve("GET", "/apis/rbac.authorization.k8s.io/");
  EXPECT_EQ(group.body["kind"], "APIGroup");
  EXPECT_EQ(group.body["preferredVersion"]["groupVersion"], "rbac.authorization.k8s.io/v1");
  for (const char* health : {"/healthz", "/livez", "/readyz"}) {
    Answer ok = Serve("GET", health);
    EXPECT_EQ(ok.code, 200) << health;
    EXPECT_EQ(ok.raw, "ok") << health;
  }
  EXPECT_EQ(HttpStatusCode(Serve("POST", "/version").status), 405);
  EXPECT_EQ(HttpStatusCode(Serve("GET", "/metrics").status), 404);
}

// OpenAPI v3 lists each group-version with the PATCH fieldValidation kubectl looks for.
TEST(ServeNonResourceTest, OpenApiV3ForFieldValidation) {
  Answer index = Serve("GET", "/openapi/v3");
  ASSERT_TRUE(index.status.ok()) << index.status;
  EXPECT_EQ(index.body["paths"]["api/v1"]["serverRelativeURL"], "/openapi/v3/api/v1");
  EXPECT_TRUE(index.body["paths"].contains("apis/rbac.authorization.k8s.io/v1"));

  Answer rbac = Serve("GET", "/openapi/v3/apis/rbac.authorization.k8s.io/v1");
  ASSERT_TRUE(rbac.status.ok()) << rbac.status;
  const nlohmann::json& patch =
      rbac.body["paths"]["/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/{name}"]
               ["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "Role");
  bool field_validation = false;
  for (const nlohmann::json& p : patch["parameters"])
    field_validation |= p["name"] == "fieldValidation";
  EXPECT_TRUE(field_validation);
  EXPECT_TRUE(
      rbac.body["paths"].contains("/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"));
  EXPECT_EQ(HttpStatusCode(Serve("GET", "/openapi/v3/apis/apps/v1").status), 404);
}

// Legacy discovery lists the served resources, including the token subresource.
TEST_F(DiscoveryTest, Discovery) {
  nlohmann::json core = Json(Call("GET", "/api/v1"));
  bool has_token = false;
  for (const nlohmann::json& r : core["resources"])
    has_token |= r["name"] == "serviceaccounts/token";
  EXPECT_TRUE(has_token);
  nlohmann::json groups = Json(Call("GET", "/apis"));
  EXPECT_EQ(groups["kind"], "APIGroupList");
  EXPECT_EQ(groups["groups"].size(), 4u);
  EXPECT_EQ(Json(Call("GET", "/apis/coordination.k8s.io/v1"))["resources"][0]["name"], "leases");
  EXPECT_EQ(Call("GET", "/apis/apps/v1").status, 404);
  EXPECT_EQ(Json(Call("GET", "/version"))["minor"], "32");
}

}  // namespace
}  // namespace kcred::devcluster
