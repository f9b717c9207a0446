// kcred-kill-test: the full kill test (tests/support/kill_test.h) with its parameters as flags;
// bench/kill-test runs it. Prints the report; exits non-zero when a promise breaks.
//   kcred-kill-test --accounts 1000 --kills 100 --ttl 20s --grace 5s --duration 4m
#include <gtest/gtest.h>

#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "tests/support/kcred_env.h"
#include "tests/support/kill_test.h"

ABSL_FLAG(int, accounts, 1000, "accounts provisioned through the API and kept rotating");
ABSL_FLAG(int, kills, 100, "kill -9 restarts of kcredd");
ABSL_FLAG(absl::Duration, ttl, absl::Seconds(20), "token lifetime");
ABSL_FLAG(double, rotate_fraction, 0.8,
          "rotate at this fraction of the lifetime (0.8: kcredd's default)");
ABSL_FLAG(absl::Duration, grace, absl::Seconds(5), "how long a previous token stays valid");
ABSL_FLAG(absl::Duration, duration, absl::Minutes(4),
          "the span over which the kills after provisioning are spread");
ABSL_FLAG(absl::Duration, lag_bound, absl::Seconds(5),
          "the largest revocation lag allowed after the last restart");
ABSL_FLAG(uint32_t, seed, 42, "seed of the random kill moments");
ABSL_FLAG(int, pollers, 2, "clients polling GetToken/GetKubeconfig throughout");

namespace {

class KillBench : public ::testing::Test {
 public:
  explicit KillBench(kcred::testing::KillTestOptions options) : options_(options) {}
  void TestBody() override {
    kcred::testing::KcredEnv env;
    const kcred::testing::KillTestReport report = kcred::testing::RunKillTest(env, options_);
    std::cout << report.Format() << std::flush;
    EXPECT_EQ(report.kills, options_.kills) << "the run stopped early";
    for (const std::string& promise : report.Broken()) ADD_FAILURE() << "broken: " << promise;
  }

 private:
  kcred::testing::KillTestOptions options_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  absl::SetProgramUsageMessage(
      "the kill test: kcredd killed with SIGKILL and restarted while accounts rotate; see "
      "tests/support/kill_test.h.\n  kcred-kill-test [--accounts 1000] [--kills 100] [--ttl 20s] "
      "[--grace 5s] [--duration 4m] [--lag_bound 5s]");
  absl::ParseCommandLine(argc, argv);
  kcred::testing::KillTestOptions options;
  options.accounts = absl::GetFlag(FLAGS_accounts);
  options.kills = absl::GetFlag(FLAGS_kills);
  options.ttl = absl::GetFlag(FLAGS_ttl);
  options.rotate_fraction = absl::GetFlag(FLAGS_rotate_fraction);
  options.grace = absl::GetFlag(FLAGS_grace);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.lag_bound = absl::GetFlag(FLAGS_lag_bound);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.pollers = absl::GetFlag(FLAGS_pollers);
  if (options.accounts < 1 || options.kills < 1 || options.pollers < 1 ||
      options.ttl < absl::Seconds(10) || options.grace < absl::ZeroDuration() ||
      options.duration <= absl::ZeroDuration()) {
    std::cerr << "kcred-kill-test: --accounts, --kills and --pollers must be at least 1, --ttl at "
                 "least 10s (kcred-devcluster's minimum), --grace not negative and --duration "
                 "positive\n";
    return 2;
  }
  ::testing::RegisterTest("KillTest", "Bench", nullptr, nullptr, __FILE__, __LINE__,
                          [options]() -> ::testing::Test* { return new KillBench(options); });
  return RUN_ALL_TESTS();
}
