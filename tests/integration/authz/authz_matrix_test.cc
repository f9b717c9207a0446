// Shows kcredd's caller authorization end to end, as a matrix: two unix identities (root, and
// nobody through setpriv, on kcredd's socket) and two mTLS client certificates (identified by CN
// and by URI SAN), every action, an account inside and one outside their globs. Every allowed
// cell succeeds, every other is PERMISSION_DENIED, and each cell leaves its audit record.
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/integration/authz/authz_env.h"

namespace kcred::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using json = nlohmann::json;

struct Caller {
  std::string name;
  std::vector<std::string> prefix;      // how the process runs (setpriv for another uid)
  std::vector<std::string> connection;  // kcred-rpc's connection flags
  std::set<std::string> actions;        // granted on dev/team-a/*
  std::string audit_key;                // "uid" or "common_name": how its records name it
  json audit_value;
};

const std::vector<std::string>& AllActions() {
  static const auto* const actions = new std::vector<std::string>{
      "provision", "get",    "list",   "watch",         "get-kubeconfig",
      "get-token", "rotate", "delete", "list-clusters", "doctor"};
  return *actions;
}

class AuthzMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.StartCluster();
    for (const char* ns : {"team-a", "team-b"}) env_.AdminOk({"create", "namespace", ns});
    ASSERT_TRUE(WriteTestPki(env_.dir(), {{"builder", "builder", {}, {}},
                                          {"ci", "ci-runner", {}, {"spiffe://corp/ci"}}})
                    .ok());
    // nobody must reach the socket in the test's directory: traverse it, and be in its group.
    ASSERT_EQ(chmod(env_.dir().c_str(), 0711), 0);
    WriteAuthzConfig(env_, R"(authorization:
  rules:
  - subjects: ["unix:uid:0"]
    actions: ["*"]
    accounts: ["dev/team-a/*"]
  - subjects: ["unix:uid:65534"]
    actions: [get, list, watch, get-kubeconfig, get-token, list-clusters]
    accounts: ["dev/team-a/*"]
  - subjects: ["x509:cn:builder"]
    actions: [provision, get, rotate, delete, get-token]
    accounts: ["dev/team-a/*"]
  - subjects: ["x509:uri:spiffe://corp/ci"]
    actions: [list, watch, get-kubeconfig, list-clusters]
    accounts: ["dev/team-a/*"]
  - subjects: ["unix:group:users"]
    actions: [get]
    accounts: ["dev/team-b/*"]
accounts:
  items:
  - account: dev/team-b/outside
    spec: {access: {rules: [{verbs: [get], resources: [pods]}]}}
)");
    env_.StartKcredd();
    ASSERT_TRUE(env_.WaitForKcreddLog("1 declared: 1 created")) << env_.KcreddLog();
    const std::string tcp = TcpAddress(env_);
    const std::string unix_socket = "unix:" + env_.socket();
    auto tls = [&](const std::string& client) {
      return std::vector<std::string>{"--server", tcp,
                                      "--ca",     env_.File("ca.crt"),
                                      "--cert",   env_.File(client + ".crt"),
                                      "--key",    env_.File(client + ".key")};
    };
    callers_ = {
        {"root",
         {},
         {"--server", unix_socket},
         {AllActions().begin(), AllActions().end()},
         "uid",
         0},
        {"nobody",
         kAsNobody,
         {"--server", unix_socket},
         {"get", "list", "watch", "get-kubeconfig", "get-token", "list-clusters"},
         "uid",
         65534},
        {"builder",
         {},
         tls("builder"),
         {"provision", "get", "rotate", "delete", "get-token"},
         "common_name",
         "builder"},
        {"ci",
         {},
         tls("ci"),
         {"list", "watch", "get-kubeconfig", "list-clusters"},
         "common_name",
         "ci-runner"},
    };
  }

  // Runs kcred-rpc as `caller`.
  RunResult Call(const Caller& caller, const std::string& action, const std::string& account) {
    std::vector<std::string> argv = caller.prefix;
    argv.push_back(BinaryPath("kcred-rpc"));
    argv.insert(argv.end(), caller.connection.begin(), caller.connection.end());
    argv.push_back(action);
    argv.push_back(account);
    return testing::Run(argv, {}, std::chrono::seconds(30));
  }

  KcredEnv env_;
  std::vector<Caller> callers_;
};

// Every identity may do exactly what its rules grant, inside their account globs and not outside.
TEST_F(AuthzMatrixTest, EveryIdentityEveryActionInsideAndOutsideItsGlobs) {
  // The accounts each cell acts on, made by root (which may provision in team-a).
  for (const Caller& caller : callers_) {
    for (const std::string& action : AllActions()) {
      if (action == "provision") continue;
      env_.KcredOk({"provision", absl::StrCat("dev/team-a/", caller.name, "-", action), "--rule",
                    "get:pods"});
    }
  }
  int cells = 0;
  for (const Caller& caller : callers_) {
    for (const std::string& action : AllActions()) {
      for (bool inside : {true, false}) {
        const std::string account =
            inside ? absl::StrCat("dev/team-a/", caller.name, "-",
                                  action == "provision" ? "new" : action)
                   : (action == "list-clusters" ? "prod/team-a/any" : "dev/team-b/outside");
        const bool granted = caller.actions.count(action) > 0;
        const std::string cell = absl::StrCat(caller.name, " ", action, " ", account);
        const size_t records = AuditRecords(env_).size();
        RunResult r = Call(caller, action, account);
        const std::string code = std::string(absl::StripAsciiWhitespace(
            std::vector<std::string>(absl::StrSplit(r.out, '\n')).front()));
        if (inside && granted) {
          EXPECT_EQ(r.exit_code, 0) << cell << ": " << r.out << r.err;
          EXPECT_EQ(code, "OK") << cell;
        } else if (action == "list-clusters" && granted) {
          // The call is the caller's, its answer holds only the clusters of its globs.
          EXPECT_EQ(code, "OK") << cell;
          EXPECT_EQ(r.exit_code, 1) << cell << ": prod listed: " << r.out;
        } else {
          EXPECT_EQ(code, "PERMISSION_DENIED") << cell << ": " << r.out << r.err;
          EXPECT_THAT(r.out, HasSubstr("no rule of kcredd's authorization policy")) << cell;
        }
        // Exactly one record for the cell, naming the caller, the action and the decision.
        std::vector<json> after = AuditRecords(env_);
        ASSERT_EQ(after.size(), records + 1) << cell;
        const json& record = after.back();
        EXPECT_EQ(record["action"], action) << cell;
        if (action != "list-clusters") {
          EXPECT_EQ(record["account"], account) << cell;
        }
        const json& who = caller.audit_key == "uid"
                              ? record["caller"]["uid"]
                              : record["caller"]["certificate"]["common_name"];
        EXPECT_EQ(who, caller.audit_value) << cell;
        EXPECT_EQ(record["transport"], caller.audit_key == "uid" ? "unix" : "tls") << cell;
        EXPECT_EQ(record["decision"],
                  granted && (inside || action == "list-clusters") ? "allow" : "deny")
            << cell;
        ++cells;
      }
    }
  }
  EXPECT_EQ(cells, 80);
}

// Supplementary groups count: nobody with the group "users" may read team-b's account.
TEST_F(AuthzMatrixTest, SupplementaryGroupsAreSubjects) {
  const group* users = getgrnam("users");
  if (users == nullptr) GTEST_SKIP() << "this host has no group \"users\"";
  Caller with_group = callers_[1];
  with_group.prefix = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                       absl::StrCat("--groups=", users->gr_gid), "--"};
  EXPECT_EQ(Call(callers_[1], "get", "dev/team-b/outside").exit_code, 1);
  RunResult r = Call(with_group, "get", "dev/team-b/outside");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  json record = AuditRecords(env_).back();
  EXPECT_THAT(record["rule"].get<std::string>(), StartsWith("authorization.rules[4] ("));
}

// kcred whoami and kcred can-i tell a caller what kcredd thinks of it.
TEST_F(AuthzMatrixTest, WhoAmIAndCanI) {
  std::vector<std::string> kcred = kAsNobody;
  kcred.push_back(BinaryPath("kcred"));
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = kcred;
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv, {{"KCRED_SERVER", "unix:" + env_.socket()}},
                        std::chrono::seconds(30));
  };
  RunResult who = run({"whoami"});
  ASSERT_EQ(who.exit_code, 0) << who.err;
  EXPECT_THAT(who.out, HasSubstr("You are unix:uid:65534(nobody) (unix, pid "));
  EXPECT_THAT(who.out, HasSubstr("unix:group:nogroup"));
  EXPECT_THAT(who.out, HasSubstr("authorization.rules[1]"));
  EXPECT_THAT(who.out, HasSubstr("actions:  get, list, watch, get-kubeconfig, get-token"));
  EXPECT_THAT(who.out, Not(HasSubstr("authorization.rules[0]")));
  RunResult yes = run({"can-i", "get-token", "dev/team-a/anything"});
  EXPECT_EQ(yes.exit_code, 0);
  EXPECT_EQ(yes.out, "yes\n");
  RunResult no = run({"can-i", "rotate", "dev/team-a/anything"});
  EXPECT_EQ(no.exit_code, 1);
  EXPECT_THAT(no.out, HasSubstr("no - no rule of kcredd's authorization policy grants rotate"));
  RunResult bad = run({"can-i", "read", "dev/team-a/anything"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("unknown action \"read\""));
  // The same denial through the real client, with the identity and the account in the message.
  RunResult denied = run({"rotate", "dev/team-a/x"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.err, HasSubstr("unix:uid:65534(nobody) asked to rotate on account "
                                    "dev/team-a/x, and no rule"));
}

// The policy is reloaded on SIGHUP: calls that start afterwards are decided by the new rules.
TEST_F(AuthzMatrixTest, PolicyIsReloadedOnSighup) {
  EXPECT_EQ(Call(callers_[0], "get", "dev/team-b/outside").exit_code, 1);
  std::string config = ReadFile(env_.File("kcredd.yaml")).value_or("");
  const std::string before =
      "- subjects: [\"unix:uid:0\"]\n    actions: [\"*\"]\n    accounts: "
      "[\"dev/team-a/*\"]";
  ASSERT_NE(config.find(before), std::string::npos);
  config.replace(config.find(before), before.size(),
                 "- subjects: [\"unix:uid:0\"]\n    actions: [\"*\"]\n    accounts: [\"*/*/*\"]");
  ASSERT_TRUE(WriteFile(env_.File("kcredd.yaml"), config).ok());
  env_.kcredd()->Signal(SIGHUP);
  // The start logged the old policy (also 5 rules); the second line is the reload's.
  ASSERT_TRUE(env_.WaitForKcreddLog("authorization: 5 rules", 2)) << env_.KcreddLog();
  RunResult r = Call(callers_[0], "get", "dev/team-b/outside");
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

}  // namespace
}  // namespace kcred::testing
