#include "devcluster/object_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/devcluster/api_server_fixture.h"

namespace kcred::devcluster {
namespace {

using testing::kAdminToken;

class ObjectHandlerTest : public testing::ApiServerFixture {};

// Default namespaces exist and cannot be deleted; others delete with their contents.
TEST_F(ObjectHandlerTest, NamespacesLifecycle) {
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

// PUT needs the current resourceVersion; merge and JSON patches apply to the stored object.
TEST_F(ObjectHandlerTest, UpdateAndPatch) {
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

// ?dryRun=All runs every check and stores nothing.
TEST_F(ObjectHandlerTest, DryRunStoresNothing) {
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

// Bad label selectors are 400 "unable to parse requirement: ..."; bad field selectors name it.
TEST_F(ObjectHandlerTest, BadSelectorsAreBadRequests) {
  httplib::Response labels = Call("GET", "/api/v1/namespaces?labelSelector=a=b,,c");
  EXPECT_EQ(labels.status, 400);
  EXPECT_THAT(Json(labels)["message"].get<std::string>(),
              ::testing::StartsWith(
                  "unable to parse requirement: label selector \"a=b,,c\": empty requirement"));
  httplib::Response fields =
      Call("GET", "/api/v1/namespaces/default/secrets?fieldSelector=spec.x=1");
  EXPECT_EQ(fields.status, 400);
  EXPECT_EQ(Json(fields)["message"], "field label not supported: spec.x");
}

// Lists page with limit and continue; deletecollection deletes what its selector picks.
TEST_F(ObjectHandlerTest, ListPagesAndDeleteCollection) {
  CreateAccount("team", "a");
  for (const char* name : {"b", "c"}) {
    ASSERT_EQ(Call("POST", "/api/v1/namespaces/team/serviceaccounts",
                   nlohmann::json{{"metadata", {{"name", name}, {"labels", {{"x", "1"}}}}}}.dump())
                  .status,
              201);
  }
  const std::string sas = "/api/v1/namespaces/team/serviceaccounts";
  nlohmann::json first = Json(Call("GET", sas + "?limit=2"));
  ASSERT_EQ(first["items"].size(), 2u);
  EXPECT_EQ(first["items"][1]["metadata"]["name"], "b");
  const std::string next = first["metadata"]["continue"].get<std::string>();
  nlohmann::json second = Json(Call("GET", sas + "?limit=2&continue=" + next));
  ASSERT_EQ(second["items"].size(), 1u);
  EXPECT_EQ(second["items"][0]["metadata"]["name"], "c");
  EXPECT_FALSE(second["metadata"].contains("continue"));
  EXPECT_EQ(Call("GET", sas + "?limit=x").status, 400);

  httplib::Response deleted = Call("DELETE", sas + "?labelSelector=x=1");
  EXPECT_EQ(deleted.status, 200);
  EXPECT_EQ(Json(deleted)["status"], "Success");
  nlohmann::json left = Json(Call("GET", sas));
  ASSERT_EQ(left["items"].size(), 1u);
  EXPECT_EQ(left["items"][0]["metadata"]["name"], "a");
  EXPECT_EQ(left["kind"], "ServiceAccountList");
}

// A delete with a uid precondition fails with 409 when the object was replaced meanwhile.
TEST_F(ObjectHandlerTest, DeletePreconditionUid) {
  CreateAccount("team", "bot");
  httplib::Response stale = Call("DELETE", "/api/v1/namespaces/team/serviceaccounts/bot",
                                 R"({"preconditions":{"uid":"not-the-uid"}})");
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(Json(stale)["reason"], "Conflict");
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team/serviceaccounts/bot").status, 200);
}

}  // namespace
}  // namespace kcred::devcluster
