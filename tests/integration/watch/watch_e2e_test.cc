// WatchAccounts and `kcred watch` against real processes: kcred-devcluster, kcredd, kcred and
// kubectl. Needs kcredd to publish the broker's events (AccountEventHub wired in
// daemon/app/kcredd.cc).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/kcred_env.h"
#include "tests/support/process.h"

namespace kcred {
namespace {

using ::testing::HasSubstr;
using testing::Process;
using testing::ProcessOptions;
using testing::RunResult;

// Lines in `path` (0 when it does not exist yet).
size_t LineCount(const std::string& path) {
  auto text = testing::ReadFile(path);
  if (!text.ok()) return 0;
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  return lines.size();
}

// Waits until `path` (appended to by processes outside the test) has at least `n` lines.
bool AwaitLines(const std::string& path, size_t n, std::chrono::seconds timeout) {
  return testing::WaitForText(path, "\n", static_cast<int>(n), timeout);
}

class WatchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.StartCluster();
    // A grace period keeps the previous token valid a moment, as in production.
    env_.WriteConfig("  qps: 200\n  burst: 400\n", "defaults:\n  token:\n    grace: 2s\n");
    env_.StartKcredd();
  }

  // Starts `kcred watch REF -o FILE --exec CMD`; CMD appends a line to `runs` per change and
  // records the KCRED_KUBECONFIG it was given.
  std::unique_ptr<Process> StartWatch(const std::string& ref, const std::string& file,
                                      const std::string& runs, const std::string& log) {
    ProcessOptions options;
    options.argv = {testing::BinaryPath("kcred"),
                    "watch",
                    ref,
                    "-o",
                    file,
                    "--exec",
                    absl::StrCat("echo \"$KCRED_KUBECONFIG\" >> '", runs, "'")};
    options.env = {{"KCRED_SERVER", "unix:" + env_.socket()}, {"HOME", env_.dir()}};
    options.stdout_file = log;
    auto process = Process::Start(options);
    EXPECT_TRUE(process.ok()) << process.status().message();
    return process.ok() ? *std::move(process) : nullptr;
  }

  std::string Read(const std::string& path) {
    auto text = testing::ReadFile(path);
    return text.ok() ? *text : "<unreadable: " + std::string(text.status().message()) + ">";
  }

  testing::KcredEnv env_;
};

// kcred watch rewrites its file (0600) and runs --exec on each rotation, not on revocations, and
// exits 1 once the account is deleted.
TEST_F(WatchE2eTest, RewritesTheFileOnEachRotationAndRunsTheCommand) {
  env_.KcredOk(
      {"provision", "dev/automation/ci-bot", "--create-namespace", "--rule", "get,list:pods"});
  const std::string file = env_.File("watched.kubeconfig");
  const std::string runs = env_.File("runs");
  auto watch = StartWatch("dev/automation/ci-bot", file, runs, env_.File("watch.log"));
  ASSERT_NE(watch, nullptr);
  ASSERT_TRUE(AwaitLines(runs, 1, std::chrono::seconds(30))) << Read(env_.File("watch.log"));
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Read(runs), file + "\n") << "the command gets the file's path as KCRED_KUBECONFIG";
  RunResult pods = env_.Kubectl(file, {"get", "pods", "-n", "automation"});
  EXPECT_EQ(pods.exit_code, 0) << pods.err;

  std::string previous = Read(file);
  for (size_t i = 1; i <= 3; ++i) {
    env_.KcredOk({"rotate", "dev/automation/ci-bot"});
    ASSERT_TRUE(AwaitLines(runs, i + 1, std::chrono::seconds(30)))
        << "rotation " << i << " did not reach the watched file:\n"
        << Read(env_.File("watch.log"));
    const std::string current = Read(file);
    EXPECT_NE(current, previous) << "rotation " << i << " must change the file";
    EXPECT_EQ(current, Read(env_.FetchKubeconfig("dev/automation/ci-bot", "fetched.kubeconfig")));
    previous = current;
    ASSERT_EQ(stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    RunResult after = env_.Kubectl(file, {"get", "pods", "-n", "automation"});
    EXPECT_EQ(after.exit_code, 0) << "after rotation " << i << ": " << after.err;
  }
  // Revocations of the previous tokens (after the 2s grace) change nothing in the file: once
  // kcredd revoked all three, a fourth rotation (its event follows theirs on the stream) is the
  // next write, and the only one.
  ASSERT_TRUE(env_.WaitForKcreddLog("account dev/automation/ci-bot: revoked generation", 3))
      << env_.KcreddLog();
  env_.KcredOk({"rotate", "dev/automation/ci-bot"});
  ASSERT_TRUE(
      testing::WaitForText(env_.File("watch.log"), "(rotated, ", 4, std::chrono::seconds(30)))
      << Read(env_.File("watch.log"));
  EXPECT_EQ(LineCount(runs), 5u) << "a revocation rewrote the file";
  EXPECT_EQ(env_.Kubectl(file, {"get", "pods", "-n", "automation"}).exit_code, 0);

  // Deleting the account ends the watch with exit 1 and says why.
  env_.KcredOk({"delete", "dev/automation/ci-bot", "--yes"});
  auto code = watch->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.ok()) << "kcred watch keeps running after the account was deleted";
  EXPECT_EQ(*code, 1);
  EXPECT_THAT(Read(env_.File("watch.log")), HasSubstr("was deleted"));
}

// A WatchAccounts stream nobody reads delays neither rotations, nor other watchers, nor kcredd's
// shutdown beyond its grace.
TEST_F(WatchE2eTest, AWatcherThatNeverReadsDoesNotDelayRotations) {
  // Large events (about 20 KB each) fill the stuck stream's flow-control window quickly.
  std::vector<std::string> big = {"provision", "dev/load/big", "--create-namespace", "--rule",
                                  "get:pods"};
  for (int i = 0; i < 20; ++i) {
    big.push_back("--annotation");
    big.push_back(absl::StrCat("kcred.test/filler-", i, "=", std::string(1000, 'x')));
  }
  env_.KcredOk(big);
  env_.KcredOk({"provision", "dev/load/small", "--rule", "get,list:pods"});

  // A raw stream over every account that is never read.
  auto channel = grpc::CreateChannel("unix:" + env_.socket(), grpc::InsecureChannelCredentials());
  auto stub = v1::CredentialBroker::NewStub(channel);
  grpc::ClientContext stuck_context;
  v1::WatchAccountsRequest all;
  all.set_send_initial_state(true);
  auto stuck = stub->WatchAccounts(&stuck_context, all);

  const std::string file = env_.File("small.kubeconfig");
  const std::string runs = env_.File("small-runs");
  auto watch = StartWatch("dev/load/small", file, runs, env_.File("small-watch.log"));
  ASSERT_NE(watch, nullptr);
  ASSERT_TRUE(AwaitLines(runs, 1, std::chrono::seconds(30))) << Read(env_.File("small-watch.log"));

  // Far more than the stuck stream can buffer: every rotation still finishes promptly.
  absl::Duration slowest;
  for (int i = 0; i < 40; ++i) {
    const absl::Time start = absl::Now();
    env_.KcredOk({"rotate", "dev/load/big", "--grace", "0s"});
    slowest = std::max(slowest, absl::Now() - start);
  }
  for (int i = 1; i <= 3; ++i) {
    const absl::Time start = absl::Now();
    env_.KcredOk({"rotate", "dev/load/small"});
    slowest = std::max(slowest, absl::Now() - start);
    ASSERT_TRUE(AwaitLines(runs, static_cast<size_t>(i) + 1, std::chrono::seconds(30)))
        << "the other watcher missed rotation " << i << ":\n"
        << Read(env_.File("small-watch.log"));
  }
  EXPECT_LT(slowest, absl::Seconds(10)) << "a rotation waited on the stuck watcher";
  EXPECT_EQ(env_.Kubectl(file, {"get", "pods", "-n", "load"}).exit_code, 0);

  // Nor does it hold up kcredd's shutdown beyond its grace.
  const absl::Time stop_start = absl::Now();
  EXPECT_EQ(env_.StopKcredd(), 0);
  // The drain ends at the 4s grace; process teardown with the stuck connection adds a few seconds.
  EXPECT_LT(absl::Now() - stop_start, absl::Seconds(15))
      << "far beyond the 4s shutdown grace; kcredd log:\n"
      << env_.Log("kcredd.log");
  stuck_context.TryCancel();
  (void)stuck->Finish();
  watch->Stop();
}

// kcred watch reconnects after kcredd restarts, picks up a rotation made meanwhile, and exits 0
// on SIGTERM.
TEST_F(WatchE2eTest, ResumesAfterAKcreddRestart) {
  env_.KcredOk(
      {"provision", "dev/automation/agent", "--create-namespace", "--rule", "get,list:pods"});
  const std::string file = env_.File("agent.kubeconfig");
  const std::string runs = env_.File("agent-runs");
  const std::string log = env_.File("agent-watch.log");
  auto watch = StartWatch("dev/automation/agent", file, runs, log);
  ASSERT_NE(watch, nullptr);
  ASSERT_TRUE(AwaitLines(runs, 1, std::chrono::seconds(30))) << Read(log);
  env_.KcredOk({"rotate", "dev/automation/agent"});
  ASSERT_TRUE(AwaitLines(runs, 2, std::chrono::seconds(30))) << Read(log);

  ASSERT_EQ(env_.StopKcredd(), 0);
  env_.StartKcredd();
  // Rotated after the restart: the watcher reconnects (backoff) and picks it up.
  env_.KcredOk({"rotate", "dev/automation/agent"});
  ASSERT_TRUE(AwaitLines(runs, 3, std::chrono::seconds(60))) << Read(log);
  EXPECT_EQ(Read(file), Read(env_.FetchKubeconfig("dev/automation/agent", "fetched.kubeconfig")));
  EXPECT_THAT(Read(log), HasSubstr("reconnect"));
  RunResult pods = env_.Kubectl(file, {"get", "pods", "-n", "automation"});
  EXPECT_EQ(pods.exit_code, 0) << pods.err;

  // SIGTERM ends it cleanly.
  watch->Signal(SIGTERM);
  auto code = watch->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace kcred
