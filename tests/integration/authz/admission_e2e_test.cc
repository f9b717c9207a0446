// Shows admission end to end with kcredd's default cluster policy: every request that would widen
// an account beyond it is refused with a message naming the config key, before anything is
// created in the cluster; the README's example still works; kcred-devcluster, enforcing
// Kubernetes' escalation prevention, refuses what kcredd's least-privilege role does not hold.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/integration/authz/authz_env.h"

namespace kcred::testing {
namespace {

using ::testing::HasSubstr;

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.StartCluster();
    env_.AdminOk({"create", "namespace", "automation"});
    env_.WriteConfig("", "", /*policy=*/"");  // the defaults
    env_.StartKcredd();
  }

  // Namespaces and every object kcred would label, as the cluster has them now.
  std::string ClusterState() {
    return env_.AdminOk({"get",
                         "namespaces,serviceaccounts,secrets,roles,rolebindings,"
                         "clusterroles,clusterrolebindings",
                         "-A", "-o", "name"});
  }

  KcredEnv env_;
};

// Each request that would widen an account past the default policy, and a rotate past max_grace,
// fails with its code and the config key it breaks, and changes nothing in the cluster.
TEST_F(AdmissionTest, WideningRequestsAreRefusedNamingTheKey) {
  ASSERT_EQ(env_.Kcred({"provision", "dev/automation/existing", "--rule", "get:pods"}).exit_code,
            0);
  const std::string before = ClusterState();
  struct Case {
    std::vector<std::string> args;
    std::string code;
    std::string key;
  };
  const std::vector<Case> cases = {
      {{"dev/automation/a", "--rule", "*:*:*"}, "PERMISSION_DENIED", "policy.forbidden.verbs"},
      {{"dev/automation/a", "--rule", "escalate:roles:rbac.authorization.k8s.io"},
       "PERMISSION_DENIED",
       "policy.forbidden.verbs"},
      {{"dev/automation/a", "--rule", "bind:clusterroles:rbac.authorization.k8s.io"},
       "PERMISSION_DENIED",
       "policy.forbidden.verbs"},
      {{"dev/automation/a", "--rule", "impersonate:users,serviceaccounts"},
       "PERMISSION_DENIED",
       "policy.forbidden.verbs"},
      {{"dev/automation/a", "--rule", "get:*"}, "PERMISSION_DENIED", "policy.forbidden.resources"},
      {{"dev/kube-system/a", "--rule", "get:pods"},
       "PERMISSION_DENIED",
       "policy.denied_namespaces"},
      {{"dev/automation/a", "--cluster-scope", "--rule", "get:pods"},
       "PERMISSION_DENIED",
       "policy.allow_cluster_scope"},
      {{"dev/kube-system/default", "--token-only"},
       "PERMISSION_DENIED",
       "policy.denied_namespaces"},
      {{"dev/automation/existing", "--token-only"}, "PERMISSION_DENIED", "policy.allow_token_only"},
      {{"dev/automation/a", "--rule", "get:pods", "--audience", "vault"},
       "PERMISSION_DENIED",
       "policy.allowed_audiences"},
      {{"dev/automation/a", "--rule", "get:pods", "--ttl", "48h"},
       "INVALID_ARGUMENT",
       "policy.max_ttl"},
      {{"dev/automation/a", "--rule", "get:pods", "--grace", "2h"},
       "INVALID_ARGUMENT",
       "policy.max_grace"},
      {{"dev/automation/a", "--rule", "get:pods", "--label",
        "pod-security.kubernetes.io/enforce=privileged"},
       "PERMISSION_DENIED",
       "policy.reserved_label_prefixes"},
      {{"dev/psa/a", "--create-namespace", "--rule", "get:pods", "--label",
        "pod-security.kubernetes.io/enforce=privileged"},
       "PERMISSION_DENIED",
       "policy.allow_create_namespace"},
      {{"dev/automation/a", "--rule", "get:pods", "--adopt"},
       "PERMISSION_DENIED",
       "policy.allow_adopt"},
      {{"dev/automation/a", "--role-ref", "ClusterRole/cluster-admin"},
       "PERMISSION_DENIED",
       "policy.allowed_role_refs"},
      {{"dev/automation/a", "--rule", "get:pods", "--mode", "legacy"},
       "PERMISSION_DENIED",
       "policy.allow_legacy_tokens"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"provision"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    RunResult r = env_.Kcred(args);
    const std::string what = absl::StrJoin(c.args, " ");
    EXPECT_EQ(r.exit_code, 1) << what << ": " << r.out;
    EXPECT_THAT(r.err, HasSubstr(c.code)) << what;
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("clusters[\"dev\"].", c.key)))
        << what << ": " << r.err;
  }
  RunResult grace = env_.Kcred({"rotate", "dev/automation/existing", "--grace", "2h"});
  EXPECT_EQ(grace.exit_code, 1);
  EXPECT_THAT(grace.err, HasSubstr("clusters[\"dev\"].policy.max_grace"));
  // Nothing was created (or rotated) by any refused request.
  EXPECT_EQ(ClusterState(), before);
  EXPECT_EQ(env_.LabelledObjects("a"), "");
}

// The README's example works within the defaults (its namespace exists here; dev mode lets kcred
// create it), and the account it makes is what the rules say.
TEST_F(AdmissionTest, ReadmeExampleStillWorks) {
  env_.KcredOk(
      {"provision", "dev/automation/ci-bot", "--rule", "get,list,watch:pods,services,configmaps"});
  const std::string kubeconfig = env_.FetchKubeconfig("dev/automation/ci-bot", "ci-bot.kubeconfig");
  EXPECT_EQ(env_.Kubectl(kubeconfig, {"get", "pods", "-n", "automation"}).exit_code, 0);
  RunResult secrets = env_.Kubectl(kubeconfig, {"get", "secrets", "-n", "automation"});
  EXPECT_NE(secrets.exit_code, 0);
  EXPECT_THAT(secrets.err, HasSubstr("Forbidden"));
  RunResult can_i = env_.Kubectl(kubeconfig, {"auth", "can-i", "*", "*", "-A"});
  EXPECT_EQ(can_i.out, "no\n");
}

// kcredd holds only systemd/kcredd-rbac.yaml's roles: kcred-devcluster refuses to let it create a
// role granting more than it holds, and kcredd reports the refusal and leaves nothing behind.
TEST_F(AdmissionTest, LeastPrivilegeCredentialCannotEscalate) {
  auto kubeconfig = absl::StrCat(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: dev\n  cluster:\n    server: https://",
      env_.address(), "\n    certificate-authority: ", env_.File("cluster/ca.crt"),
      "\nusers:\n- name: kcredd\n  user:\n    tokenFile: ", env_.File("kcredd.token"),
      "\ncontexts:\n- name: kcredd\n  context: {cluster: dev, user: kcredd}\n"
      "current-context: kcredd\n");
  ASSERT_TRUE(WriteFile(env_.File("kcredd.kubeconfig"), kubeconfig, 0600).ok());
  RunResult wildcard =
      env_.Kubectl(env_.File("kcredd.kubeconfig"),
                   {"create", "clusterrole", "everything", "--verb=*", "--resource=*"});
  EXPECT_NE(wildcard.exit_code, 0);
  EXPECT_THAT(wildcard.err,
              HasSubstr("is attempting to grant RBAC permissions not currently held"));
  EXPECT_EQ(
      env_.Kubectl(env_.File("kcredd.kubeconfig"), {"create", "role", "reader", "-n", "automation",
                                                    "--verb=get", "--resource=pods"})
          .exit_code,
      0);
  // Within admission, outside kcredd-grantable: Kubernetes refuses it, kcredd rolls back.
  RunResult nodes =
      env_.Kcred({"provision", "dev/automation/pv-reader", "--rule", "get:persistentvolumes"});
  EXPECT_EQ(nodes.exit_code, 1);
  EXPECT_THAT(nodes.err, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(nodes.err, HasSubstr("attempting to grant RBAC permissions not currently held"));
  EXPECT_EQ(env_.LabelledObjects("pv-reader"), "");
}

// kcredd --dev runs the README's walk-through as printed (its policy lets kcred create the
// namespace), refuses `*:*:*` there too, and serves only the user who started it.
TEST(DevModeTest, RunsTheReadmeWalkThrough) {
  TempDir dir;
  ProcessOptions options;
  options.argv = {BinaryPath("kcredd"), "--dev",           "--dev-dir",       dir.File("dev"),
                  "--ready-file",       dir.File("ready"), "--log-level=warn"};
  options.stdout_file = dir.File("kcredd.log");
  auto kcredd = Process::Start(options);
  ASSERT_TRUE(kcredd.ok());
  ASSERT_TRUE(WaitForFile(dir.File("ready"), std::chrono::seconds(60)).ok())
      << ReadFile(dir.File("kcredd.log")).value_or("");
  auto kcred = [&](std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("kcred"));
    return testing::Run(
        args, {{"KCRED_SERVER", "unix:" + dir.File("dev/kcredd.sock")}, {"HOME", dir.path()}});
  };
  RunResult provisioned = kcred({"provision", "dev/automation/ci-bot", "--create-namespace",
                                 "--rule", "get,list,watch:pods,services,configmaps"});
  EXPECT_EQ(provisioned.exit_code, 0) << provisioned.err;
  RunResult kubeconfig =
      kcred({"kubeconfig", "dev/automation/ci-bot", "-o", dir.File("ci-bot.kubeconfig")});
  EXPECT_EQ(kubeconfig.exit_code, 0) << kubeconfig.err;
  RunResult pods = testing::Run({"/usr/bin/kubectl", "--kubeconfig", dir.File("ci-bot.kubeconfig"),
                                 "get", "pods", "-n", "automation"},
                                {{"HOME", dir.path()}});
  EXPECT_EQ(pods.exit_code, 0) << pods.err;
  RunResult everything = kcred({"provision", "dev/automation/root-of-all", "--rule", "*:*:*"});
  EXPECT_EQ(everything.exit_code, 1);
  EXPECT_THAT(everything.err, HasSubstr("policy.forbidden.verbs"));
  RunResult who = kcred({"whoami"});
  EXPECT_THAT(who.out, HasSubstr("dev mode: the user who started kcredd"));
  EXPECT_EQ(kcredd->get()->Stop(), 0);
}

}  // namespace
}  // namespace kcred::testing
