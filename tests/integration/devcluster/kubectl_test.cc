// Real kubectl v1.32 and python3-kubernetes against a started kcred-devcluster process.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/integration/devcluster/devcluster_fixture.h"
#include "tests/support/process.h"

namespace kcred::devcluster {
namespace {

using ::kcred::devcluster::testing::DevClusterTest;
using ::kcred::devcluster::testing::kKubectl;
using ::kcred::testing::Process;
using ::kcred::testing::ProcessOptions;
using ::kcred::testing::RunResult;
using ::testing::HasSubstr;

nlohmann::json JwtClaims(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string payload;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[1], &payload)) return nullptr;
  return nlohmann::json::parse(payload, nullptr, false);
}

// The admin workflow of the issue: every kubectl command kcred's users run.
TEST_F(DevClusterTest, AdminKubectlWorkflow) {
  EXPECT_THAT(Admin({"version"}), HasSubstr("Server Version: v1.32"));
  std::string namespaces = Admin({"get", "ns"});
  EXPECT_THAT(namespaces, HasSubstr("default"));
  EXPECT_THAT(namespaces, HasSubstr("kube-system"));
  EXPECT_THAT(namespaces, HasSubstr("kube-public"));

  EXPECT_THAT(Admin({"create", "namespace", "team-a"}), HasSubstr("namespace/team-a created"));
  EXPECT_THAT(Admin({"create", "serviceaccount", "bot", "-n", "team-a"}),
              HasSubstr("serviceaccount/bot created"));
  nlohmann::json sa =
      nlohmann::json::parse(Admin({"get", "sa", "bot", "-n", "team-a", "-o", "json"}));
  EXPECT_EQ(sa["kind"], "ServiceAccount");
  EXPECT_EQ(sa["metadata"]["name"], "bot");
  EXPECT_EQ(sa["metadata"]["namespace"], "team-a");
  EXPECT_EQ(sa["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_FALSE(sa["metadata"].contains("generation"));

  std::string token = std::string(absl::StripAsciiWhitespace(
      Admin({"create", "token", "bot", "-n", "team-a", "--duration=1h"})));
  nlohmann::json claims = JwtClaims(token);
  ASSERT_TRUE(claims.is_object());
  EXPECT_EQ(claims["sub"], "system:serviceaccount:team-a:bot");
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 3600);
  EXPECT_EQ(claims["kubernetes.io"]["serviceaccount"]["uid"], sa["metadata"]["uid"]);

  Admin({"create", "secret", "generic", "anchor", "-n", "team-a", "--from-literal=k=v"});
  nlohmann::json secret =
      nlohmann::json::parse(Admin({"get", "secret", "anchor", "-n", "team-a", "-o", "json"}));
  EXPECT_EQ(secret["data"]["k"], "dg==");
  EXPECT_EQ(secret["type"], "Opaque");
  std::string bound = std::string(absl::StripAsciiWhitespace(
      Admin({"create", "token", "bot", "-n", "team-a", "--bound-object-kind", "Secret",
             "--bound-object-name", "anchor"})));
  nlohmann::json bound_claims = JwtClaims(bound);
  EXPECT_EQ(bound_claims["kubernetes.io"]["secret"]["name"], "anchor");
  EXPECT_EQ(bound_claims["kubernetes.io"]["secret"]["uid"], secret["metadata"]["uid"]);

  RunResult short_token =
      Kubectl(admin_, {"create", "token", "bot", "-n", "team-a", "--duration=1m"});
  EXPECT_NE(short_token.exit_code, 0);
  EXPECT_THAT(short_token.err,
              HasSubstr("spec.expirationSeconds: Invalid value: 60: may not specify a duration "
                        "less than 10 minutes"));
  RunResult missing = Kubectl(admin_, {"create", "token", "nobody", "-n", "team-a"});
  EXPECT_THAT(missing.err, HasSubstr("serviceaccounts \"nobody\" not found"));

  EXPECT_THAT(
      Admin({"create", "role", "pod-reader", "-n", "team-a", "--verb=get,list", "--resource=pods"}),
      HasSubstr("role.rbac.authorization.k8s.io/pod-reader created"));
  EXPECT_THAT(Admin({"create", "rolebinding", "bot-pods", "-n", "team-a", "--role=pod-reader",
                     "--serviceaccount=team-a:bot"}),
              HasSubstr("rolebinding.rbac.authorization.k8s.io/bot-pods created"));
  EXPECT_THAT(
      Admin({"create", "clusterrole", "ns-reader", "--verb=get,list", "--resource=namespaces"}),
      HasSubstr("clusterrole.rbac.authorization.k8s.io/ns-reader created"));
  EXPECT_THAT(Admin({"create", "clusterrolebinding", "bot-ns", "--clusterrole=ns-reader",
                     "--serviceaccount=team-a:bot"}),
              HasSubstr("clusterrolebinding.rbac.authorization.k8s.io/bot-ns created"));
  nlohmann::json role =
      nlohmann::json::parse(Admin({"get", "role", "pod-reader", "-n", "team-a", "-o", "json"}));
  EXPECT_EQ(role["rules"][0]["verbs"], nlohmann::json({"get", "list"}));
  EXPECT_EQ(role["rules"][0]["resources"], nlohmann::json({"pods"}));
  EXPECT_EQ(role["rules"][0]["apiGroups"], nlohmann::json({""}));
  nlohmann::json binding =
      nlohmann::json::parse(Admin({"get", "clusterrolebinding", "bot-ns", "-o", "json"}));
  EXPECT_EQ(binding["roleRef"]["name"], "ns-reader");
  EXPECT_EQ(binding["subjects"][0]["namespace"], "team-a");

  // Other kinds kubectl creates from typed objects (a Service goes out as protobuf).
  Admin({"create", "configmap", "settings", "-n", "team-a", "--from-literal=mode=dev"});
  Admin({"create", "service", "nodeport", "web", "-n", "team-a", "--tcp=8080:http",
         "--node-port=30080"});
  nlohmann::json service =
      nlohmann::json::parse(Admin({"get", "service", "web", "-n", "team-a", "-o", "json"}));
  EXPECT_EQ(service["spec"]["type"], "NodePort");
  EXPECT_EQ(service["spec"]["ports"][0]["port"], 8080);
  EXPECT_EQ(service["spec"]["ports"][0]["targetPort"], "http");
  EXPECT_EQ(service["spec"]["ports"][0]["nodePort"], 30080);

  RunResult duplicate = Kubectl(admin_, {"create", "namespace", "team-a"});
  EXPECT_THAT(duplicate.err, HasSubstr("namespaces \"team-a\" already exists"));

  // kubectl delete waits for the object to go with a list and a watch.
  EXPECT_THAT(Admin({"delete", "clusterrolebinding", "bot-ns"}),
              HasSubstr("clusterrolebinding.rbac.authorization.k8s.io \"bot-ns\" deleted"));
  EXPECT_THAT(Admin({"delete", "serviceaccount", "bot", "-n", "team-a"}),
              HasSubstr("serviceaccount \"bot\" deleted"));
  RunResult gone = Kubectl(admin_, {"get", "clusterrolebinding", "bot-ns"});
  EXPECT_THAT(gone.err,
              HasSubstr("clusterrolebindings.rbac.authorization.k8s.io \"bot-ns\" not found"));
  EXPECT_THAT(Admin({"delete", "namespace", "team-a"}), HasSubstr("namespace \"team-a\" deleted"));
  EXPECT_THAT(Kubectl(admin_, {"get", "role", "pod-reader", "-n", "team-a"}).err,
              HasSubstr("not found"));
}

// A kubeconfig holding only a bound ServiceAccount token: identity, RBAC, and revocation.
TEST_F(DevClusterTest, ServiceAccountTokenKubeconfig) {
  Admin({"create", "namespace", "allowed"});
  Admin({"create", "namespace", "other"});
  Admin({"create", "serviceaccount", "bot", "-n", "allowed"});
  Admin({"create", "role", "pod-reader", "-n", "allowed", "--verb=get,list", "--resource=pods"});
  Admin({"create", "rolebinding", "bot-pods", "-n", "allowed", "--role=pod-reader",
         "--serviceaccount=allowed:bot"});
  Admin({"create", "secret", "generic", "anchor", "-n", "allowed"});
  std::string token = std::string(absl::StripAsciiWhitespace(
      Admin({"create", "token", "bot", "-n", "allowed", "--bound-object-kind", "Secret",
             "--bound-object-name", "anchor"})));
  std::string kubeconfig = TokenKubeconfig("bot", token);

  RunResult whoami = Kubectl(kubeconfig, {"auth", "whoami"});
  EXPECT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_THAT(whoami.out, HasSubstr("system:serviceaccount:allowed:bot"));
  EXPECT_THAT(whoami.out, HasSubstr("system:serviceaccounts:allowed"));

  RunResult yes = Kubectl(kubeconfig, {"auth", "can-i", "list", "pods", "-n", "allowed"});
  EXPECT_EQ(yes.exit_code, 0) << yes.err;
  EXPECT_EQ(absl::StripAsciiWhitespace(yes.out), "yes");
  RunResult no = Kubectl(kubeconfig, {"auth", "can-i", "list", "secrets", "-n", "allowed"});
  EXPECT_NE(no.exit_code, 0);
  EXPECT_EQ(absl::StripAsciiWhitespace(no.out), "no");

  RunResult pods = Kubectl(kubeconfig, {"get", "pods", "-n", "allowed"});
  EXPECT_EQ(pods.exit_code, 0) << pods.err;
  EXPECT_THAT(pods.err, HasSubstr("No resources found in allowed namespace."));

  RunResult secrets = Kubectl(kubeconfig, {"get", "secrets", "-n", "other"});
  EXPECT_NE(secrets.exit_code, 0);
  EXPECT_THAT(secrets.err,
              HasSubstr("Error from server (Forbidden): secrets is forbidden: User "
                        "\"system:serviceaccount:allowed:bot\" cannot list resource \"secrets\" "
                        "in API group \"\" in the namespace \"other\""));

  // Deleting the bound Secret revokes the token at once.
  Admin({"delete", "secret", "anchor", "-n", "allowed"});
  RunResult revoked = Kubectl(kubeconfig, {"get", "pods", "-n", "allowed"});
  EXPECT_NE(revoked.exit_code, 0);
  EXPECT_THAT(revoked.err, HasSubstr("You must be logged in to the server (Unauthorized)"));
}

// The token controller fills a legacy token Secret; its token works until the account goes.
TEST_F(DevClusterTest, LegacyTokenSecretIsFilledAndWorks) {
  Admin({"create", "serviceaccount", "legacy", "-n", "default"});
  // Default validation: kubectl checks the served OpenAPI v3 for server-side field validation.
  Admin({"apply", "-f", "-"},
        R"({"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/service-account-token",
            "metadata":{"name":"legacy-token","namespace":"default",
            "annotations":{"kubernetes.io/service-account.name":"legacy"}}})");
  nlohmann::json secret = nlohmann::json::parse(
      Admin({"get", "secret", "legacy-token", "-n", "default", "-o", "json"}));
  ASSERT_TRUE(secret["data"].contains("token")) << secret.dump();
  std::string token, ca, ns;
  ASSERT_TRUE(absl::Base64Unescape(secret["data"]["token"].get<std::string>(), &token));
  ASSERT_TRUE(absl::Base64Unescape(secret["data"]["ca.crt"].get<std::string>(), &ca));
  ASSERT_TRUE(absl::Base64Unescape(secret["data"]["namespace"].get<std::string>(), &ns));
  EXPECT_EQ(ns, "default");
  EXPECT_THAT(ca, HasSubstr("BEGIN CERTIFICATE"));
  nlohmann::json sa = nlohmann::json::parse(Admin({"get", "sa", "legacy", "-o", "json"}));
  EXPECT_EQ(secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"],
            sa["metadata"]["uid"]);

  std::string kubeconfig = TokenKubeconfig("legacy", token);
  RunResult whoami = Kubectl(kubeconfig, {"auth", "whoami", "-o", "json"});
  EXPECT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_THAT(whoami.out, HasSubstr("system:serviceaccount:default:legacy"));

  // Deleting the ServiceAccount deletes its token Secret, and the token stops working.
  Admin({"delete", "serviceaccount", "legacy"});
  EXPECT_THAT(Kubectl(admin_, {"get", "secret", "legacy-token"}).err, HasSubstr("not found"));
  RunResult revoked = Kubectl(kubeconfig, {"auth", "whoami"});
  EXPECT_THAT(revoked.err, HasSubstr("You must be logged in to the server (Unauthorized)"));
}

// `kubectl get -w` sees objects created while it watches (after its initial list).
TEST_F(DevClusterTest, KubectlWatchSeesNewObjects) {
  Admin({"create", "serviceaccount", "before"});
  ProcessOptions options;
  options.argv = {kKubectl, "--kubeconfig", admin_,    "get", "serviceaccounts",
                  "-n",     "default",      "--watch", "-o",  "name"};
  options.env = {{"HOME", tmp_.path()}};
  options.stdout_file = tmp_.File("watch.out");
  options.stderr_file = tmp_.File("watch.err");
  absl::StatusOr<std::unique_ptr<Process>> watch = Process::Start(options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  auto wait_for = [&](const std::string& text) {
    std::string seen;
    for (int i = 0; i < 100 && seen.find(text) == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      seen = kcred::testing::ReadFile(tmp_.File("watch.out")).value_or("");
    }
    return seen;
  };
  // The initial list is printed first; what comes after it can only come from the watch stream.
  ASSERT_THAT(wait_for("serviceaccount/before"), HasSubstr("serviceaccount/before"));
  Admin({"create", "serviceaccount", "watched"});
  EXPECT_THAT(wait_for("serviceaccount/watched"), HasSubstr("serviceaccount/watched"));
  Admin({"delete", "serviceaccount", "before", "--wait=false"});
  (*watch)->Stop(std::chrono::seconds(5));
}

// Debian's python3-kubernetes lists, creates and watches with admin.kubeconfig.
TEST_F(DevClusterTest, PythonClientListsNamespaces) {
  const std::string script =
      "import sys\n"
      "from kubernetes import client, config\n"
      "config.load_kube_config(config_file=sys.argv[1])\n"
      "v1 = client.CoreV1Api()\n"
      "print(' '.join(sorted(ns.metadata.name for ns in v1.list_namespace().items)))\n"
      "sa = v1.create_namespaced_service_account('default', "
      "client.V1ServiceAccount(metadata=client.V1ObjectMeta(name='from-python')))\n"
      "print(sa.metadata.uid)\n"
      "from kubernetes import watch\n"
      "events = list(watch.Watch().stream(v1.list_namespace, timeout_seconds=1))\n"
      "print('watched', ' '.join(sorted(e['object'].metadata.name for e in events)))\n";
  std::string path = tmp_.File("list.py");
  ASSERT_TRUE(kcred::testing::WriteFile(path, script).ok());
  RunResult r = kcred::testing::Run({"/usr/bin/python3", path, admin_}, {{"HOME", tmp_.path()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("default kube-public kube-system"));
  EXPECT_THAT(r.out, HasSubstr("watched default kube-public kube-system"));
  EXPECT_THAT(Admin({"get", "sa", "from-python", "-o", "name"}),
              HasSubstr("serviceaccount/from-python"));
}

// Objects, keys and the admin token survive a restart with the same data directory.
TEST_F(DevClusterTest, StateSurvivesRestart) {
  Admin({"create", "namespace", "durable"});
  Admin({"create", "serviceaccount", "keeper", "-n", "durable"});
  std::string token = std::string(
      absl::StripAsciiWhitespace(Admin({"create", "token", "keeper", "-n", "durable"})));
  std::string ca_before = kcred::testing::ReadFile(data_dir_ + "/ca.crt").value_or("");
  ASSERT_EQ(server_->Stop(), 0);
  Start();
  EXPECT_EQ(kcred::testing::ReadFile(data_dir_ + "/ca.crt").value_or(""), ca_before);
  EXPECT_THAT(Admin({"get", "sa", "keeper", "-n", "durable", "-o", "name"}),
              HasSubstr("serviceaccount/keeper"));
  RunResult whoami = Kubectl(TokenKubeconfig("keeper", token), {"auth", "whoami"});
  EXPECT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_THAT(whoami.out, HasSubstr("system:serviceaccount:durable:keeper"));
}

// A burst of writes right before SIGTERM is all on disk after the restart: the background writer
// batches changes, and a clean stop writes the last of them.
TEST_F(DevClusterTest, BurstOfWritesSurvivesCleanStop) {
  auto client = HttpClient();
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);
  httplib::Headers admin = {{"Authorization", "Bearer " + AdminToken()}};
  const std::string secrets = "/api/v1/namespaces/default/secrets";
  for (int i = 0; i < 200; ++i) {
    nlohmann::json secret = {{"metadata", {{"name", absl::StrCat("burst-", i)}}},
                             {"stringData", {{"n", absl::StrCat(i)}}}};
    auto created = client->Post(secrets.c_str(), admin, secret.dump(), "application/json");
    ASSERT_TRUE(created);
    ASSERT_EQ(created->status, 201) << created->body;
  }
  for (int i = 0; i < 200; i += 2) {
    auto deleted = client->Delete(absl::StrCat(secrets, "/burst-", i).c_str(), admin);
    ASSERT_TRUE(deleted);
    ASSERT_EQ(deleted->status, 200) << deleted->body;
  }
  auto labeled =
      client->Patch(absl::StrCat(secrets, "/burst-199").c_str(), admin,
                    R"({"metadata":{"labels":{"last":"change"}}})", "application/merge-patch+json");
  ASSERT_TRUE(labeled);
  ASSERT_EQ(labeled->status, 200) << labeled->body;
  client.reset();
  ASSERT_EQ(server_->Stop(), 0);

  Start();
  client = HttpClient();
  auto list = client->Get(secrets.c_str(), admin);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  std::vector<std::string> names;
  const nlohmann::json listed = nlohmann::json::parse(list->body);
  for (const nlohmann::json& item : listed["items"]) {
    std::string name = item["metadata"]["name"];
    if (absl::StartsWith(name, "burst-")) names.push_back(name);
  }
  ASSERT_EQ(names.size(), 100u) << "after the restart: " << absl::StrJoin(names, " ");
  for (const std::string& name : names) {
    int n = std::stoi(name.substr(6));
    EXPECT_EQ(n % 2, 1) << name << " was deleted before the stop";
  }
  auto last = client->Get(absl::StrCat(secrets, "/burst-199").c_str(), admin);
  ASSERT_TRUE(last);
  ASSERT_EQ(last->status, 200) << last->body;
  EXPECT_EQ(nlohmann::json::parse(last->body)["metadata"]["labels"]["last"], "change");
}

// Without a clean stop, changes reach the disk within moments anyway, and state.json is always a
// whole snapshot: after kill -9 the server starts again with what was written.
TEST_F(DevClusterTest, ChangesReachDiskWithoutStop) {
  Admin({"create", "serviceaccount", "written-soon"});
  const std::string state_path = data_dir_ + "/state.json";
  bool written = false;
  for (int attempt = 0; attempt < 100 && !written; ++attempt) {
    absl::StatusOr<std::string> state = kcred::testing::ReadFile(state_path);
    written = state.ok() && absl::StrContains(*state, "\"written-soon\"");
    if (!written) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(written) << state_path << " did not get the new ServiceAccount within 5 s";
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->Wait(std::chrono::seconds(10)).ok());
  Start();
  EXPECT_THAT(Admin({"get", "sa", "written-soon", "-o", "name"}),
              HasSubstr("serviceaccount/written-soon"));
}

// The token lifetime flags: a lowered minimum for rotation tests, and a cap like the real flag.
TEST_F(DevClusterTest, TokenLifetimeFlags) {
  ASSERT_EQ(server_->Stop(), 0);
  Start({"--min-token-expiration=5s", "--max-token-expiration=1h"});
  Admin({"create", "serviceaccount", "rotor"});
  nlohmann::json short_claims = JwtClaims(std::string(
      absl::StripAsciiWhitespace(Admin({"create", "token", "rotor", "--duration=5s"}))));
  EXPECT_EQ(short_claims["exp"].get<int64_t>() - short_claims["iat"].get<int64_t>(), 5);
  RunResult capped = Kubectl(admin_, {"create", "token", "rotor", "--duration=3h"});
  ASSERT_EQ(capped.exit_code, 0) << capped.err;
  nlohmann::json capped_claims = JwtClaims(std::string(absl::StripAsciiWhitespace(capped.out)));
  EXPECT_EQ(capped_claims["exp"].get<int64_t>() - capped_claims["iat"].get<int64_t>(), 3600);
  EXPECT_THAT(capped.err, HasSubstr("shortened to 3600 seconds"));
  EXPECT_NE(Kubectl(admin_, {"create", "token", "rotor", "--duration=4s"}).exit_code, 0);

  // A maximum below the minimum is refused at start with a message that says so.
  ASSERT_EQ(server_->Stop(), 0);
  server_.reset();
  RunResult refused = kcred::testing::Run({kcred::testing::BinaryPath("kcred-devcluster"),
                                           "--data-dir=" + data_dir_, "--max-token-expiration=1m"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("maximum token expiration 1m is below the minimum 10m"));
}

// Faults set at run time through the admin-only endpoint reach kubectl, and can be cleared.
TEST_F(DevClusterTest, FaultInjectionEndpoint) {
  auto client = HttpClient();
  httplib::Headers admin = {{"Authorization", "Bearer " + AdminToken()}};
  auto set = client->Put(
      "/kcred-dev/faults", admin,
      R"({"errorRate":1,"errorCode":500,"pathPrefixes":["/api/v1/namespaces/default"],"verbs":["get"]})",
      "application/json");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->status, 200) << set->body;
  RunResult failing = Kubectl(admin_, {"get", "namespace", "default"});
  EXPECT_NE(failing.exit_code, 0);
  EXPECT_THAT(failing.err, HasSubstr("injected fault"));
  EXPECT_EQ(Kubectl(admin_, {"get", "namespace", "kube-system"}).exit_code, 0);

  auto throttled =
      client->Put("/kcred-dev/faults", admin,
                  R"({"errorRate":1,"errorCode":429,"retryAfterSeconds":7,"verbs":["list"]})",
                  "application/json");
  ASSERT_TRUE(throttled);
  auto list = client->Get("/api/v1/namespaces", admin);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 429);
  EXPECT_EQ(list->get_header_value("Retry-After"), "7");

  auto cleared = client->Delete("/kcred-dev/faults", admin);
  ASSERT_TRUE(cleared);
  EXPECT_EQ(cleared->status, 200);
  EXPECT_EQ(Kubectl(admin_, {"get", "namespace", "default"}).exit_code, 0);

  auto anonymous = client->Put("/kcred-dev/faults", R"({"errorRate":1})", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
}

}  // namespace
}  // namespace kcred::devcluster
