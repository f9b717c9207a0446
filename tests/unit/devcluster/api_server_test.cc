#include "devcluster/api_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "devcluster/auth/tokens.h"
#include "tests/support/simulated_clock.h"

namespace kcred::devcluster {
namespace {

using kcred::testing::SimulatedClock;

constexpr char kAdminToken[] = "admin-token-for-tests";

// The API server driven in-process: requests are cpp-httplib objects, no sockets.
class ApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::string> pem = TokenSigner::GenerateKeyPem();
    ASSERT_TRUE(pem.ok());
    key_pem_ = new std::string(*pem);
  }

  void SetUp() override {
    absl::StatusOr<TokenSigner> signer = TokenSigner::FromPem(*key_pem_);
    ASSERT_TRUE(signer.ok());
    signer_.emplace(*std::move(signer));
    tokens_ = std::make_unique<ServiceAccountTokens>(*signer_, "https://issuer.test");
    Restart(absl::Seconds(600), absl::ZeroDuration());
  }

  void Restart(absl::Duration min_expiration, absl::Duration max_expiration) {
    ApiServerConfig config;
    config.admin_token = kcred::SecretString(kAdminToken);
    config.ca_pem = "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n";
    config.min_token_expiration = min_expiration;
    config.max_token_expiration = max_expiration;
    api_ = std::make_unique<ApiServer>(config, store_, *tokens_, faults_, clock_,
                                       kcred::Logger("devcluster-test"));
    ASSERT_TRUE(api_->Bootstrap().ok());
  }

  httplib::Response Call(const std::string& method, const std::string& path,
                         const std::string& body = "", const std::string& token = kAdminToken,
                         const std::string& content_type = "application/json") {
    httplib::Request req;
    req.method = method;
    size_t q = path.find('?');
    req.path = path.substr(0, q);
    if (q != std::string::npos) {
      for (absl::string_view kv : absl::StrSplit(path.substr(q + 1), '&')) {
        size_t eq = kv.find('=');
        req.params.emplace(std::string(kv.substr(0, eq)),
                           eq == absl::string_view::npos ? "" : std::string(kv.substr(eq + 1)));
      }
    }
    if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
    req.headers.emplace("Content-Type", content_type);
    req.body = body;
    httplib::Response res;
    api_->Handle(req, res);
    return res;
  }

  static nlohmann::json Json(const httplib::Response& res) {
    return nlohmann::json::parse(res.body, nullptr, false);
  }

  // Creates namespace `ns` and ServiceAccount `name` in it.
  void CreateAccount(const std::string& ns, const std::string& name) {
    Call("POST", "/api/v1/namespaces", nlohmann::json{{"metadata", {{"name", ns}}}}.dump());
    ASSERT_EQ(Call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts",
                   nlohmann::json{{"metadata", {{"name", name}}}}.dump())
                  .status,
              201);
  }

  std::string IssueToken(const std::string& ns, const std::string& name, int64_t seconds = 3600) {
    httplib::Response res =
        Call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name + "/token",
             nlohmann::json{{"spec", {{"expirationSeconds", seconds}}}}.dump());
    EXPECT_EQ(res.status, 201) << res.body;
    return Json(res)["status"]["token"].get<std::string>();
  }

  static std::string* key_pem_;
  // kInstant: injected latency sleeps on the server's handler threads, which nobody else wakes.
  SimulatedClock clock_{SimulatedClock::SleepMode::kInstant};
  ObjectStore store_{clock_};
  FaultInjector faults_;
  std::optional<TokenSigner> signer_;
  std::unique_ptr<ServiceAccountTokens> tokens_;
  std::unique_ptr<ApiServer> api_;
};
std::string* ApiServerTest::key_pem_ = nullptr;

// Without a valid bearer token every request is 401 with the bare message "Unauthorized".
TEST_F(ApiServerTest, UnauthenticatedRequestsAre401) {
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    httplib::Response res = Call("GET", "/api/v1/namespaces", "", token);
    EXPECT_EQ(res.status, 401);
    EXPECT_EQ(Json(res)["message"], "Unauthorized");
    EXPECT_EQ(Json(res)["reason"], "Unauthorized");
  }
}

// Legacy discovery lists the served resources, including the token subresource.
TEST_F(ApiServerTest, Discovery) {
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

// Default namespaces exist and cannot be deleted; others delete with their contents.
TEST_F(ApiServerTest, NamespacesLifecycle) {
  EXPECT_EQ(Json(Call("GET", "/api/v1/namespaces"))["items"].size(), 3u);
  EXPECT_EQ(
      Json(
          Call("GET",
               "/api/v1/namespaces?labelSelector=kubernetes.io/metadata.name=kube-system"))["items"]
          .size(),
      1u);
  httplib::Response forbidden = Call("DELETE", "/api/v1/namespaces/default");
  EXPECT_EQ(forbidden.status, 403);
  CreateAccount("team", "bot");
  EXPECT_EQ(Call("DELETE", "/api/v1/namespaces/team").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team/serviceaccounts/bot").status, 404);
}

// TokenRequest: defaults, the minimum with its exact message, the cap, and bound Secrets.
TEST_F(ApiServerTest, TokenRequestRules) {
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

// Bindings are validated, and their roleRef cannot change.
TEST_F(ApiServerTest, RbacValidation) {
  httplib::Response bad = Call(
      "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
      R"({"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r"}})");
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(Json(bad)["message"],
            "ClusterRoleBinding.rbac.authorization.k8s.io \"b\" is invalid: roleRef.kind: "
            "Invalid value: \"Role\": supported values: \"ClusterRole\"");
  httplib::Response no_verbs =
      Call("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
           R"({"metadata":{"name":"c"},"rules":[{"resources":["pods"]}]})");
  EXPECT_EQ(no_verbs.status, 422);
}

// PUT needs the current resourceVersion; merge and JSON patches apply to the stored object.
TEST_F(ApiServerTest, UpdateAndPatch) {
  CreateAccount("team", "bot");
  nlohmann::json sa = Json(Call("GET", "/api/v1/namespaces/team/serviceaccounts/bot"));
  sa["metadata"]["labels"] = {{"a", "1"}};
  EXPECT_EQ(Call("PUT", "/api/v1/namespaces/team/serviceaccounts/bot", sa.dump()).status, 200);
  EXPECT_EQ(Call("PUT", "/api/v1/namespaces/team/serviceaccounts/bot", sa.dump()).status, 409);
  httplib::Response merged =
      Call("PATCH", "/api/v1/namespaces/team/serviceaccounts/bot",
           R"({"metadata":{"labels":{"b":"2"}}})", kAdminToken, "application/merge-patch+json");
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(Json(merged)["metadata"]["labels"], nlohmann::json({{"a", "1"}, {"b", "2"}}));
  httplib::Response json_patch = Call("PATCH", "/api/v1/namespaces/team/serviceaccounts/bot",
                                      R"([{"op":"remove","path":"/metadata/labels/a"}])",
                                      kAdminToken, "application/json-patch+json");
  EXPECT_EQ(Json(json_patch)["metadata"]["labels"], nlohmann::json({{"b", "2"}}));
  EXPECT_EQ(Call("PATCH", "/api/v1/namespaces/team/serviceaccounts/bot", "{}", kAdminToken,
                 "application/apply-patch+yaml")
                .status,
            415);
}

// RBAC escalation prevention on every write path: create, PUT and each PATCH kind, after the
// request's own authorization; the refusal is kube-apiserver's 403 (or 404 for a missing role).
TEST_F(ApiServerTest, RbacWritesCannotEscalate) {
  const std::string rbac = "/apis/rbac.authorization.k8s.io/v1";
  CreateAccount("team", "deployer");
  ASSERT_EQ(Call("POST", rbac + "/clusterroles",
                 R"({"metadata":{"name":"role-writer"},"rules":[
                     {"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles","rolebindings"],
                      "verbs":["create","update","patch","get"]},
                     {"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]})")
                .status,
            201);
  ASSERT_EQ(
      Call("POST", rbac + "/namespaces/team/rolebindings",
           R"({"metadata":{"name":"deployer"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io",
                     "kind":"ClusterRole","name":"role-writer"},
                     "subjects":[{"kind":"ServiceAccount","name":"deployer"}]})")
          .status,
      201);
  const std::string token = IssueToken("team", "deployer");
  const std::string roles = rbac + "/namespaces/team/roles";
  const std::string pods_rule = R"({"apiGroups":[""],"resources":["pods"],"verbs":["get"]})";
  const std::string secrets_rule = R"({"apiGroups":[""],"resources":["secrets"],"verbs":["get"]})";

  httplib::Response created =
      Call("POST", roles, R"({"metadata":{"name":"r"},"rules":[)" + pods_rule + "]}", token);
  ASSERT_EQ(created.status, 201) << created.body;
  httplib::Response refused =
      Call("POST", roles, R"({"metadata":{"name":"x"},"rules":[)" + secrets_rule + "]}", token);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(Json(refused)["reason"], "Forbidden");
  EXPECT_EQ(Json(refused)["message"],
            "roles.rbac.authorization.k8s.io \"x\" is forbidden: user "
            "\"system:serviceaccount:team:deployer\" (groups=[\"system:serviceaccounts\" "
            "\"system:serviceaccounts:team\" \"system:authenticated\"]) is attempting to grant "
            "RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], "
            "Verbs:[\"get\"]}");
  EXPECT_EQ(
      Json(refused)["details"],
      nlohmann::json({{"name", "x"}, {"group", "rbac.authorization.k8s.io"}, {"kind", "roles"}}));
  EXPECT_EQ(Call("GET", roles + "/x").status, 404);

  nlohmann::json wider = Json(created);
  wider["rules"].push_back(nlohmann::json::parse(secrets_rule));
  EXPECT_EQ(Call("PUT", roles + "/r", wider.dump(), token).status, 403);
  EXPECT_EQ(Call("PATCH", roles + "/r", R"({"rules":[)" + secrets_rule + "]}", token,
                 "application/merge-patch+json")
                .status,
            403);
  EXPECT_EQ(Call("PATCH", roles + "/r",
                 R"([{"op":"add","path":"/rules/-","value":)" + secrets_rule + "}]", token,
                 "application/json-patch+json")
                .status,
            403);
  EXPECT_EQ(Call("PATCH", roles + "/r", R"({"rules":[)" + secrets_rule + "]}", token,
                 "application/strategic-merge-patch+json")
                .status,
            403);
  httplib::Response labelled = Call("PATCH", roles + "/r", R"({"metadata":{"labels":{"a":"b"}}})",
                                    token, "application/merge-patch+json");
  EXPECT_EQ(labelled.status, 200) << labelled.body;
  EXPECT_EQ(Json(Call("GET", roles + "/r"))["rules"].size(), 1u);

  // The request's own authorization comes first, with its own message.
  httplib::Response cluster =
      Call("POST", rbac + "/clusterroles",
           R"({"metadata":{"name":"c"},"rules":[)" + pods_rule + "]}", token);
  EXPECT_EQ(cluster.status, 403);
  EXPECT_THAT(Json(cluster)["message"].get<std::string>(),
              ::testing::HasSubstr("cannot create resource \"clusterroles\""));
  // A binding to a role that does not exist is that role's 404.
  httplib::Response dangling =
      Call("POST", rbac + "/namespaces/team/rolebindings",
           R"({"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io",
          "kind":"ClusterRole","name":"gone"},"subjects":[{"kind":"User","name":"u"}]})",
           token);
  EXPECT_EQ(dangling.status, 404);
  EXPECT_EQ(Json(dangling)["message"], "clusterroles.rbac.authorization.k8s.io \"gone\" not found");
}

// The token controller fills legacy token Secrets, and deleting the account deletes them.
TEST_F(ApiServerTest, LegacyTokenController) {
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

// ?dryRun=All runs every check and stores nothing.
TEST_F(ApiServerTest, DryRunStoresNothing) {
  CreateAccount("team", "bot");
  EXPECT_EQ(Call("POST", "/api/v1/namespaces/team/serviceaccounts?dryRun=All",
                 R"({"metadata":{"name":"dry"}})")
                .status,
            201);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team/serviceaccounts/dry").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/namespaces/team/serviceaccounts?dryRun=All",
                 R"({"metadata":{"name":"bot"}})")
                .status,
            409);
  EXPECT_EQ(Call("DELETE", "/api/v1/namespaces/team/serviceaccounts/bot?dryRun=All").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team/serviceaccounts/bot").status, 200);
  EXPECT_EQ(Call("DELETE", "/api/v1/namespaces/team/serviceaccounts/bot?dryRun=Some").status, 400);
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

}  // namespace
}  // namespace kcred::devcluster
