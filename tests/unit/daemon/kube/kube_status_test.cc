#include "daemon/kube/kube_status.h"

#include "absl/strings/str_cat.h"
#include "daemon/kube/resource.h"
#include "gtest/gtest.h"

namespace kcred::kube {
namespace {

absl::Status Map(int code, absl::string_view reason, absl::string_view message) {
  return StatusFromResponse(code, MakeStatusBody(code, reason, message).dump(), "POST",
                            "/api/v1/namespaces/ns/serviceaccounts");
}

// Each Kubernetes Status maps to its absl code and keeps the server's message and the request.
TEST(KubeStatusTest, MapsCodesAndKeepsMessage) {
  struct Case {
    int http;
    const char* reason;
    absl::StatusCode code;
  } cases[] = {
      {404, "NotFound", absl::StatusCode::kNotFound},
      {409, "AlreadyExists", absl::StatusCode::kAlreadyExists},
      {409, "Conflict", absl::StatusCode::kAborted},
      {410, "Expired", absl::StatusCode::kAborted},
      {422, "Invalid", absl::StatusCode::kInvalidArgument},
      {400, "BadRequest", absl::StatusCode::kInvalidArgument},
      {403, "Forbidden", absl::StatusCode::kPermissionDenied},
      {401, "Unauthorized", absl::StatusCode::kUnauthenticated},
      {429, "TooManyRequests", absl::StatusCode::kResourceExhausted},
      {500, "InternalError", absl::StatusCode::kUnavailable},
      {503, "ServiceUnavailable", absl::StatusCode::kUnavailable},
      {504, "Timeout", absl::StatusCode::kDeadlineExceeded},
  };
  for (const Case& c : cases) {
    absl::Status status = Map(c.http, c.reason, "the server's words");
    EXPECT_EQ(status.code(), c.code) << c.http << " " << c.reason;
    EXPECT_EQ(status.message(),
              absl::StrCat("POST /api/v1/namespaces/ns/serviceaccounts: the server's words (HTTP ",
                           c.http, " ", c.reason, ")"));
    EXPECT_EQ(KubeReason(status), c.reason);
  }
}

// AlreadyExists and Conflict share HTTP 409 but stay distinguishable.
TEST(KubeStatusTest, AlreadyExistsAndConflictDiffer) {
  absl::Status exists = Map(409, "AlreadyExists", "serviceaccounts \"x\" already exists");
  absl::Status conflict = Map(409, "Conflict", "Operation cannot be fulfilled");
  EXPECT_TRUE(absl::IsAlreadyExists(exists));
  EXPECT_TRUE(absl::IsAborted(conflict));
  EXPECT_EQ(KubeReason(exists), "AlreadyExists");
  EXPECT_EQ(KubeReason(conflict), "Conflict");
}

// A body that is not a Status (a proxy's page) still gives a useful, bounded message.
TEST(KubeStatusTest, NonStatusBody) {
  std::string page = "<html>" + std::string(1000, 'x') + "</html>";
  absl::Status status = StatusFromResponse(502, page, "GET", "/version");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("<html>xxx"), absl::string_view::npos);
  EXPECT_LT(status.message().size(), 300u);
  EXPECT_FALSE(KubeReason(status).has_value());
  absl::Status empty = StatusFromResponse(404, "", "GET", "/api/v1/namespaces/x");
  EXPECT_EQ(empty.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(empty.message().find("GET /api/v1/namespaces/x"), absl::string_view::npos);
}

// A JSON error body whose "kind" is not a string (nlohmann's value() threw on it) is mapped like
// any other body: the code from the HTTP status, an excerpt as the message.
TEST(KubeStatusTest, KindOfAnotherTypeIsNotAStatus) {
  absl::Status status =
      StatusFromResponse(404, R"({"kind":7,"reason":"Gone"})", "GET", "/api/v1/namespaces/x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find(R"({"kind":7)"), absl::string_view::npos);
  EXPECT_EQ(KubeReason(status), "NotFound");
}

// A Status body's details.retryAfterSeconds gives the wait; without it, or if not JSON, none.
TEST(KubeStatusTest, RetryAfterFromStatusBody) {
  nlohmann::json body = MakeStatusBody(429, "TooManyRequests", "slow down");
  EXPECT_FALSE(RetryAfterFromStatusBody(body.dump()).has_value());
  body["details"] = {{"retryAfterSeconds", 7}};
  EXPECT_EQ(RetryAfterFromStatusBody(body.dump()), absl::Seconds(7));
  EXPECT_FALSE(RetryAfterFromStatusBody("not json").has_value());
}

// Paths are built in one place, with the right group, version and scope.
TEST(ResourceTest, Paths) {
  EXPECT_EQ(*ObjectPath(Resource::kServiceAccount, "ns", "sa"),
            "/api/v1/namespaces/ns/serviceaccounts/sa");
  EXPECT_EQ(*ObjectPath(Resource::kNamespace, "", "ns"), "/api/v1/namespaces/ns");
  EXPECT_EQ(*ObjectPath(Resource::kRole, "ns", "r"),
            "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/r");
  EXPECT_EQ(*ObjectPath(Resource::kClusterRoleBinding, "", "system:x"),
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system%3Ax");
  EXPECT_EQ(*CollectionPath(Resource::kSecret, ""), "/api/v1/secrets");
  EXPECT_EQ(*CollectionPath(Resource::kRoleBinding, "ns"),
            "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/rolebindings");
  EXPECT_EQ(ObjectPath(Resource::kSecret, "", "s").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ObjectPath(Resource::kClusterRole, "ns", "c").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ObjectPath(Resource::kRole, "ns", "..").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApiVersion(Resource::kRole), "rbac.authorization.k8s.io/v1");
  EXPECT_EQ(QualifiedPlural(Resource::kRole), "roles.rbac.authorization.k8s.io");
  EXPECT_EQ(QualifiedPlural(Resource::kSecret), "secrets");
}

// Kubernetes times are written in whole UTC seconds and read with or without a UTC offset; a
// non-time is refused.
TEST(ResourceTest, KubeTime) {
  absl::Time t = absl::FromUnixSeconds(1735693200);
  EXPECT_EQ(FormatKubeTime(t + absl::Milliseconds(700)), "2025-01-01T01:00:00Z");
  EXPECT_EQ(*ParseKubeTime("2025-01-01T01:00:00Z"), t);
  EXPECT_EQ(*ParseKubeTime("2025-01-01T02:00:00+01:00"), t);
  EXPECT_FALSE(ParseKubeTime("yesterday").ok());
}

}  // namespace
}  // namespace kcred::kube
