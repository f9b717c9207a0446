#include "devcluster/api_error.h"

#include <gtest/gtest.h>

namespace kcred::devcluster {
namespace {

// Errors carry the code kcredd reads: Conflict and Expired (410) Aborted, AlreadyExists apart.
TEST(ApiErrorTest, CodesMatchWhatClientsRead) {
  const ResourceInfo& secrets = *FindResource("", "secrets");
  absl::Status conflict = ConflictError(secrets, "s", "the object has been modified");
  EXPECT_TRUE(absl::IsAborted(conflict));
  EXPECT_EQ(HttpStatusCode(conflict), 409);
  EXPECT_EQ(StatusObject(conflict)["reason"], "Conflict");

  absl::Status exists = AlreadyExistsError(secrets, "s");
  EXPECT_TRUE(absl::IsAlreadyExists(exists));
  EXPECT_EQ(HttpStatusCode(exists), 409);

  absl::Status gone = GoneError("too old resource version: 1 (5)");
  EXPECT_TRUE(absl::IsAborted(gone));
  EXPECT_EQ(HttpStatusCode(gone), 410);
  EXPECT_EQ(StatusObject(gone)["reason"], "Expired");
  EXPECT_EQ(StatusObject(gone)["code"], 410);
}

// A plain absl status (not made by the functions of api_error.h) still answers as Kubernetes would.
TEST(ApiErrorTest, PlainStatusesMapByCode) {
  nlohmann::json object = StatusObject(absl::AbortedError("changed meanwhile"));
  EXPECT_EQ(object["code"], 409);
  EXPECT_EQ(object["reason"], "Conflict");
  EXPECT_EQ(object["message"], "changed meanwhile");
  EXPECT_EQ(HttpStatusCode(absl::NotFoundError("x")), 404);
  EXPECT_EQ(HttpStatusCode(absl::InternalError("x")), 500);
  EXPECT_EQ(StatusObject(absl::InternalError("x"))["reason"], "InternalError");
  EXPECT_EQ(HttpStatusCode(absl::OkStatus()), 200);
}

}  // namespace
}  // namespace kcred::devcluster
