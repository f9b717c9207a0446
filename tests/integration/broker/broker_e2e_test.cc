// The manual recipe end to end: kcredd and kcred-devcluster as real processes, driven by the real
// kcred and kubectl (and python3-kubernetes), over real TLS and unix sockets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "tests/support/kcred_env.h"
#include "tests/support/process.h"

namespace kcred {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunResult;

class BrokerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.StartCluster();
    // The recipe grants Secrets cluster-wide, which kcredd's default policy forbids: this cluster's
    // operator widens it deliberately.
    env_.WriteConfig(
        "", "", std::string(testing::kTestPolicy) + "    forbidden: {cluster_resources: []}\n");
    env_.StartKcredd();
  }

  testing::KcredEnv env_;
};

const std::vector<std::string> kCiBotRules = {
    "--rule", "get,list,watch,create,update,delete:pods,services,configmaps,secrets"};

// A cluster-scoped account's 0600 kubeconfig lists pods in any namespace but not leases, names the
// account and its namespace, and provisioning it again reports UNCHANGED.
TEST_F(BrokerE2eTest, TheRecipeEndToEnd) {
  std::vector<std::string> args = {"provision", "dev/automation/ci-bot", "--cluster-scope",
                                   "--create-namespace"};
  args.insert(args.end(), kCiBotRules.begin(), kCiBotRules.end());
  EXPECT_THAT(env_.KcredOk(args), HasSubstr("CREATED"));

  const std::string kubeconfig = env_.FetchKubeconfig("dev/automation/ci-bot", "ci-bot.kubeconfig");
  struct stat st {};
  ASSERT_EQ(stat(kubeconfig.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  RunResult pods = env_.Kubectl(kubeconfig, {"get", "pods", "-n", "automation"});
  EXPECT_EQ(pods.exit_code, 0) << pods.err;
  RunResult other_ns = env_.Kubectl(kubeconfig, {"get", "configmaps", "-n", "default"});
  EXPECT_EQ(other_ns.exit_code, 0) << "cluster scope reaches every namespace: " << other_ns.err;
  RunResult leases = env_.Kubectl(kubeconfig, {"get", "leases", "-n", "automation"});
  EXPECT_NE(leases.exit_code, 0);
  EXPECT_THAT(
      leases.err,
      HasSubstr("leases.coordination.k8s.io is forbidden: User "
                "\"system:serviceaccount:automation:ci-bot\" cannot list resource \"leases\" "
                "in API group \"coordination.k8s.io\" in the namespace \"automation\""));
  RunResult whoami = env_.Kubectl(kubeconfig, {"auth", "whoami"});
  EXPECT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_THAT(whoami.out, HasSubstr("system:serviceaccount:automation:ci-bot"));

  // Applying the same request again changes nothing.
  EXPECT_THAT(env_.KcredOk(args), HasSubstr("UNCHANGED"));
  // The kubeconfig names its context after the account, with the account's namespace.
  RunResult view = env_.Kubectl(
      kubeconfig, {"config", "view", "-o", "jsonpath={.contexts[0].context.namespace}"});
  EXPECT_EQ(view.out, "automation");
}

// A namespace-scoped account lists pods in its own namespace but not in another, nor Secrets.
TEST_F(BrokerE2eTest, NamespaceScopedAccountStaysInItsNamespace) {
  env_.AdminOk({"create", "namespace", "other"});
  env_.KcredOk({"provision", "dev/team-a/reader", "--create-namespace", "--rule",
                "get,list:pods,configmaps"});
  const std::string kubeconfig = env_.FetchKubeconfig("dev/team-a/reader", "reader.kubeconfig");
  EXPECT_EQ(env_.Kubectl(kubeconfig, {"get", "pods", "-n", "team-a"}).exit_code, 0);
  RunResult denied = env_.Kubectl(kubeconfig, {"get", "pods", "-n", "other"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(
      denied.err,
      HasSubstr("cannot list resource \"pods\" in API group \"\" in the namespace \"other\""));
  RunResult secrets = env_.Kubectl(kubeconfig, {"get", "secrets", "-n", "team-a"});
  EXPECT_NE(secrets.exit_code, 0);
}

// A role_ref account gets just that role's access, a token-only account keeps the access it has,
// and a missing role is refused by name, leaving nothing behind.
TEST_F(BrokerE2eTest, RoleRefAndTokenOnlyModes) {
  env_.AdminOk({"create", "namespace", "apps"});
  env_.AdminOk(
      {"create", "clusterrole", "config-reader", "--verb=get,list", "--resource=configmaps"});
  env_.KcredOk({"provision", "dev/apps/bound", "--role-ref", "ClusterRole/config-reader"});
  const std::string bound = env_.FetchKubeconfig("dev/apps/bound", "bound.kubeconfig");
  EXPECT_EQ(env_.Kubectl(bound, {"get", "configmaps", "-n", "apps"}).exit_code, 0);
  EXPECT_NE(env_.Kubectl(bound, {"get", "pods", "-n", "apps"}).exit_code, 0);

  // Token only: an existing ServiceAccount keeps the access it has.
  env_.AdminOk({"create", "serviceaccount", "legacy-app", "-n", "apps"});
  env_.AdminOk({"create", "rolebinding", "legacy-app-view", "-n", "apps",
                "--clusterrole=config-reader", "--serviceaccount=apps:legacy-app"});
  env_.KcredOk({"provision", "dev/apps/legacy-app", "--token-only"});
  const std::string token_only =
      env_.FetchKubeconfig("dev/apps/legacy-app", "token-only.kubeconfig");
  RunResult whoami = env_.Kubectl(token_only, {"auth", "whoami"});
  EXPECT_THAT(whoami.out, HasSubstr("system:serviceaccount:apps:legacy-app"));
  EXPECT_EQ(env_.Kubectl(token_only, {"get", "configmaps", "-n", "apps"}).exit_code, 0);

  // A missing role for role_ref is NOT_FOUND and leaves nothing behind.
  RunResult missing =
      env_.Kcred({"provision", "dev/apps/ghost", "--role-ref", "ClusterRole/no-such-role"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no-such-role"));
  EXPECT_EQ(env_.LabelledObjects("ghost"), "");
}

// A legacy-mode account works, with its token in a service-account-token Secret.
TEST_F(BrokerE2eTest, LegacyModeTokenWorks) {
  env_.KcredOk({"provision", "dev/legacy/old-tool", "--create-namespace", "--mode", "legacy",
                "--rule", "get,list:pods"});
  const std::string kubeconfig = env_.FetchKubeconfig("dev/legacy/old-tool", "legacy.kubeconfig");
  EXPECT_EQ(env_.Kubectl(kubeconfig, {"get", "pods", "-n", "legacy"}).exit_code, 0);
  const std::string secrets =
      env_.AdminOk({"get", "secrets", "-n", "legacy", "-o", "jsonpath={.items[*].type}"});
  EXPECT_THAT(secrets, HasSubstr("kubernetes.io/service-account-token"));
}

// A rotation with no grace revokes the old token at once; with a grace the previous token keeps
// working beside the new one, and the generation counts each rotation.
TEST_F(BrokerE2eTest, RotationRevokesTheOldTokenAfterGrace) {
  env_.KcredOk({"provision", "dev/rot/bot", "--create-namespace", "--rule", "get,list:pods",
                "--grace", "0s"});
  const std::string old_config = env_.FetchKubeconfig("dev/rot/bot", "old.kubeconfig");
  EXPECT_EQ(env_.Kubectl(old_config, {"get", "pods", "-n", "rot"}).exit_code, 0);

  env_.KcredOk({"rotate", "dev/rot/bot", "--reason", "test"});
  const std::string new_config = env_.FetchKubeconfig("dev/rot/bot", "new.kubeconfig");
  EXPECT_NE(testing::ReadFile(old_config).value_or(""), testing::ReadFile(new_config).value_or(""));
  EXPECT_EQ(env_.Kubectl(new_config, {"get", "pods", "-n", "rot"}).exit_code, 0);
  RunResult old = env_.Kubectl(old_config, {"get", "pods", "-n", "rot"});
  EXPECT_NE(old.exit_code, 0);
  EXPECT_THAT(old.err, HasSubstr("You must be logged in to the server (Unauthorized)"));

  // With a grace period the previous token keeps working until it ends.
  env_.KcredOk({"rotate", "dev/rot/bot", "--grace", "1h"});
  const std::string newest = env_.FetchKubeconfig("dev/rot/bot", "newest.kubeconfig");
  EXPECT_EQ(env_.Kubectl(new_config, {"get", "pods", "-n", "rot"}).exit_code, 0)
      << "the previous token must stay valid during its grace period";
  EXPECT_EQ(env_.Kubectl(newest, {"get", "pods", "-n", "rot"}).exit_code, 0);
  EXPECT_THAT(env_.KcredOk({"get", "dev/rot/bot", "-o", "json"}),
              HasSubstr("\"generation\": \"3\""));
}

// Delete removes every labelled object and revokes the token; get then fails, and deleting again
// says not found.
TEST_F(BrokerE2eTest, DeleteRemovesEverythingAndRevokes) {
  env_.KcredOk({"provision", "dev/gone/bot", "--create-namespace", "--cluster-scope", "--rule",
                "get,list:pods"});
  const std::string kubeconfig = env_.FetchKubeconfig("dev/gone/bot", "gone.kubeconfig");
  EXPECT_EQ(env_.Kubectl(kubeconfig, {"get", "pods", "-n", "gone"}).exit_code, 0);
  EXPECT_NE(env_.LabelledObjects("bot"), "");

  env_.KcredOk({"delete", "dev/gone/bot", "--yes"});
  EXPECT_EQ(env_.LabelledObjects("bot"), "");
  RunResult after = env_.Kubectl(kubeconfig, {"get", "pods", "-n", "gone"});
  EXPECT_THAT(after.err, HasSubstr("Unauthorized"));
  RunResult get = env_.Kcred({"get", "dev/gone/bot"});
  EXPECT_EQ(get.exit_code, 1);
  // Deleting again is not an error that loses anything: it says the account is gone.
  RunResult again = env_.Kcred({"delete", "dev/gone/bot", "--yes"});
  EXPECT_THAT(again.err + again.out, HasSubstr("not found"));
}

// After a restart kcredd serves the same token without the cluster, its database never held the
// token in the clear, and the token works again once the cluster is back.
TEST_F(BrokerE2eTest, RestartRestoresAccountsAndServesWithoutTheCluster) {
  env_.KcredOk({"provision", "dev/keep/bot", "--create-namespace", "--rule", "get:pods"});
  const std::string before =
      testing::ReadFile(env_.FetchKubeconfig("dev/keep/bot", "before.kubeconfig")).value_or("");
  std::string token;
  {
    std::istringstream in(before);
    for (std::string line; std::getline(in, line);) {
      auto pos = line.find("token: ");
      if (pos != std::string::npos) token = line.substr(pos + 7);
    }
  }
  ASSERT_GT(token.size(), 20u);

  ASSERT_EQ(env_.StopKcredd(), 0);
  // The database and its WAL never hold the token in the clear.
  for (const char* file : {"state/kcred.db", "state/kcred.db-wal"}) {
    auto bytes = testing::ReadFile(env_.File(file));
    if (bytes.ok()) {
      EXPECT_EQ(bytes->find(token), std::string::npos) << file << " holds the token";
    }
  }
  ASSERT_EQ(env_.StopCluster(), 0);

  env_.StartKcredd();
  const std::string after =
      testing::ReadFile(env_.FetchKubeconfig("dev/keep/bot", "after.kubeconfig")).value_or("");
  EXPECT_EQ(before, after) << "the same token is served after a restart, without the cluster";
  EXPECT_THAT(env_.KcredOk({"list"}), HasSubstr("bot"));

  env_.StartCluster(env_.address());  // same data dir and port: the served token still works
  EXPECT_EQ(env_.Kubectl(env_.File("after.kubeconfig"), {"auth", "whoami"}).exit_code, 0);
}

// Bad names, verbs, clusters, TTLs and namespaces, a same-named foreign object (unless adopted) and
// an oversize request are refused with the right exit code and message, and leave nothing.
TEST_F(BrokerE2eTest, BadInputsGetTheRightCodeAndLeaveNothing) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;  // 2: kcred refuses before calling; 1: kcredd refuses
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"provision", "dev/Bad_NS/bot", "--rule", "get:pods"}, 2, "not a valid DNS-1123 label"},
      {{"provision", "dev/ns1/Bot", "--create-namespace", "--rule", "get:pods"},
       2,
       "DNS-1123 subdomain"},
      {{"provision", "dev/ns1/bot", "--create-namespace", "--rule", "fly:pods"}, 1, "fly"},
      {{"provision", "nope/ns1/bot", "--rule", "get:pods"}, 1, "dev"},
      {{"provision", "dev/ns1/bot", "--create-namespace", "--rule", "get:pods", "--ttl", "1s"},
       1,
       "ttl"},
      {{"provision", "dev/missing-ns/bot", "--rule", "get:pods"}, 1, "missing-ns"},
  };
  for (const auto& c : cases) {
    RunResult r = env_.Kcred(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << absl::StrJoin(c.args, " ") << "\n" << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << absl::StrJoin(c.args, " ");
  }
  EXPECT_EQ(env_.LabelledObjects("bot"), "");

  // A foreign object of the same name is never touched.
  env_.AdminOk({"create", "namespace", "shared"});
  env_.AdminOk({"create", "serviceaccount", "deployer", "-n", "shared"});
  RunResult foreign = env_.Kcred({"provision", "dev/shared/deployer", "--rule", "get:pods"});
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_THAT(foreign.err, HasSubstr("already exists"));
  EXPECT_THAT(foreign.err, HasSubstr("adopt"));
  EXPECT_THAT(env_.AdminOk({"get", "serviceaccount", "deployer", "-n", "shared", "-o",
                            "jsonpath={.metadata.labels}"}),
              Not(HasSubstr("kcred")));
  EXPECT_EQ(env_.LabelledObjects("deployer"), "");
  EXPECT_EQ(
      env_.Kcred({"provision", "dev/shared/deployer", "--rule", "get:pods", "--adopt"}).exit_code,
      0);

  // An oversize request is refused by the transport.
  const std::string big_file = env_.File("big.yaml");
  ASSERT_TRUE(
      testing::WriteFile(
          big_file,
          absl::StrCat("account: dev/ns1/big\nspec:\n", "  create_namespace: true\n",
                       "  access:\n    rules:\n", "    - verbs: [get]\n      resources: [pods]\n",
                       "  annotations:\n    note: ", std::string(2 << 20, 'x'), "\n"))
          .ok());
  RunResult big = env_.Kcred({"provision", "-f", big_file});
  EXPECT_EQ(big.exit_code, 1) << big.err;
  EXPECT_THAT(big.err, HasSubstr("larger than"));
  EXPECT_EQ(env_.LabelledObjects("big"), "");
}

// --merge adds the account's context and keeps the current one; --set-current switches to it, and
// the python kubernetes client lists pods with the merged file.
TEST_F(BrokerE2eTest, MergeKeepsOtherEntriesAndWorksWithKubectlAndPython) {
  env_.KcredOk({"provision", "dev/merge/bot", "--create-namespace", "--rule", "get,list:pods"});
  const std::string home_config = env_.File("home-kubeconfig");
  ASSERT_TRUE(
      testing::WriteFile(home_config, testing::ReadFile(env_.admin()).value_or(""), 0600).ok());
  const std::string admin_context = absl::StrCat(
      absl::StripAsciiWhitespace(env_.Kubectl(home_config, {"config", "current-context"}).out));

  env_.KcredOk({"kubeconfig", "dev/merge/bot", "--merge"});
  RunResult contexts = env_.Kubectl(home_config, {"config", "get-contexts", "-o", "name"});
  EXPECT_THAT(contexts.out, HasSubstr(admin_context));
  EXPECT_EQ(
      absl::StripAsciiWhitespace(env_.Kubectl(home_config, {"config", "current-context"}).out),
      admin_context);
  EXPECT_EQ(env_.Kubectl(home_config, {"get", "namespaces"}).exit_code, 0)
      << "the admin entry still works";

  env_.KcredOk({"kubeconfig", "dev/merge/bot", "--merge", "--set-current"});
  RunResult whoami = env_.Kubectl(home_config, {"auth", "whoami"});
  EXPECT_THAT(whoami.out, HasSubstr("system:serviceaccount:merge:bot"));

  const std::string script = env_.File("list_pods.py");
  ASSERT_TRUE(testing::WriteFile(script,
                                 "import sys\nfrom kubernetes import client, config\n"
                                 "config.load_kube_config(config_file=sys.argv[1])\n"
                                 "pods = client.CoreV1Api().list_namespaced_pod('merge')\n"
                                 "print('pods:', len(pods.items))\n")
                  .ok());
  RunResult python =
      testing::Run({"/usr/bin/python3", script, home_config}, {{"HOME", env_.dir()}});
  EXPECT_EQ(python.exit_code, 0) << python.err;
  EXPECT_THAT(python.out, HasSubstr("pods: 0"));
}

// A second kcredd on the same state directory (its own socket) exits with an error naming the
// directory and the first kcredd's pid; the first keeps serving.
TEST_F(BrokerE2eTest, ASecondKcreddOnTheSameStateDirectoryIsRefused) {
  env_.KcredOk({"provision", "dev/lock/bot", "--create-namespace", "--rule", "get:pods"});
  RunResult second = testing::Run({testing::BinaryPath("kcredd"), "--config",
                                   env_.File("kcredd.yaml"), "--socket", env_.File("second.sock")},
                                  {}, std::chrono::seconds(30));
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_THAT(second.err,
              HasSubstr(absl::StrCat("state directory ", env_.File("state"),
                                     " is in use by another kcredd (pid ", env_.kcredd()->pid())));
  EXPECT_THAT(env_.KcredOk({"get", "dev/lock/bot"}), HasSubstr("dev/lock/bot"));
}

// With the cluster gone, a restarted kcredd's orphan sweep retries against it, namespace after
// namespace (here about 30 s of retries); a SIGTERM cuts the sweep short and kcredd stops cleanly
// instead of waiting it out (the harness kills it after 20 s).
TEST_F(BrokerE2eTest, StopsPromptlyWhileTheClusterIsGone) {
  for (int i = 0; i < 15; ++i) {
    env_.KcredOk({"provision", absl::StrCat("dev/gone-", i, "/bot"), "--create-namespace", "--rule",
                  "get:pods"});
  }
  ASSERT_EQ(env_.StopKcredd(), 0);
  ASSERT_EQ(env_.StopCluster(), 0);
  env_.StartKcredd();
  // The sweep's first List finds the cluster gone and backs off (the next attempt is logged).
  ASSERT_TRUE(env_.WaitForKcreddLog("retrying in")) << env_.KcreddLog();
  EXPECT_EQ(env_.StopKcredd(), 0);
  EXPECT_THAT(env_.KcreddLog(), HasSubstr("kcredd is stopping: the orphan sweep stopped after"));
  EXPECT_THAT(env_.KcreddLog(), HasSubstr("stopped"));
}

}  // namespace
}  // namespace kcred
