// kcred's account commands driven through RunCli against a fake CredentialBroker on a unix socket.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "client/arguments.h"
#include "client/cli.h"
#include "common/kubeconfig.h"
#include "tests/support/simulated_clock.h"
#include "tests/unit/client/fake_broker.h"

namespace kcred::client {
namespace {

using ::kcred::client::testing::FakeBroker;
using ::kcred::client::testing::FakeBrokerServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);  // 2027-01-15T08:00:00Z

// Sets an environment variable for the scope of a test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

int ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

struct CliResult {
  int code;
  std::string out;
  std::string err;
};

KubeconfigEntry SampleEntry() {
  KubeconfigEntry e;
  e.cluster_name = "kcred-dev";
  e.server = "https://127.0.0.1:6443";
  e.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  e.user_name = "kcred-dev-automation-ci-bot";
  e.token = "tok-secret-1";
  e.context_name = "kcred-dev-automation-ci-bot";
  e.namespace_name = "automation";
  return e;
}

v1::Account SampleAccount(const std::string& name = "ci-bot") {
  v1::Account a;
  a.mutable_ref()->set_cluster("dev");
  a.mutable_ref()->set_namespace_("automation");
  a.mutable_ref()->set_name(name);
  a.mutable_spec()->mutable_access()->mutable_token_only();
  a.mutable_status()->set_generation(2);
  a.mutable_status()->set_token_fingerprint("sha256:00112233445566ff");
  a.mutable_status()->mutable_expire_time()->set_seconds(absl::ToUnixSeconds(kNow) + 3600);
  v1::ObjectReference* sa = a.mutable_status()->add_managed_objects();
  sa->set_api_version("v1");
  sa->set_kind("ServiceAccount");
  sa->set_namespace_("automation");
  sa->set_name(name);
  return a;
}

class CliAccountCommandsTest : public ::testing::Test {
 protected:
  CliAccountCommandsTest() {
    const KubeconfigEntry e = SampleEntry();
    v1::GetKubeconfigResponse& k = server_.broker().kubeconfig;
    k.set_kubeconfig(RenderKubeconfig(e));
    k.set_context_name(e.context_name);
    k.set_cluster_name(e.cluster_name);
    k.set_user_name(e.user_name);
    k.set_server(e.server);
    k.set_certificate_authority(e.ca_pem);
    k.set_namespace_(e.namespace_name);
    k.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(kNow) + 3600);
  }

  CliResult Cli(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {"--timeout", "20s"});
    return CliWithoutTimeout(std::move(args), stdin_data);
  }

  CliResult CliWithoutTimeout(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {"--server", server_.address()});
    std::istringstream in(stdin_data);
    std::ostringstream out, err;
    const int code = RunCli(args, in, out, err, clock_);
    return {code, out.str(), err.str()};
  }

  FakeBroker& broker() { return server_.broker(); }

  FakeBrokerServer server_;
  kcred::testing::SimulatedClock clock_{kNow, kcred::testing::SimulatedClock::SleepMode::kInstant};
  kcred::testing::TempDir dir_;
};

// Without flags the kubeconfig goes to stdout exactly as kcredd sent it.
TEST_F(CliAccountCommandsTest, KubeconfigToStdout) {
  CliResult r = Cli({"kubeconfig", "dev/automation/ci-bot"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, broker().kubeconfig.kubeconfig());
  ASSERT_EQ(broker().Refs().size(), 1u);
  EXPECT_EQ(FormatAccountRef(broker().Refs()[0]), "dev/automation/ci-bot");
}

// -o FILE writes the kubeconfig with mode 0600, replacing a looser existing file.
TEST_F(CliAccountCommandsTest, KubeconfigToFileIs0600) {
  const std::string path = dir_.File("ci-bot.kubeconfig");
  ASSERT_TRUE(kcred::testing::WriteFile(path, "old", 0644).ok());
  CliResult r = Cli({"kubeconfig", "dev/automation/ci-bot", "-o", path});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(*kcred::testing::ReadFile(path), broker().kubeconfig.kubeconfig());
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(r.out, "wrote the kubeconfig of dev/automation/ci-bot to " + path +
                       " (context \"kcred-dev-automation-ci-bot\", token expires "
                       "2027-01-15T09:00:00Z (in 1h))\n");
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("tok-secret-1")));
}

// -o into a directory that does not exist fails with exit 1 and names the directory.
TEST_F(CliAccountCommandsTest, KubeconfigToMissingDirectoryFails) {
  CliResult r = Cli({"kubeconfig", "dev/automation/ci-bot", "-o", dir_.File("no/such/file")});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.err, HasSubstr("kcred kubeconfig: cannot create a temporary file in " +
                               dir_.File("no/such")));
}

// --merge creates $KUBECONFIG's first file (0600, directory 0700) holding the account's entry.
TEST_F(CliAccountCommandsTest, KubeconfigMergeCreatesFile) {
  const std::string path = dir_.File("kube/config");
  ScopedEnv env("KUBECONFIG", path + ":" + dir_.File("second"));
  CliResult r = Cli({"kubeconfig", "dev/automation/ci-bot", "--merge"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(ModeOf(dir_.File("kube")), 0700);
  EXPECT_EQ(ModeOf(dir_.File("second")), -1);
  const YAML::Node root = YAML::LoadFile(path);
  EXPECT_EQ(root["users"][0]["user"]["token"].as<std::string>(), "tok-secret-1");
  EXPECT_EQ(root["current-context"].as<std::string>(), "kcred-dev-automation-ci-bot");
  EXPECT_EQ(r.out, "merged context \"kcred-dev-automation-ci-bot\" of dev/automation/ci-bot into " +
                       path + " (token expires 2027-01-15T09:00:00Z (in 1h))\n");
}

// --merge into ~/.kube/config keeps other entries; --set-current switches the context.
TEST_F(CliAccountCommandsTest, KubeconfigMergeKeepsOthersAndSetsCurrent) {
  ScopedEnv no_kubeconfig("KUBECONFIG", std::nullopt);
  ScopedEnv home("HOME", dir_.path());
  const std::string path = dir_.File(".kube/config");
  ASSERT_EQ(mkdir(dir_.File(".kube").c_str(), 0755), 0);
  ASSERT_TRUE(kcred::testing::WriteFile(path,
                                        "apiVersion: v1\nkind: Config\nclusters:\n- name: mine\n  "
                                        "cluster: {server: https://mine}\nusers: []\ncontexts:\n- "
                                        "name: mine\n  context: {cluster: mine}\n"
                                        "current-context: mine\n",
                                        0600)
                  .ok());
  CliResult r = Cli({"kubeconfig", "dev/automation/ci-bot", "--merge"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  YAML::Node root = YAML::LoadFile(path);
  EXPECT_EQ(root["clusters"].size(), 2u);
  EXPECT_EQ(root["clusters"][0]["name"].as<std::string>(), "mine");
  EXPECT_EQ(root["current-context"].as<std::string>(), "mine");

  r = Cli({"kubeconfig", "dev/automation/ci-bot", "--merge", "--set-current"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("; it is now the current context\n"));
  root = YAML::LoadFile(path);
  EXPECT_EQ(root["clusters"].size(), 2u);
  EXPECT_EQ(root["contexts"].size(), 2u);
  EXPECT_EQ(root["current-context"].as<std::string>(), "kcred-dev-automation-ci-bot");
}

// --exec writes a kubeconfig whose user runs this binary's `token` command, with no token in it.
TEST_F(CliAccountCommandsTest, KubeconfigExec) {
  CliResult r = Cli({"kubeconfig", "dev/automation/ci-bot", "--exec"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("tok-secret-1")));
  const YAML::Node root = YAML::Load(r.out);
  const YAML::Node exec = root["users"][0]["user"]["exec"];
  ASSERT_TRUE(exec.IsMap()) << r.out;
  EXPECT_EQ(exec["apiVersion"].as<std::string>(), "client.authentication.k8s.io/v1");
  EXPECT_EQ(exec["command"].as<std::string>(), std::filesystem::read_symlink("/proc/self/exe"));
  EXPECT_EQ(exec["args"][0].as<std::string>(), "token");
  EXPECT_EQ(exec["args"][1].as<std::string>(), "dev/automation/ci-bot");
  EXPECT_EQ(exec["args"][2].as<std::string>(), "--timeout");
  EXPECT_EQ(exec["env"][0]["name"].as<std::string>(), "KCRED_SERVER");
  EXPECT_EQ(exec["env"][0]["value"].as<std::string>(), server_.address());
  EXPECT_EQ(exec["interactiveMode"].as<std::string>(), "Never");
  EXPECT_EQ(root["clusters"][0]["cluster"]["server"].as<std::string>(), "https://127.0.0.1:6443");

  const std::string path = dir_.File("merged");
  ScopedEnv env("KUBECONFIG", path);
  r = Cli({"kubeconfig", "dev/automation/ci-bot", "--exec", "--merge"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(*kcred::testing::ReadFile(path), Not(HasSubstr("tok-secret-1")));
  EXPECT_TRUE(YAML::LoadFile(path)["users"][0]["user"]["exec"].IsMap());
  EXPECT_EQ(ModeOf(path), 0600);
}

// Usage errors exit 2, name the problem, and call nothing.
TEST_F(CliAccountCommandsTest, KubeconfigUsageErrors) {
  CliResult r = Cli({"kubeconfig", "dev/automation/ci-bot", "-o", "f", "--merge"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred kubeconfig: -o FILE and --merge are exclusive: write a separate file or merge "
            "into your kubeconfig\n");
  r = Cli({"kubeconfig", "dev/automation/ci-bot", "--set-current"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--set-current only applies with --merge"));
  r = Cli({"kubeconfig", "dev/ci-bot"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred kubeconfig: account \"dev/ci-bot\" is not CLUSTER/NAMESPACE/NAME (three "
            "non-empty parts separated by \"/\"), e.g. dev/automation/ci-bot\n");
  r = Cli({"kubeconfig"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred kubeconfig: needs the account as CLUSTER/NAMESPACE/NAME, e.g. kcred kubeconfig "
            "dev/automation/ci-bot\n");
  r = Cli({"kubeconfig", "dev/a/b", "dev/a/c"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred kubeconfig: takes one account, got 2 arguments (dev/a/b dev/a/c), e.g. kcred "
            "kubeconfig dev/automation/ci-bot\n");
  r = Cli({"kubeconfig", "dev/a/b", "--bogus"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "kcred kubeconfig: unknown flag \"--bogus\"; run `kcred kubeconfig --help`\n");
  EXPECT_THAT(broker().Calls(), IsEmpty());
}

// An RPC failure exits 1 with kcredd's message and where kcredd was.
TEST_F(CliAccountCommandsTest, RpcFailureExits1) {
  broker().failure =
      grpc::Status(grpc::StatusCode::NOT_FOUND, "account dev/automation/ghost does not exist");
  CliResult r = Cli({"kubeconfig", "dev/automation/ghost"});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_EQ(r.err, "kcred kubeconfig: kcredd at " + server_.address() +
                       ": NOT_FOUND: account dev/automation/ghost does not exist\n");
  EXPECT_EQ(r.out, "");
  for (const char* command : {"get", "rotate"}) {
    r = Cli({command, "dev/automation/ghost"});
    EXPECT_EQ(r.code, kExitFailed) << command;
    EXPECT_THAT(r.err, HasSubstr("does not exist")) << command;
  }
  r = Cli({"list"});
  EXPECT_EQ(r.code, kExitFailed);

  broker().failure = grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
  r = Cli({"clusters"});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_EQ(r.err, "kcred clusters: kcredd at " + server_.address() +
                       ": UNIMPLEMENTED (this kcredd does not offer the call; kcred and kcredd "
                       "versions may not match: check `kcred version`)\n");
}

// provision from flags sends the spec and prints the outcome, the changes and the account.
TEST_F(CliAccountCommandsTest, ProvisionFromFlags) {
  v1::ProvisionAccountResponse& answer = broker().provision;
  *answer.mutable_account() = SampleAccount();
  answer.set_outcome(v1::PROVISION_OUTCOME_CREATED);
  v1::ObjectChange* change = answer.add_changes();
  *change->mutable_object() = SampleAccount().status().managed_objects(0);
  change->set_action(v1::CHANGE_ACTION_CREATED);
  CliResult r = Cli({"provision", "dev/automation/ci-bot", "--rule", "get,list:pods",
                     "--cluster-scope", "--ttl", "1h", "--grace", "0s"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  // A grace too short for long-running clients is provisioned, with a warning that says so.
  EXPECT_THAT(r.err, HasSubstr("warning: a grace of 0s is shorter than the 5s long-running"));
  EXPECT_EQ(r.out.substr(0, r.out.find("\n\n")),
            "CREATED dev/automation/ci-bot\n  created ServiceAccount automation/ci-bot");
  EXPECT_THAT(r.out, HasSubstr("Generation:     2\n"));
  auto requests = broker().ProvisionRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(FormatAccountRef(requests[0].ref()), "dev/automation/ci-bot");
  EXPECT_EQ(requests[0].spec().scope(), v1::SCOPE_CLUSTER);
  EXPECT_THAT(requests[0].spec().access().rules().rules(0).verbs(), ElementsAre("get", "list"));
  EXPECT_EQ(requests[0].spec().token().ttl().seconds(), 3600);
  EXPECT_TRUE(requests[0].spec().token().has_grace());
  EXPECT_FALSE(requests[0].validate_only());
  EXPECT_THAT(
      Cli({"provision", "dev/automation/ci-bot", "--rule", "get:pods", "--grace", "5s"}).err,
      Not(HasSubstr("warning")));
}

// provision -f - reads the spec from stdin; --dry-run asks kcredd to validate only.
TEST_F(CliAccountCommandsTest, ProvisionFromStdinDryRun) {
  *broker().provision.mutable_account() = SampleAccount();
  broker().provision.set_outcome(v1::PROVISION_OUTCOME_UPDATED);
  CliResult r = Cli({"provision", "-f", "-", "--dry-run"},
                    "account: dev/automation/ci-bot\nspec:\n  access:\n    role_ref: {kind: "
                    "ClusterRole, name: view}\n");
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("dry run, nothing was changed; kcredd would report:\nUPDATED "
                               "dev/automation/ci-bot\n"));
  auto requests = broker().ProvisionRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(requests[0].validate_only());
  EXPECT_EQ(requests[0].spec().access().role_ref().name(), "view");
}

// provision -f FILE takes the account from the argument when the file names none.
TEST_F(CliAccountCommandsTest, ProvisionFromFileWithArgument) {
  const std::string path = dir_.File("spec.yaml");
  ASSERT_TRUE(kcred::testing::WriteFile(path, "spec:\n  access: {token_only: true}\n").ok());
  *broker().provision.mutable_account() = SampleAccount();
  CliResult r = Cli({"provision", "-f", path, "dev/automation/ci-bot", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["account"]["ref"]["name"], "ci-bot");
  auto requests = broker().ProvisionRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(FormatAccountRef(requests[0].ref()), "dev/automation/ci-bot");
  EXPECT_TRUE(requests[0].spec().access().has_token_only());
}

// Bad provision input exits 2 before any call, naming the file position or the flag.
TEST_F(CliAccountCommandsTest, ProvisionUsageErrors) {
  const std::string path = dir_.File("bad.yaml");
  ASSERT_TRUE(kcred::testing::WriteFile(
                  path, "account: dev/automation/ci-bot\nspec:\n  acess: {token_only: true}\n")
                  .ok());
  CliResult r = Cli({"provision", "-f", path});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "kcred provision: " + path +
                       ":3:3: spec.acess: unknown key; expected one of scope, access, "
                       "create_namespace, adopt, token, labels, annotations\n");
  r = Cli({"provision", "-f", path, "--rule", "get:pods"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred provision: -f and --rule are exclusive: describe the whole account in the "
            "file\n");
  r = Cli({"provision", "-f", dir_.File("missing.yaml")});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("-f: cannot read " + dir_.File("missing.yaml")));
  r = Cli({"provision", "-f", "-", "dev/automation/other"},
          "account: dev/automation/ci-bot\nspec: {access: {token_only: true}}\n");
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("the account is named twice"));
  r = Cli({"provision", "dev/automation/ci-bot"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred provision: no access given: use --rule (repeatable), --role-ref or "
            "--token-only (or -f FILE)\n");
  r = Cli({"provision", "dev/automation/ci-bot", "--rule", "get"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--rule \"get\": expected VERBS:RESOURCES"));
  EXPECT_THAT(broker().Calls(), IsEmpty());
}

// get prints the summary by default, the Account as JSON or YAML on request.
TEST_F(CliAccountCommandsTest, GetFormats) {
  broker().account = SampleAccount();
  CliResult r = Cli({"get", "dev/automation/ci-bot"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Account:        dev/automation/ci-bot\n"));
  EXPECT_THAT(r.out, HasSubstr("Expires:        2027-01-15T09:00:00Z (in 1h)\n"));

  r = Cli({"get", "dev/automation/ci-bot", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["status"]["token_fingerprint"], "sha256:00112233445566ff");

  r = Cli({"get", "dev/automation/ci-bot", "-o", "yaml"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const YAML::Node yaml = YAML::Load(r.out);
  EXPECT_EQ(yaml["ref"]["cluster"].as<std::string>(), "dev");
  EXPECT_EQ(yaml["status"]["generation"].as<std::string>(), "2");

  r = Cli({"get", "dev/automation/ci-bot", "-o", "table"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred get: -o \"table\" is not an output format; use json or yaml (or omit -o)\n");
}

// list follows page tokens to the end and prints one table.
TEST_F(CliAccountCommandsTest, ListFollowsPages) {
  for (const char* name : {"a", "b", "c"}) {
    v1::ListAccountsResponse page;
    *page.add_accounts() = SampleAccount(name);
    broker().pages.push_back(page);
  }
  CliResult r = Cli({"list", "--cluster", "dev", "--namespace", "automation", "-l", "team=ci"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "CLUSTER   NAMESPACE    NAME   SCOPE       ACCESS       GENERATION   EXPIRES   READY\n"
            "dev       automation   a      namespace   token-only   2            in 1h     -\n"
            "dev       automation   b      namespace   token-only   2            in 1h     -\n"
            "dev       automation   c      namespace   token-only   2            in 1h     -\n");
  auto requests = broker().ListRequests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].page_token(), "");
  EXPECT_EQ(requests[2].page_token(), "page-2");
  EXPECT_EQ(requests[1].selector().cluster(), "dev");
  EXPECT_EQ(requests[1].selector().namespace_(), "automation");
  EXPECT_EQ(requests[1].selector().label_selector(), "team=ci");

  r = Cli({"list", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["accounts"].size(), 3u);
}

// --limit asks for one page of that size and says when more exist.
TEST_F(CliAccountCommandsTest, ListLimit) {
  for (const char* name : {"a", "b"}) {
    v1::ListAccountsResponse page;
    *page.add_accounts() = SampleAccount(name);
    broker().pages.push_back(page);
  }
  CliResult r = Cli({"list", "--limit", "1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto requests = broker().ListRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].page_size(), 1);
  EXPECT_THAT(r.out, Not(HasSubstr(" b ")));
  EXPECT_EQ(r.err, "(more accounts exist: raise --limit or omit it to list them all)\n");
  r = Cli({"list", "--limit", "1", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["next_page_token"], "page-1");

  r = Cli({"list", "--limit", "0"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred list: --limit \"0\" is not a positive number of accounts, e.g. --limit 50\n");
}

// An empty list says so on stderr and prints nothing on stdout.
TEST_F(CliAccountCommandsTest, ListEmpty) {
  CliResult r = Cli({"list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "No accounts found.\n");
  r = Cli({"list", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "{\n  \"accounts\": []\n}\n");
  r = Cli({"clusters", "-o", "yaml"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "clusters: []\n");
}

// Calls that work on the cluster get 60s unless --timeout says otherwise; reads keep 10s.
TEST_F(CliAccountCommandsTest, ClusterCallsGetALongerDeadline) {
  using std::chrono::seconds;
  ASSERT_EQ(CliWithoutTimeout({"provision", "dev/automation/ci-bot", "--token-only"}).code,
            kExitOk);
  EXPECT_GT(broker().LastDeadlineBudget(), seconds(30));
  EXPECT_LE(broker().LastDeadlineBudget(), seconds(61));  // gRPC rounds deadlines
  ASSERT_EQ(CliWithoutTimeout({"rotate", "dev/automation/ci-bot"}).code, kExitOk);
  EXPECT_GT(broker().LastDeadlineBudget(), seconds(30));
  ASSERT_EQ(
      CliWithoutTimeout({"provision", "dev/automation/ci-bot", "--token-only", "--timeout", "5s"})
          .code,
      kExitOk);
  EXPECT_LE(broker().LastDeadlineBudget(), seconds(6));
  ASSERT_EQ(CliWithoutTimeout({"get", "dev/automation/ci-bot"}).code, kExitOk);
  EXPECT_LE(broker().LastDeadlineBudget(), seconds(11));
}

// rotate sends the reason and grace and reports both generations.
TEST_F(CliAccountCommandsTest, Rotate) {
  v1::RotateTokenResponse& answer = broker().rotate;
  *answer.mutable_account() = SampleAccount();
  answer.mutable_account()->mutable_status()->set_generation(3);
  answer.set_previous_generation(2);
  answer.mutable_previous_revoke_time()->set_seconds(absl::ToUnixSeconds(kNow));
  CliResult r =
      Cli({"rotate", "dev/automation/ci-bot", "--reason", "suspected leak", "--grace", "0s"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "ROTATED dev/automation/ci-bot: generation 2 -> 3\n"
            "  new token:      sha256:00112233445566ff, expires 2027-01-15T09:00:00Z (in 1h)\n"
            "  previous token: revoked at 2027-01-15T08:00:00Z (now)\n");
  auto requests = broker().RotateRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].reason(), "suspected leak");
  EXPECT_TRUE(requests[0].has_grace());
  EXPECT_EQ(requests[0].grace().seconds(), 0);

  r = Cli({"rotate", "dev/automation/ci-bot", "--grace", "later"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "kcred rotate: --grace \"later\" is not a duration; write a number with a unit, e.g. "
            "90s, 30m, 1h30m\n");
}

// delete without --yes only shows what would go (exit 2); with --yes it deletes.
TEST_F(CliAccountCommandsTest, DeleteNeedsYes) {
  broker().account = SampleAccount();
  CliResult r = Cli({"delete", "dev/automation/ci-bot"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.out,
            "kcred delete dev/automation/ci-bot --yes would revoke its tokens and delete:\n"
            "  ServiceAccount automation/ci-bot\n");
  EXPECT_EQ(r.err, "kcred delete: nothing deleted; add --yes to delete\n");
  EXPECT_THAT(broker().Calls(), ElementsAre("GetAccount"));

  *broker().deleted.add_deleted_objects() = SampleAccount().status().managed_objects(0);
  r = Cli({"delete", "dev/automation/ci-bot", "--yes"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "DELETED dev/automation/ci-bot (its tokens are revoked)\n"
            "  deleted ServiceAccount automation/ci-bot\n");
  EXPECT_THAT(broker().Calls(), ElementsAre("GetAccount", "DeleteAccount"));
}

// clusters prints the table, or the response as YAML.
TEST_F(CliAccountCommandsTest, Clusters) {
  v1::Cluster* c = broker().clusters.add_clusters();
  c->set_name("dev");
  c->set_server("https://127.0.0.1:6443");
  c->set_reachable(true);
  c->set_server_version("v1.32.0");
  c->set_account_count(1);
  CliResult r = Cli({"clusters"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "NAME   SERVER                   REACHABLE   VERSION   ACCOUNTS   ERROR\n"
            "dev    https://127.0.0.1:6443   yes         v1.32.0   1          -\n");
  r = Cli({"clusters", "-o", "yaml"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(YAML::Load(r.out)["clusters"][0]["server_version"].as<std::string>(), "v1.32.0");
  r = Cli({"clusters", "extra"});
  EXPECT_EQ(r.code, kExitUsage);
}

// Every account command has help with usage and examples, and exits 0 for it.
TEST_F(CliAccountCommandsTest, HelpForEveryCommand) {
  for (const char* command :
       {"kubeconfig", "provision", "get", "list", "rotate", "delete", "clusters"}) {
    CliResult r = Cli({command, "--help"});
    EXPECT_EQ(r.code, kExitOk) << command;
    EXPECT_THAT(r.out, HasSubstr(std::string("Usage:\n  kcred ") + command)) << command;
    EXPECT_THAT(r.out, HasSubstr("Examples:\n")) << command;
  }
  EXPECT_THAT(Cli({"provision", "--help"}).out, HasSubstr("rotate_fraction: 0.8"));
  EXPECT_EQ(Cli({"help", "rotate"}).out, Cli({"rotate", "--help"}).out);
  CliResult r = Cli({"help", "rotat"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "kcred help: unknown command \"rotat\"; run `kcred --help` for the list\n");
  EXPECT_THAT(broker().Calls(), IsEmpty());
}

}  // namespace
}  // namespace kcred::client
