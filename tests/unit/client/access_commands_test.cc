// Shows kcred whoami and kcred can-i over real gRPC against a fake kcredd: what they send, what
// they print, and can-i's exit codes (0 yes, 1 no, 2 usage, 3 no answer), like kubectl auth can-i.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "client/cli.h"
#include "tests/support/simulated_clock.h"
#include "tests/unit/client/fake_broker.h"

namespace kcred::client {
namespace {

using testing::FakeBrokerServer;
using ::testing::HasSubstr;

class AccessCommandsTest : public ::testing::Test {
 protected:
  struct Result {
    int code;
    std::string out;
    std::string err;
  };

  Result Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server_.address(), "--timeout", "20s"});
    std::istringstream in;
    std::ostringstream out, err;
    const int code = RunCli(args, in, out, err, clock_);
    return {code, out.str(), err.str()};
  }

  FakeBrokerServer server_;
  kcred::testing::SimulatedClock clock_;
};

// whoami prints the identity, its subjects and the rules that name it.
TEST_F(AccessCommandsTest, WhoAmIShowsIdentityAndRules) {
  v1::WhoAmIResponse& who = server_.broker().whoami;
  who.mutable_identity()->set_display("unix:uid:1000(alice)");
  who.mutable_identity()->set_transport("unix");
  who.mutable_identity()->set_peer("pid 42");
  who.mutable_identity()->add_subjects("unix:uid:1000");
  who.mutable_identity()->add_subjects("unix:group:ci");
  v1::AuthorizationRule* rule = who.add_rules();
  rule->set_source("authorization.rules[0] (kcredd.yaml:3:5)");
  rule->add_subjects("unix:group:ci");
  rule->add_actions("get-token");
  rule->add_accounts("dev/ci/*");
  Result r = Cli({"whoami"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "You are unix:uid:1000(alice) (unix, pid 42).\n"
            "Subjects: unix:uid:1000, unix:group:ci\n"
            "Rules that name you:\n"
            "  authorization.rules[0] (kcredd.yaml:3:5)\n"
            "    subjects: unix:group:ci\n"
            "    actions:  get-token\n"
            "    accounts: dev/ci/*\n");
  Result json = Cli({"whoami", "-o", "json"});
  EXPECT_EQ(json.code, kExitOk);
  EXPECT_THAT(json.out, HasSubstr("\"display\": \"unix:uid:1000(alice)\""));
  server_.broker().whoami.clear_rules();
  EXPECT_THAT(Cli({"whoami"}).out, HasSubstr("No rule of kcredd's authorization policy names you"));
  EXPECT_EQ(Cli({"whoami", "extra"}).code, kExitUsage);
}

// can-i sends the action and account, prints yes or no, and exits 0 or 1.
TEST_F(AccessCommandsTest, CanIAnswersWithItsExitCode) {
  server_.broker().access.set_allowed(true);
  server_.broker().access.set_reason("allowed by authorization.rules[0]");
  Result yes = Cli({"can-i", "get-token", "dev/ci/deployer"});
  EXPECT_EQ(yes.code, kExitOk);
  EXPECT_EQ(yes.out, "yes\n");
  EXPECT_EQ(Cli({"can-i", "get-token", "dev/ci/deployer", "--explain"}).out,
            "yes - allowed by authorization.rules[0]\n");
  ASSERT_EQ(server_.broker().CheckAccessRequests().size(), 2u);
  const v1::CheckAccessRequest sent = server_.broker().CheckAccessRequests()[0];
  EXPECT_EQ(sent.action(), "get-token");
  EXPECT_EQ(sent.account().namespace_(), "ci");

  server_.broker().access.set_allowed(false);
  server_.broker().access.set_reason("no rule grants it");
  Result no = Cli({"can-i", "rotate", "dev/ci/deployer"});
  EXPECT_EQ(no.code, kExitFailed);
  EXPECT_EQ(no.out, "no - no rule grants it\n");
  Result quiet = Cli({"can-i", "rotate", "dev/ci/deployer", "-q"});
  EXPECT_EQ(quiet.code, kExitFailed);
  EXPECT_EQ(quiet.out, "");

  // list-clusters takes an optional cluster instead of an account.
  server_.broker().access.set_allowed(true);
  EXPECT_EQ(Cli({"can-i", "list-clusters"}).code, kExitOk);
  EXPECT_EQ(Cli({"can-i", "list-clusters", "dev"}).code, kExitOk);
  EXPECT_EQ(server_.broker().CheckAccessRequests().back().account().cluster(), "dev");
}

// Usage errors are exit 2 and name the problem; a kcredd that cannot answer is exit 3, not "no".
TEST_F(AccessCommandsTest, CanIUsageAndUnansweredQuestions) {
  Result unknown = Cli({"can-i", "read", "dev/ci/deployer"});
  EXPECT_EQ(unknown.code, kExitUsage);
  EXPECT_THAT(unknown.err, HasSubstr("unknown action \"read\"; use one of provision, get"));
  Result missing = Cli({"can-i", "get-token"});
  EXPECT_EQ(missing.code, kExitUsage);
  EXPECT_THAT(missing.err, HasSubstr("give CLUSTER/NAMESPACE/NAME"));
  EXPECT_EQ(Cli({"can-i", "get-token", "not-an-account"}).code, kExitUsage);
  server_.broker().failure = grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  Result unanswered = Cli({"can-i", "get-token", "dev/ci/deployer"});
  EXPECT_EQ(unanswered.code, 3);
  EXPECT_THAT(unanswered.err, HasSubstr("UNAVAILABLE: down"));
}

}  // namespace
}  // namespace kcred::client
