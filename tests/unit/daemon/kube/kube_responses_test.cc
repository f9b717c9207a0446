// Shows that the decoding of an API server's 2xx answers takes what kcredd needs and turns any
// other shape into an error or an empty value, without an exception.
#include "daemon/kube/kube_responses.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kcred::kube {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// A body that is not a JSON object is INTERNAL, naming the request and the size, not the text.
TEST(KubeResponsesTest, BodyMustBeAJsonObject) {
  for (const char* body : {"", "[1]", "\"token-like\"", "{"}) {
    absl::StatusOr<json> parsed = ParseResponseObject(body, "GET", "/version");
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(parsed.status().message(), HasSubstr("GET /version: the response ("));
    EXPECT_THAT(parsed.status().message(), ::testing::Not(HasSubstr("token-like")));
  }
  EXPECT_TRUE(ParseResponseObject("{\"kind\":\"Status\"}", "GET", "/version").ok());
}

// A list page yields its items and continue token; items or metadata of another type (which
// nlohmann's value() would throw on) give an empty page and no continue token.
TEST(KubeResponsesTest, ListPage) {
  json page = json::parse(R"({"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}],
                             "metadata":{"continue":"next"}})");
  ListPage decoded = DecodeListPage(page);
  ASSERT_EQ(decoded.items.size(), 2u);
  EXPECT_EQ(decoded.items[1]["metadata"]["name"], "b");
  EXPECT_EQ(decoded.continue_token, "next");
  for (const char* odd : {R"({"items":{"a":1},"metadata":{"continue":5}})",
                          R"({"items":"x","metadata":[1]})", R"({"metadata":null})"}) {
    json body = json::parse(odd);
    ListPage empty = DecodeListPage(body);
    EXPECT_TRUE(empty.items.empty()) << odd;
    EXPECT_EQ(empty.continue_token, "") << odd;
  }
}

// A TokenRequest answer gives the token, its expiry and the audiences, and the token is wiped
// from the parsed answer; a missing or mistyped token or time is INTERNAL naming the path.
TEST(KubeResponsesTest, TokenRequestAnswer) {
  json answer = json::parse(R"({"spec":{"audiences":["a",7,"b"]},
      "status":{"token":"t0ken","expirationTimestamp":"2026-12-03T18:00:00Z"}})");
  absl::StatusOr<IssuedToken> issued = DecodeTokenRequestAnswer(answer, "/x/token");
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->token.Reveal(), "t0ken");
  EXPECT_EQ(issued->expiration, absl::FromUnixSeconds(1796320800));
  EXPECT_THAT(issued->audiences, ::testing::ElementsAre("a", "b"));
  EXPECT_NE(answer["status"]["token"], "t0ken");
  for (const char* bad :
       {R"({"status":{"token":1,"expirationTimestamp":"2026-12-03T18:00:00Z"}})",
        R"({"status":{"token":"t","expirationTimestamp":7}})", R"({"status":"t"})", R"([])",
        R"({"status":{"token":"","expirationTimestamp":"2026-12-03T18:00:00Z"}})"}) {
    json body = json::parse(bad);
    absl::StatusOr<IssuedToken> refused = DecodeTokenRequestAnswer(body, "/x/token");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().message(),
              "POST /x/token: the TokenRequest answer has no status.token or "
              "status.expirationTimestamp");
  }
  json late = json::parse(R"({"status":{"token":"t","expirationTimestamp":"tomorrow"}})");
  EXPECT_THAT(DecodeTokenRequestAnswer(late, "/x/token").status().message(),
              HasSubstr("POST /x/token: status.expirationTimestamp: "));
}

// /version needs a string gitVersion; other fields of another type are read as empty.
TEST(KubeResponsesTest, ServerVersion) {
  absl::StatusOr<ServerVersion> version =
      DecodeServerVersion(json::parse(R"({"major":1,"minor":"32","gitVersion":"v1.32.0"})"));
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->major, "");
  EXPECT_EQ(version->minor, "32");
  EXPECT_EQ(version->git_version, "v1.32.0");
  EXPECT_FALSE(DecodeServerVersion(json::parse(R"({"gitVersion":132})")).ok());
}

}  // namespace
}  // namespace kcred::kube
