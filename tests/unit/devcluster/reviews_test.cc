#include "devcluster/reviews.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/devcluster/api_server_fixture.h"

namespace kcred::devcluster {
namespace {

using ::testing::HasSubstr;
using testing::kAdminToken;

class ReviewsTest : public testing::ApiServerFixture {
 protected:
  httplib::Response Review(const std::string& path, const nlohmann::json& spec) {
    return Call("POST", path, nlohmann::json{{"spec", spec}}.dump());
  }
  static constexpr char kTokenReviews[] = "/apis/authentication.k8s.io/v1/tokenreviews";
  static constexpr char kAccessReviews[] = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
};

// TokenReview authenticates tokens for the audiences asked; a failure is a status, not an error.
TEST_F(ReviewsTest, TokenReview) {
  CreateAccount("team", "bot");
  const std::string token = IssueToken("team", "bot");

  httplib::Response account = Review(kTokenReviews, {{"token", token}});
  ASSERT_EQ(account.status, 201) << account.body;
  nlohmann::json status = Json(account)["status"];
  EXPECT_EQ(status["authenticated"], true);
  EXPECT_EQ(status["user"]["username"], "system:serviceaccount:team:bot");
  EXPECT_EQ(status["audiences"], nlohmann::json({"https://issuer.test"}));
  EXPECT_EQ(Json(account)["kind"], "TokenReview");
  EXPECT_EQ(Json(account)["spec"]["token"], token);

  nlohmann::json admin = Json(Review(kTokenReviews, {{"token", kAdminToken}}))["status"];
  EXPECT_EQ(admin["authenticated"], true);
  EXPECT_EQ(admin["user"],
            nlohmann::json({{"username", "kcred:admin"},
                            {"groups", {"system:masters", "system:authenticated"}}}));

  nlohmann::json elsewhere = Json(
      Review(kTokenReviews, {{"token", token}, {"audiences", {"https://elsewhere"}}}))["status"];
  EXPECT_EQ(elsewhere["authenticated"], false);
  EXPECT_FALSE(elsewhere["error"].get<std::string>().empty());
  EXPECT_EQ(Json(Review(kTokenReviews, {{"token", "garbage"}}))["status"]["authenticated"], false);

  httplib::Response empty = Review(kTokenReviews, nlohmann::json::object());
  EXPECT_EQ(empty.status, 422);
  EXPECT_THAT(Json(empty)["message"].get<std::string>(),
              HasSubstr("spec.token: Required value: token must not be empty"));
}

// SubjectAccessReview decides for the user and groups named, and needs a subject and attributes.
TEST_F(ReviewsTest, SubjectAccessReview) {
  const nlohmann::json read_secrets = {
      {"namespace", "team"}, {"verb", "get"}, {"resource", "secrets"}};
  httplib::Response masters = Review(
      kAccessReviews,
      {{"user", "alice"}, {"groups", {"system:masters"}}, {"resourceAttributes", read_secrets}});
  ASSERT_EQ(masters.status, 201) << masters.body;
  EXPECT_EQ(Json(masters)["status"]["allowed"], true);
  EXPECT_EQ(
      Json(Review(kAccessReviews,
                  {{"user", "bob"}, {"resourceAttributes", read_secrets}}))["status"]["allowed"],
      false);
  EXPECT_EQ(Json(Review(kAccessReviews,
                        {{"user", "bob"},
                         {"nonResourceAttributes",
                          {{"path", "/version"}, {"verb", "get"}}}}))["status"]["allowed"],
            false);  // bob is not even authenticated: only the groups given count

  httplib::Response nobody = Review(kAccessReviews, {{"resourceAttributes", read_secrets}});
  EXPECT_EQ(nobody.status, 422);
  EXPECT_THAT(Json(nobody)["message"].get<std::string>(),
              HasSubstr("at least one of user or group must be specified"));
  httplib::Response nothing = Review(kAccessReviews, {{"user", "bob"}});
  EXPECT_EQ(nothing.status, 422);
  EXPECT_THAT(Json(nothing)["message"].get<std::string>(),
              HasSubstr("exactly one of nonResourceAttributes or resourceAttributes"));
  EXPECT_EQ(Call("GET", kAccessReviews).status, 405);
}

// LocalSubjectAccessReview stays in its namespace and asks about resources only.
TEST_F(ReviewsTest, LocalSubjectAccessReview) {
  const std::string local =
      "/apis/authorization.k8s.io/v1/namespaces/team/localsubjectaccessreviews";
  httplib::Response answer = Review(
      local,
      {{"user", "bob"},
       {"resourceAttributes", {{"namespace", "team"}, {"verb", "get"}, {"resource", "pods"}}}});
  ASSERT_EQ(answer.status, 201) << answer.body;
  EXPECT_EQ(Json(answer)["metadata"]["namespace"], "team");
  EXPECT_EQ(Json(answer)["status"]["allowed"], false);

  httplib::Response other = Review(
      local,
      {{"user", "bob"},
       {"resourceAttributes", {{"namespace", "other"}, {"verb", "get"}, {"resource", "pods"}}}});
  EXPECT_EQ(other.status, 422);
  EXPECT_THAT(Json(other)["message"].get<std::string>(),
              HasSubstr("spec.resourceAttributes.namespace: Invalid value: \"other\": must match "
                        "metadata.namespace"));
  httplib::Response non_resource =
      Review(local, {{"user", "bob"}, {"nonResourceAttributes", {{"path", "/version"}}}});
  EXPECT_EQ(non_resource.status, 422);
}

// SelfSubjectAccessReview and SelfSubjectReview answer for the caller.
TEST_F(ReviewsTest, SelfReviews) {
  CreateAccount("team", "bot");
  const std::string token = IssueToken("team", "bot");
  httplib::Response can_i = Call(
      "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
      R"({"spec":{"resourceAttributes":{"namespace":"team","verb":"list","resource":"pods"}}})",
      token);
  ASSERT_EQ(can_i.status, 201) << can_i.body;
  EXPECT_EQ(Json(can_i)["status"]["allowed"], false);
  nlohmann::json whoami =
      Json(Call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "{}", token));
  EXPECT_EQ(whoami["status"]["userInfo"]["username"], "system:serviceaccount:team:bot");
  EXPECT_FALSE(whoami.contains("spec"));
}

// UserInfoToJson leaves out an empty uid and extra, as Kubernetes' JSON does.
TEST(UserInfoToJsonTest, OmitsEmptyFields) {
  UserInfo user;
  user.username = "u";
  user.groups = {"g"};
  EXPECT_EQ(UserInfoToJson(user), nlohmann::json({{"username", "u"}, {"groups", {"g"}}}));
  user.uid = "1";
  user.extra["k"] = {"v"};
  EXPECT_EQ(UserInfoToJson(user)["uid"], "1");
  EXPECT_EQ(UserInfoToJson(user)["extra"], nlohmann::json({{"k", {"v"}}}));
}

}  // namespace
}  // namespace kcred::devcluster
