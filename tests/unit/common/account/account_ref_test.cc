// Shows that account references and durations parse as users write them, with messages that name
// the input and show a correct form, and that durations survive the trip through protobuf.
#include "common/account/account_ref.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace kcred {
namespace {

std::string ErrorOf(const absl::Status& s) { return std::string(s.message()); }

// A well-formed reference splits into its three parts.
TEST(ParseAccountRef, SplitsThreeParts) {
  auto ref = ParseAccountRef("dev/automation/ci-bot");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->cluster(), "dev");
  EXPECT_EQ(ref->namespace_(), "automation");
  EXPECT_EQ(ref->name(), "ci-bot");
  EXPECT_EQ(FormatAccountRef(*ref), "dev/automation/ci-bot");
}

// Anything but three non-empty parts is rejected with the expected form and an example.
TEST(ParseAccountRef, RejectsWrongShapes) {
  for (const char* bad : {"", "dev", "dev/automation", "dev//ci-bot", "/a/b", "a/b/", "a/b/c/d"}) {
    auto ref = ParseAccountRef(bad);
    ASSERT_FALSE(ref.ok()) << bad;
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ErrorOf(ref.status()),
              absl::StrCat("account \"", bad,
                           "\" is not CLUSTER/NAMESPACE/NAME (three non-empty parts separated by "
                           "\"/\"), e.g. dev/automation/ci-bot"));
  }
}

// Namespace and name follow the Kubernetes name rules.
TEST(ParseAccountRef, RejectsInvalidKubernetesNames) {
  EXPECT_EQ(ErrorOf(ParseAccountRef("dev/Automation/ci-bot").status()),
            "account \"dev/Automation/ci-bot\": namespace \"Automation\" is not a valid DNS-1123 "
            "label: it must consist of lower case alphanumeric characters or '-' (e.g. "
            "\"my-name\" or \"123-abc\")");
  EXPECT_EQ(ErrorOf(ParseAccountRef("dev/automation/ci_bot").status()),
            "account \"dev/automation/ci_bot\": name \"ci_bot\" is not a valid DNS-1123 "
            "subdomain: it must consist of lower case alphanumeric characters, '-' or '.', and "
            "each dot-separated part must consist of lower case alphanumeric characters or '-' "
            "(e.g. \"example.com\" or \"my-name\")");
}

// Durations take Go/kubectl units and must not be negative.
TEST(DurationArg, ParseAndFormat) {
  auto d = ParseDurationArg("1h30m", "--ttl");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, absl::Minutes(90));
  EXPECT_EQ(*ParseDurationArg("0s", "--grace"), absl::ZeroDuration());
  EXPECT_EQ(ErrorOf(ParseDurationArg("soon", "--ttl").status()),
            "--ttl \"soon\" is not a duration; write a number with a unit, e.g. 90s, 30m, 1h30m");
  EXPECT_EQ(ErrorOf(ParseDurationArg("5", "--ttl").status()),
            "--ttl \"5\" is not a duration; write a number with a unit, e.g. 90s, 30m, 1h30m");
  EXPECT_EQ(ErrorOf(ParseDurationArg("-5m", "--grace").status()),
            "--grace \"-5m\" is negative; give a duration of 0s or more");

  EXPECT_EQ(FormatDurationArg(absl::Minutes(90)), "1h30m");
  EXPECT_EQ(FormatDurationArg(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatDurationArg(absl::Seconds(45)), "45s");
  EXPECT_EQ(FormatDurationArg(absl::Hours(2) + absl::Seconds(5)), "2h5s");
  EXPECT_EQ(FormatDurationArg(absl::Hours(48)), "48h");
  EXPECT_EQ(FormatDurationArg(absl::Milliseconds(1500)), "1.5s");
}

// Durations survive the trip through google.protobuf.Duration.
TEST(DurationArg, ProtoRoundTrip) {
  const absl::Duration d = absl::Seconds(3601) + absl::Milliseconds(250);
  google::protobuf::Duration p = ToProtoDuration(d);
  EXPECT_EQ(p.seconds(), 3601);
  EXPECT_EQ(p.nanos(), 250000000);
  EXPECT_EQ(FromProtoDuration(p), d);
}

// Negative durations print with a sign; sub-second parts keep their precision.
TEST(DurationArg, FormatsNegativeAndFractionalDurations) {
  EXPECT_EQ(FormatDurationArg(-absl::Minutes(5)), "-5m");
  EXPECT_EQ(FormatDurationArg(absl::Milliseconds(250)), "250ms");
  EXPECT_EQ(*ParseDurationArg(FormatDurationArg(absl::Hours(25) + absl::Seconds(1)), "x"),
            absl::Hours(25) + absl::Seconds(1));
  EXPECT_EQ(ErrorOf(ParseDurationArg("inf", "--ttl").status()),
            "--ttl \"inf\" is not a duration; write a number with a unit, e.g. 90s, 30m, 1h30m");
}

// The cluster part is not validated here (kcredd checks it against its config); it is kept as is.
TEST(ParseAccountRef, KeepsTheClusterAsWritten) {
  auto ref = ParseAccountRef("Prod_EU/ci/deployer");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->cluster(), "Prod_EU");
  EXPECT_EQ(FormatAccountRef(*ref), "Prod_EU/ci/deployer");
}

}  // namespace
}  // namespace kcred
