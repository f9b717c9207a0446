#include "devcluster/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "devcluster/api_error.h"
#include "tests/unit/devcluster/api_server_fixture.h"

namespace kcred::devcluster {
namespace {

class AdmissionTest : public testing::ApiServerFixture {};

// Bindings are validated, and their roleRef cannot change.
TEST_F(AdmissionTest, RbacValidation) {
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

// RBAC escalation prevention on every write path: create, PUT and each PATCH kind, after the
// request's own authorization; the refusal is kube-apiserver's 403 (or 404 for a missing role).
TEST_F(AdmissionTest, RbacWritesCannotEscalate) {
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

// Secrets default to type Opaque with stringData merged into data, and their type is immutable.
TEST_F(AdmissionTest, SecretDefaultsAndImmutableType) {
  httplib::Response created = Call("POST", "/api/v1/namespaces/default/secrets",
                                   R"({"metadata":{"name":"s"},"stringData":{"k":"v"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  nlohmann::json secret = Json(created);
  EXPECT_EQ(secret["type"], "Opaque");
  EXPECT_EQ(secret["data"], nlohmann::json({{"k", "dg=="}}));
  EXPECT_FALSE(secret.contains("stringData"));
  secret["type"] = "kubernetes.io/tls";
  httplib::Response changed = Call("PUT", "/api/v1/namespaces/default/secrets/s", secret.dump());
  EXPECT_EQ(changed.status, 422);
  EXPECT_EQ(Json(changed)["message"],
            "Secret \"s\" is invalid: type: Invalid value: \"kubernetes.io/tls\": field is "
            "immutable");
}

// PrepareObject alone: namespace defaults, token Secret annotation, positive Lease duration.
TEST(PrepareObjectTest, DefaultsAndRequiredFields) {
  nlohmann::json ns = {{"metadata", {{"name", "team"}}}};
  ASSERT_TRUE(PrepareObject(*FindResource("", "namespaces"), ns, nullptr).ok());
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team");
  EXPECT_EQ(ns["spec"]["finalizers"], nlohmann::json({"kubernetes"}));
  EXPECT_EQ(ns["status"]["phase"], "Active");

  nlohmann::json token_secret = {{"metadata", {{"name", "t"}}},
                                 {"type", "kubernetes.io/service-account-token"}};
  absl::Status no_account = PrepareObject(*FindResource("", "secrets"), token_secret, nullptr);
  EXPECT_EQ(HttpStatusCode(no_account), 422);
  EXPECT_THAT(std::string(no_account.message()),
              ::testing::HasSubstr("metadata.annotations[kubernetes.io/service-account.name]"));

  nlohmann::json lease = {{"metadata", {{"name", "l"}}}, {"spec", {{"leaseDurationSeconds", 0}}}};
  absl::Status zero = PrepareObject(*FindResource("coordination.k8s.io", "leases"), lease, nullptr);
  EXPECT_EQ(HttpStatusCode(zero), 422);
  EXPECT_THAT(std::string(zero.message()), ::testing::HasSubstr("must be greater than 0"));

  nlohmann::json wrong_kind = {{"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}};
  EXPECT_EQ(HttpStatusCode(PrepareObject(*FindResource("", "secrets"), wrong_kind, nullptr)), 400);
}

}  // namespace
}  // namespace kcred::devcluster
