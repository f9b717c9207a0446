#include "common/http_status.h"

#include <gtest/gtest.h>

namespace kcred {
namespace {

// Each HTTP status and Kubernetes reason maps to the absl code the header promises.
TEST(HttpStatusTest, HttpToStatusCode) {
  struct Case {
    int http;
    const char* reason;
    absl::StatusCode code;
  } cases[] = {
      {400, "BadRequest", absl::StatusCode::kInvalidArgument},
      {422, "Invalid", absl::StatusCode::kInvalidArgument},
      {401, "Unauthorized", absl::StatusCode::kUnauthenticated},
      {403, "Forbidden", absl::StatusCode::kPermissionDenied},
      {404, "NotFound", absl::StatusCode::kNotFound},
      {405, "MethodNotAllowed", absl::StatusCode::kUnimplemented},
      {415, "UnsupportedMediaType", absl::StatusCode::kUnimplemented},
      {409, "AlreadyExists", absl::StatusCode::kAlreadyExists},
      {409, "Conflict", absl::StatusCode::kAborted},
      {409, "", absl::StatusCode::kAborted},
      {429, "TooManyRequests", absl::StatusCode::kResourceExhausted},
      {500, "InternalError", absl::StatusCode::kUnavailable},
      {502, "", absl::StatusCode::kUnavailable},
      {503, "ServiceUnavailable", absl::StatusCode::kUnavailable},
      {504, "", absl::StatusCode::kDeadlineExceeded},
      {500, "Timeout", absl::StatusCode::kDeadlineExceeded},
      {418, "", absl::StatusCode::kFailedPrecondition},
      {302, "", absl::StatusCode::kUnknown},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(StatusCodeForHttp(c.http, c.reason), c.code) << c.http << " " << c.reason;
  }
}

// 410 from a watch or a continue token means "resync": Aborted whatever the reason.
TEST(HttpStatusTest, GoneIsAbortedForResync) {
  EXPECT_EQ(StatusCodeForHttp(410, "Expired"), absl::StatusCode::kAborted);
  EXPECT_EQ(StatusCodeForHttp(410, "Gone"), absl::StatusCode::kAborted);
  EXPECT_EQ(StatusCodeForHttp(410), absl::StatusCode::kAborted);
  EXPECT_EQ(DefaultKubeReason(410), "Gone");
}

// Codes with no HTTP status get Kubernetes' status and reason, and map back where one to one.
TEST(HttpStatusTest, StatusCodeToHttpRoundTrips) {
  for (absl::StatusCode code :
       {absl::StatusCode::kNotFound, absl::StatusCode::kAlreadyExists, absl::StatusCode::kAborted,
        absl::StatusCode::kInvalidArgument, absl::StatusCode::kUnauthenticated,
        absl::StatusCode::kPermissionDenied, absl::StatusCode::kUnimplemented,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kUnavailable,
        absl::StatusCode::kDeadlineExceeded}) {
    HttpError error = HttpErrorForStatusCode(code);
    EXPECT_EQ(StatusCodeForHttp(error.status, error.reason), code) << code;
    if (code != absl::StatusCode::kAlreadyExists) {
      EXPECT_EQ(DefaultKubeReason(error.status), error.reason) << code;
    }
  }
  EXPECT_EQ(HttpErrorForStatusCode(absl::StatusCode::kAborted).reason, "Conflict");
  EXPECT_EQ(HttpErrorForStatusCode(absl::StatusCode::kFailedPrecondition).status, 400);
  EXPECT_EQ(HttpErrorForStatusCode(absl::StatusCode::kOutOfRange).status, 400);
  EXPECT_EQ(HttpErrorForStatusCode(absl::StatusCode::kInternal).status, 500);
  EXPECT_EQ(HttpErrorForStatusCode(absl::StatusCode::kInternal).reason, "InternalError");
  EXPECT_EQ(HttpErrorForStatusCode(absl::StatusCode::kUnknown).status, 500);
}

// The Status body has the fields Go clients decode.
TEST(HttpStatusTest, KubeStatusBody) {
  EXPECT_EQ(KubeStatusBody(404, "NotFound", "x not found"),
            nlohmann::json({{"kind", "Status"},
                            {"apiVersion", "v1"},
                            {"metadata", nlohmann::json::object()},
                            {"status", "Failure"},
                            {"message", "x not found"},
                            {"reason", "NotFound"},
                            {"code", 404}}));
  EXPECT_EQ(DefaultKubeReason(299), "");
}

}  // namespace
}  // namespace kcred
