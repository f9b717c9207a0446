// SIGHUP reload and declared accounts, end to end: real kcredd and kcred-devcluster processes, the
// real kcred client and kubectl. The test plays the service manager (NOTIFY_SOCKET) to read the
// STATUS line kcredd reports after each reload.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/kcred_env.h"
#include "tests/support/notify_listener.h"
#include "tests/support/process.h"

namespace kcred {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunResult;

constexpr auto kWait = std::chrono::seconds(30);

class KcreddReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(notify_.ok());
    env_.StartCluster();
  }

  void Start() {
    env_.StartKcredd({}, {{"NOTIFY_SOCKET", notify_.path()}});
    ASSERT_TRUE(notify_.NextStartingWith("READY=1", kWait).has_value()) << env_.KcreddLog();
  }

  // Sends SIGHUP and returns the READY=1 notification that ends the reload (with its STATUS).
  std::string Reload() {
    env_.kcredd()->Signal(SIGHUP);
    auto reloading = notify_.NextStartingWith("RELOADING=1", kWait);
    EXPECT_TRUE(reloading.has_value()) << env_.KcreddLog();
    auto ready = notify_.NextStartingWith("READY=1", kWait);
    EXPECT_TRUE(ready.has_value()) << env_.KcreddLog();
    return ready.value_or("");
  }

  // Retries `check` until it holds or 30 s have passed (kcredd reconciles on its own thread).
  template <typename Check>
  bool Eventually(Check check) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!check()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
  }

  bool Exists(const std::string& ref) { return env_.Kcred({"get", ref}).exit_code == 0; }

  std::string CurrentContext(const std::string& kubeconfig) {
    RunResult r = env_.Kubectl(kubeconfig, {"config", "current-context"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  testing::KcredEnv env_;
  testing::NotifyListener notify_{env_.File("notify.sock")};
};

// A valid change takes effect on SIGHUP without dropping an open watch; a broken file is refused
// and the previous configuration keeps serving.
TEST_F(KcreddReloadTest, AValidChangeTakesEffectAndABrokenFileIsRefused) {
  env_.WriteConfig();
  Start();
  env_.KcredOk(
      {"provision", "dev/automation/api-bot", "--create-namespace", "--rule", "get,list:pods"});
  EXPECT_EQ(CurrentContext(env_.FetchKubeconfig("dev/automation/api-bot", "before.kubeconfig")),
            "kcred-dev-automation-api-bot\n");

  // A stream opened before the reloads must survive them.
  auto channel = grpc::CreateChannel("unix:" + env_.socket(), grpc::InsecureChannelCredentials());
  auto stub = v1::CredentialBroker::NewStub(channel);
  grpc::ClientContext watch_context;
  v1::WatchAccountsRequest watch_request;
  watch_request.mutable_selector()->set_name("api-bot");
  auto watch = stub->WatchAccounts(&watch_context, watch_request);

  // Valid: the cluster's context names change, the log level goes to warn and back.
  env_.WriteConfig("  context_name_template: ops-{namespace}-{name}\n");
  const std::string applied = Reload();
  EXPECT_THAT(applied, HasSubstr("STATUS=serving 1 account on 1 cluster"));
  EXPECT_THAT(applied, Not(HasSubstr("refused")));
  EXPECT_THAT(env_.KcreddLog(), HasSubstr("configuration reloaded: cluster \"dev\" changed"));
  const std::string after = env_.FetchKubeconfig("dev/automation/api-bot", "after.kubeconfig");
  EXPECT_EQ(CurrentContext(after), "ops-automation-api-bot\n");
  RunResult pods = env_.Kubectl(after, {"get", "pods", "-n", "automation"});
  EXPECT_EQ(pods.exit_code, 0) << pods.err;

  // Broken: kcredd refuses it, says where and why (log and STATUS), and keeps serving as before.
  env_.WriteConfig("  context_name_template: broken-{name}\n  qps: lots\n");
  const std::string refused = Reload();
  EXPECT_THAT(refused, HasSubstr("STATUS=serving 1 account on 1 cluster; reload refused: "));
  EXPECT_THAT(refused, HasSubstr("kcredd.yaml:15:8: clusters[0].qps: "));
  EXPECT_THAT(env_.KcreddLog(),
              HasSubstr("reload refused, still running the previous configuration: "));
  EXPECT_THAT(env_.KcredOk({"list"}), HasSubstr("api-bot"));
  EXPECT_EQ(CurrentContext(env_.FetchKubeconfig("dev/automation/api-bot", "still.kubeconfig")),
            "ops-automation-api-bot\n");
  env_.KcredOk({"rotate", "dev/automation/api-bot"});

  // The stream opened before both reloads delivers the rotation.
  v1::AccountEvent event;
  bool rotated = false;
  while (!rotated && watch->Read(&event)) rotated = event.type() == v1::EVENT_TYPE_ROTATED;
  EXPECT_TRUE(rotated) << "the watch stream did not survive the reloads";
  watch_context.TryCancel();
  while (watch->Read(&event)) {
  }
  (void)watch->Finish();

  // A restart-only setting is reported, not applied; the rest of the file still is.
  env_.WriteConfig("  context_name_template: ops-{namespace}-{name}\n",
                   "defaults:\n  token:\n    ttl: 2h\n");
  EXPECT_THAT(Reload(), Not(HasSubstr("refused")));
  EXPECT_THAT(env_.KcreddLog(),
              HasSubstr("defaults.token changed: kcredd keeps the running value until it is "
                        "restarted"));
  EXPECT_EQ(env_.StopKcredd(), 0);
}

constexpr char kDeclared[] = R"(accounts:
  prune: PRUNE
  items:
  - account: dev/declared/reader
    spec:
      create_namespace: true
      access:
        rules:
        - verbs: [VERBS]
          resources: [pods]
)";

constexpr char kSecond[] = R"(  - account: dev/declared/second
    spec:
      create_namespace: true
      access:
        rules:
        - verbs: [get]
          resources: [configmaps]
)";

std::string Declared(const std::string& prune, const std::string& verbs, bool second) {
  std::string yaml = kDeclared;
  yaml.replace(yaml.find("PRUNE"), 5, prune);
  yaml.replace(yaml.find("VERBS"), 5, verbs);
  return second ? yaml + kSecond : yaml;
}

// A kcredd started without clusters says what to do, and serves once a reload adds the first.
TEST_F(KcreddReloadTest, TheFirstClusterArrivesByReload) {
  // A fresh install: no clusters yet, so no store is open and account calls say what to do.
  ASSERT_TRUE(testing::WriteFile(env_.File("kcredd.yaml"),
                                 absl::StrCat("listen:\n  unix:\n    path: ", env_.socket(),
                                              "\nstate_dir: ", env_.File("state"), "\n"))
                  .ok());
  Start();
  RunResult early = env_.Kcred({"list"});
  EXPECT_NE(early.exit_code, 0);
  EXPECT_THAT(early.err, HasSubstr("no clusters configured; add one to its configuration and "
                                   "reload it"));

  // The cluster, a declared account and the sealing key arrive with one reload.
  env_.WriteConfig("", Declared("false", "get", false));
  const std::string ready = Reload();
  EXPECT_THAT(ready, Not(HasSubstr("refused")));
  EXPECT_THAT(env_.KcreddLog(), HasSubstr("1 cluster(s) configured: store opened at "));
  ASSERT_TRUE(Eventually([&] { return Exists("dev/declared/reader"); })) << env_.KcreddLog();
  env_.KcredOk({"provision", "dev/automation/api-bot", "--create-namespace", "--rule", "get:pods",
                "--ttl", "10s", "--rotate-at", "0.5"});
  const std::string kubeconfig = env_.FetchKubeconfig("dev/automation/api-bot", "api.kubeconfig");
  RunResult whoami = env_.Kubectl(kubeconfig, {"auth", "whoami"});
  EXPECT_EQ(whoami.exit_code, 0) << whoami.err;
  // The rotation engine runs: the 10s token is replaced on schedule.
  EXPECT_TRUE(env_.WaitForKcreddLog("rotated dev/automation/api-bot to generation 2"))
      << env_.KcreddLog();
  EXPECT_THAT(Reload(), HasSubstr("STATUS=serving 2 accounts on 1 cluster"));
  EXPECT_EQ(env_.StopKcredd(), 0);
}

// Reloads that replace the cluster's client while tokens rotate lose no rotation and never serve
// an expired token.
TEST_F(KcreddReloadTest, ReloadsDuringRotationsLoseNothing) {
  // Each reload changes the cluster (a new API client each time) while tokens rotate every 5 s.
  auto config = [&](int i) {
    env_.WriteConfig(
        absl::StrCat("  qps: ", 50 + i % 2, "\n  context_name_template: r", i % 2, "-{name}\n"),
        "defaults:\n  token:\n    grace: 2s\n");
  };
  config(0);
  Start();
  constexpr int kAccounts = 6;
  for (int i = 0; i < kAccounts; ++i) {
    env_.KcredOk({"provision", absl::StrCat("dev/churn/bot-", i), "--create-namespace", "--rule",
                  "get:pods", "--ttl", "10s", "--rotate-at", "0.5"});
  }
  auto stub = v1::CredentialBroker::NewStub(
      grpc::CreateChannel("unix:" + env_.socket(), grpc::InsecureChannelCredentials()));
  std::map<int, std::set<int64_t>> generations;
  int reloads = 0;
  // Churn until 20 reloads have happened and every account has shown four generations (three
  // rotations, about 15s); the bound only keeps a broken build from hanging.
  auto enough = [&] {
    if (reloads < 20) return false;
    for (int i = 0; i < kAccounts; ++i) {
      if (generations[i].size() < 4) return false;
    }
    return true;
  };
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!enough() && std::chrono::steady_clock::now() < give_up) {
    config(++reloads);
    EXPECT_THAT(Reload(), Not(HasSubstr("refused")));
    for (int i = 0; i < kAccounts; ++i) {
      grpc::ClientContext context;
      v1::GetTokenRequest request;
      request.mutable_ref()->set_cluster("dev");
      request.mutable_ref()->set_namespace_("churn");
      request.mutable_ref()->set_name(absl::StrCat("bot-", i));
      v1::GetTokenResponse token;
      grpc::Status status = stub->GetToken(&context, request, &token);
      ASSERT_TRUE(status.ok()) << "bot-" << i << ": " << status.error_message();
      EXPECT_GT(token.expire_time().seconds(), absl::ToUnixSeconds(absl::Now()))
          << "an expired token was served";
      generations[i].insert(token.generation());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the reloads' pace
  }
  EXPECT_GE(reloads, 20);
  for (int i = 0; i < kAccounts; ++i) {
    EXPECT_GE(generations[i].size(), 4u) << "bot-" << i << " missed scheduled rotations";
  }
  const std::string kubeconfig = env_.FetchKubeconfig("dev/churn/bot-0", "churn.kubeconfig");
  RunResult whoami = env_.Kubectl(kubeconfig, {"auth", "whoami"});
  EXPECT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_THAT(env_.KcreddLog(), Not(HasSubstr("failed (attempt")));
  EXPECT_EQ(env_.StopKcredd(), 0);
}

// Declared accounts are validated, created, changed and kept or pruned as reloads change them.
TEST_F(KcreddReloadTest, DeclaredAccountsAreAddedChangedAndRemovedWithAndWithoutPrune) {
  // check-config validates each declared spec against its cluster (min_token_ttl is 10s here).
  env_.WriteConfig("", Declared("false", "get", true) + "      token: {ttl: 5s}\n");
  RunResult invalid = testing::Run(
      {testing::BinaryPath("kcredd"), "check-config", "--config", env_.File("kcredd.yaml")});
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_THAT(
      invalid.err,
      HasSubstr("kcredd.yaml:32:5: accounts.items[1] (dev/declared/second): spec.token.ttl: "));
  EXPECT_THAT(invalid.err, HasSubstr("ttl"));

  env_.WriteConfig("", Declared("false", "get", true));
  RunResult valid = testing::Run(
      {testing::BinaryPath("kcredd"), "check-config", "--config", env_.File("kcredd.yaml")});
  EXPECT_EQ(valid.exit_code, 0) << valid.err;
  EXPECT_THAT(
      valid.out,
      HasSubstr(": OK (1 cluster, 2 declared accounts; authorization: default policy: root only)"));
  Start();
  // Provisioned at start, on kcredd's own thread.
  ASSERT_TRUE(Eventually([&] {
    return Exists("dev/declared/reader") && Exists("dev/declared/second");
  })) << env_.KcreddLog();
  EXPECT_THAT(env_.KcredOk({"get", "dev/declared/reader"}), HasSubstr("config"));
  const std::string reader = env_.FetchKubeconfig("dev/declared/reader", "reader.kubeconfig");
  EXPECT_EQ(env_.Kubectl(reader, {"auth", "can-i", "get", "pods", "-n", "declared"}).out, "yes\n");
  EXPECT_EQ(env_.Kubectl(reader, {"auth", "can-i", "list", "pods", "-n", "declared"}).out, "no\n");

  // An account from the API, which no configuration change may touch.
  env_.KcredOk({"provision", "dev/declared/from-api", "--rule", "get:pods"});
  // The API cannot change a declared account: its spec lives in the configuration.
  RunResult api_change =
      env_.Kcred({"provision", "dev/declared/reader", "--rule", "get,list,delete:pods"});
  EXPECT_NE(api_change.exit_code, 0);
  EXPECT_THAT(api_change.err, HasSubstr("declared in kcredd's configuration"));

  // Change reader's rules and drop "second" without prune: reader gains list, second stays.
  env_.WriteConfig("", Declared("false", "get, list", false));
  Reload();
  EXPECT_TRUE(Eventually([&] {
    return env_.Kubectl(reader, {"auth", "can-i", "list", "pods", "-n", "declared"}).out == "yes\n";
  })) << env_.KcreddLog();
  EXPECT_TRUE(env_.WaitForKcreddLog("dev/declared/second is no longer declared; kept"))
      << env_.KcreddLog();
  EXPECT_TRUE(Exists("dev/declared/second"));
  EXPECT_THAT(env_.LabelledObjects("second"), HasSubstr("serviceaccount/second"));

  // prune: true deprovisions it (its objects leave the cluster); the API account stays.
  env_.WriteConfig("", Declared("true", "get, list", false));
  Reload();
  EXPECT_TRUE(Eventually([&] { return !Exists("dev/declared/second"); })) << env_.KcreddLog();
  EXPECT_EQ(env_.LabelledObjects("second"), "");
  EXPECT_TRUE(Exists("dev/declared/from-api"));
  EXPECT_TRUE(Exists("dev/declared/reader"));
  EXPECT_EQ(env_.Kubectl(reader, {"get", "pods", "-n", "declared"}).exit_code, 0);

  // Removing every declaration with prune: true leaves only the API account.
  env_.WriteConfig("", "accounts:\n  prune: true\n");
  Reload();
  EXPECT_TRUE(Eventually([&] { return !Exists("dev/declared/reader"); })) << env_.KcreddLog();
  EXPECT_TRUE(Exists("dev/declared/from-api"));
  EXPECT_EQ(env_.StopKcredd(), 0);
}

}  // namespace
}  // namespace kcred
