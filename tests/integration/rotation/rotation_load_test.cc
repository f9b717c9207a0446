// Zero-downtime rotation under load, the short form of bench/rotation-load: the same driver
// (kcred-rotation-load) with 10 accounts, each with a client re-reading the file of `kcred watch`
// and one using the `kcred token` exec plugin as client-go does, plus sampled real kubectl,
// through 100 rotations of 10s tokens. Any request rejected as Unauthorized fails it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/support/kcred_env.h"

namespace kcred::testing {
namespace {

using ::testing::HasSubstr;

// The counter `name: N` of the driver's report, or -1 when it is missing.
long long Counter(const std::string& report, const std::string& name) {
  const size_t at = report.find("\n" + name + ": ");
  if (at == std::string::npos) return -1;
  const size_t from = at + name.size() + 3;
  long long value = -1;
  if (!absl::SimpleAtoi(report.substr(from, report.find_first_of(" \n", from) - from), &value)) {
    return -1;
  }
  return value;
}

// 100 rotations with a 6s grace while 20 clients call the cluster without pause: no request is
// rejected as Unauthorized, every client succeeds, and both kinds of client moved to new tokens.
TEST(RotationLoad, NoRequestIsUnauthorizedThroughAHundredRotations) {
  KcredEnv env;
  env.StartCluster();
  env.WriteConfig("  qps: 200\n  burst: 400\n");
  env.StartKcredd();
  const RunResult run = kcred::testing::Run({BinaryPath("kcred-rotation-load"),
                                             "--server",
                                             "unix:" + env.socket(),
                                             "--kcred",
                                             BinaryPath("kcred"),
                                             "--work_dir",
                                             env.File("load"),
                                             "--accounts",
                                             "10",
                                             "--rotations",
                                             "100",
                                             "--ttl",
                                             "10s",
                                             "--rotate_at",
                                             "0.4",
                                             "--grace",
                                             "6s",
                                             "--pause",
                                             "50ms",
                                             "--timeout",
                                             "150s"},
                                            {}, std::chrono::seconds(200));
  const std::string report = absl::StrCat("\n", run.out);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(report, HasSubstr("result: PASS"));
  EXPECT_EQ(Counter(report, "unauthorized (401)"), 0) << run.out;
  EXPECT_GE(Counter(report, "rotations"), 100) << run.out;
  EXPECT_GT(Counter(report, "requests"), 1000) << run.out;
  // Both kinds of client really followed the rotations: more file re-reads and plugin runs than
  // one per client.
  EXPECT_THAT(report, ::testing::ContainsRegex("file re-reads: [0-9]{3,}"));
  EXPECT_THAT(report, ::testing::ContainsRegex("exec plugin runs: [0-9]{3,}"));
}

}  // namespace
}  // namespace kcred::testing
