// Shows the one ownership rule: the API can neither change, delete nor zero-grace-rotate a
// declared account, the configuration never touches an API account, and the schedule may rotate
// any account.
#include "daemon/broker/ownership.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kcred::broker {
namespace {

using ::testing::HasSubstr;

constexpr char kAccount[] = "dev/ci/bot";

// Each side may do anything to its own accounts.
TEST(OwnershipTest, OwnersMayChangeTheirOwn) {
  for (v1::Origin origin : {v1::ORIGIN_API, v1::ORIGIN_CONFIG}) {
    for (Change change : {Change::kProvision, Change::kRotate, Change::kDelete}) {
      EXPECT_TRUE(CheckOwnership(kAccount, origin, origin, change, absl::ZeroDuration()).ok());
    }
  }
}

// The API cannot change or delete a declared account, nor rotate it with zero grace.
TEST(OwnershipTest, ApiAndDeclaredAccounts) {
  absl::Status provision =
      CheckOwnership(kAccount, v1::ORIGIN_CONFIG, v1::ORIGIN_API, Change::kProvision);
  EXPECT_EQ(provision.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(provision.message(), HasSubstr("change it there"));
  absl::Status deleted =
      CheckOwnership(kAccount, v1::ORIGIN_CONFIG, v1::ORIGIN_API, Change::kDelete);
  EXPECT_EQ(deleted.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(deleted.message(), HasSubstr("accounts.prune"));
  absl::Status zero = CheckOwnership(kAccount, v1::ORIGIN_CONFIG, v1::ORIGIN_API, Change::kRotate,
                                     absl::ZeroDuration());
  EXPECT_EQ(zero.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(zero.message(), HasSubstr("grace above zero"));
  EXPECT_TRUE(CheckOwnership(kAccount, v1::ORIGIN_CONFIG, v1::ORIGIN_API, Change::kRotate,
                             absl::Seconds(30))
                  .ok());
}

// The configuration neither takes over nor prunes an API account.
TEST(OwnershipTest, ConfigurationAndApiAccounts) {
  EXPECT_EQ(CheckOwnership(kAccount, v1::ORIGIN_API, v1::ORIGIN_CONFIG, Change::kProvision).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckOwnership(kAccount, v1::ORIGIN_API, v1::ORIGIN_CONFIG, Change::kDelete).code(),
            absl::StatusCode::kFailedPrecondition);
}

// kcredd's schedule rotates any account, with any grace, and does nothing else.
TEST(OwnershipTest, ScheduleOnlyRotates) {
  for (v1::Origin owner : {v1::ORIGIN_API, v1::ORIGIN_CONFIG}) {
    EXPECT_TRUE(CheckOwnership(kAccount, owner, v1::ORIGIN_UNSPECIFIED, Change::kRotate,
                               absl::ZeroDuration())
                    .ok());
    EXPECT_FALSE(CheckOwnership(kAccount, owner, v1::ORIGIN_UNSPECIFIED, Change::kDelete).ok());
  }
}

}  // namespace
}  // namespace kcred::broker
