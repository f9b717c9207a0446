// kcred doctor end to end: kcredd and kcred-devcluster as real processes; drift made behind
// kcred's back with the real kubectl is reported, repaired by --fix, and the account's kubeconfig
// works again.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/kcred_env.h"
#include "tests/support/process.h"

namespace kcred {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunResult;
using json = nlohmann::json;

class DoctorE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.StartCluster();
    env_.WriteConfig();
    env_.StartKcredd();
    env_.AdminOk({"create", "namespace", "automation"});
  }

  testing::KcredEnv env_;
};

// Edited rules, a deleted binding, a labelled Secret no account owns and a deleted token anchor are
// each reported (exit 1); --fix repairs them all; then doctor exits 0 and kubectl works again.
TEST_F(DoctorE2eTest, DriftIsReportedAndRepaired) {
  env_.KcredOk({"provision", "dev/automation/ci-bot", "--rule", "get,list:pods"});
  env_.KcredOk({"provision", "dev/automation/builder", "--rule", "get,list:configmaps"});
  RunResult clean = env_.Kcred({"doctor"});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_THAT(clean.out, HasSubstr("no drift: 2 account(s)"));

  const std::string kubeconfig = env_.FetchKubeconfig("dev/automation/ci-bot", "ci-bot.kubeconfig");
  ASSERT_EQ(env_.Kubectl(kubeconfig, {"get", "pods", "-n", "automation"}).exit_code, 0);

  // Behind kcred's back: ci-bot's Role gets other rules ...
  json role =
      json::parse(env_.AdminOk({"get", "role", "ci-bot", "-n", "automation", "-o", "json"}));
  role["rules"] =
      json::array({{{"apiGroups", {""}}, {"resources", {"secrets"}}, {"verbs", {"get"}}}});
  ASSERT_TRUE(testing::WriteFile(env_.File("role.json"), role.dump()).ok());
  env_.AdminOk({"replace", "-f", env_.File("role.json")});
  // ... builder loses its RoleBinding ...
  env_.AdminOk({"delete", "rolebinding", "builder", "-n", "automation"});
  // ... a Secret labelled for an account that does not exist appears ...
  json orphan = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"type", "Opaque"},
                 {"metadata",
                  {{"name", "ghost-kcred-1"},
                   {"namespace", "automation"},
                   {"labels",
                    {{"app.kubernetes.io/managed-by", "kcred"},
                     {"kcred.io/cluster", "dev"},
                     {"kcred.io/namespace", "automation"},
                     {"kcred.io/account", "ghost"}}}}}};
  ASSERT_TRUE(testing::WriteFile(env_.File("orphan.json"), orphan.dump()).ok());
  env_.AdminOk({"create", "-f", env_.File("orphan.json")});
  // ... and the anchor of ci-bot's current token is deleted, which revokes the token.
  env_.AdminOk({"delete", "secret", "ci-bot-kcred-1", "-n", "automation"});
  EXPECT_NE(env_.Kubectl(kubeconfig, {"get", "pods", "-n", "automation"}).exit_code, 0);

  RunResult drift = env_.Kcred({"doctor"});
  EXPECT_EQ(drift.exit_code, 1) << drift.out << drift.err;
  EXPECT_THAT(drift.out, HasSubstr("OBJECT_CHANGED"));
  EXPECT_THAT(drift.out, HasSubstr("Role automation/ci-bot"));
  EXPECT_THAT(drift.out, HasSubstr("OBJECT_MISSING"));
  EXPECT_THAT(drift.out, HasSubstr("RoleBinding automation/builder"));
  EXPECT_THAT(drift.out, HasSubstr("ORPHAN_OBJECT"));
  EXPECT_THAT(drift.out, HasSubstr("Secret automation/ghost-kcred-1"));
  EXPECT_THAT(drift.out, HasSubstr("TOKEN_NOT_ACCEPTED"));
  EXPECT_THAT(drift.out, HasSubstr("drift: 2 account(s)"));
  EXPECT_THAT(drift.out, HasSubstr("4 finding(s)"));

  RunResult json_report = env_.Kcred({"doctor", "dev", "-o", "json"});
  EXPECT_EQ(json_report.exit_code, 1);
  EXPECT_EQ(json::parse(json_report.out)["findings"].size(), 4u) << json_report.out;

  RunResult fixed = env_.Kcred({"doctor", "--fix"});
  EXPECT_EQ(fixed.exit_code, 0) << fixed.out << fixed.err;
  EXPECT_THAT(fixed.out, HasSubstr("4 repaired, 0 left"));
  EXPECT_THAT(fixed.out, Not(HasSubstr(" open ")));

  RunResult after = env_.Kcred({"doctor"});
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  EXPECT_THAT(after.out, HasSubstr("no drift"));

  // The repairs are real: rules, binding, no orphan, and a working token again.
  json restored =
      json::parse(env_.AdminOk({"get", "role", "ci-bot", "-n", "automation", "-o", "json"}));
  EXPECT_EQ(restored["rules"][0]["resources"], json::array({"pods"}));
  env_.AdminOk({"get", "rolebinding", "builder", "-n", "automation"});
  RunResult ghost =
      env_.Kubectl(env_.admin(), {"get", "secret", "ghost-kcred-1", "-n", "automation"});
  EXPECT_NE(ghost.exit_code, 0);
  const std::string renewed = env_.FetchKubeconfig("dev/automation/ci-bot", "renewed.kubeconfig");
  RunResult pods = env_.Kubectl(renewed, {"get", "pods", "-n", "automation"});
  EXPECT_EQ(pods.exit_code, 0) << pods.err;
  const std::string builder = env_.FetchKubeconfig("dev/automation/builder", "builder.kubeconfig");
  RunResult configmaps = env_.Kubectl(builder, {"get", "configmaps", "-n", "automation"});
  EXPECT_EQ(configmaps.exit_code, 0) << configmaps.err;

  // The --fix call's audit record lists its four repairs.
  json record;
  for (const std::string& line : env_.AuditLines()) {
    json parsed = json::parse(line);
    if (parsed["method"] == "Doctor" && parsed.value("fix", false)) record = parsed;
  }
  ASSERT_TRUE(record.is_object());
  EXPECT_EQ(record["decision"], "allow");
  EXPECT_EQ(record["repaired"].size(), 4u) << record.dump();
}

// Usage errors exit 2, and --help answers.
TEST_F(DoctorE2eTest, UsageAndHelp) {
  RunResult help = env_.Kcred({"doctor", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_THAT(help.out, HasSubstr("TOKEN_NOT_REVOKED"));
  RunResult extra = env_.Kcred({"doctor", "dev", "prod"});
  EXPECT_EQ(extra.exit_code, 2);
  EXPECT_THAT(extra.err, HasSubstr("takes at most one CLUSTER"));
  RunResult format = env_.Kcred({"doctor", "-o", "xml"});
  EXPECT_EQ(format.exit_code, 2);
  RunResult unknown = env_.Kcred({"doctor", "nowhere"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.out;
  EXPECT_THAT(unknown.err, HasSubstr("nowhere"));
}

}  // namespace
}  // namespace kcred
