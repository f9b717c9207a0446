#include "client/kubeconfig_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "tests/support/process.h"

namespace kcred::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

int ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

KubeconfigEntry Entry(const std::string& token = "tok-secret-1") {
  KubeconfigEntry e;
  e.cluster_name = "kcred-dev";
  e.server = "https://127.0.0.1:6443";
  e.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  e.user_name = "kcred-dev-automation-ci-bot";
  e.token = token;
  e.context_name = "kcred-dev-automation-ci-bot";
  e.namespace_name = "automation";
  return e;
}

// Names of the entries of one kubeconfig list ("clusters", "users", "contexts").
std::vector<std::string> Names(const YAML::Node& root, const char* list) {
  std::vector<std::string> names;
  for (const auto& item : root[list]) names.push_back(item["name"].as<std::string>());
  return names;
}

constexpr char kExisting[] = R"(apiVersion: v1
kind: Config
clusters:
  - name: other
    cluster: {server: https://other:6443}
  - name: kcred-dev
    cluster: {server: https://stale:6443}
users:
  - name: other-user
    user: {token: other-token}
  - name: kcred-dev-automation-ci-bot
    user: {token: stale-token}
contexts:
  - name: other
    context: {cluster: other, user: other-user}
  - name: kcred-dev-automation-ci-bot
    context: {cluster: kcred-dev, user: kcred-dev-automation-ci-bot}
current-context: other
)";

// The merge target is KUBECONFIG's first non-empty entry, else ~/.kube/config.
TEST(CliResolveMergeTarget, FollowsKubectlsRules) {
  EXPECT_EQ(*ResolveMergeTarget("/a/config:/b/config", "/home/u"), "/a/config");
  EXPECT_EQ(*ResolveMergeTarget("::/b/config", "/home/u"), "/b/config");
  EXPECT_EQ(*ResolveMergeTarget("", "/home/u"), "/home/u/.kube/config");
  EXPECT_EQ(*ResolveMergeTarget(nullptr, "/home/u"), "/home/u/.kube/config");
  auto none = ResolveMergeTarget(nullptr, "");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "--merge: neither KUBECONFIG nor HOME is set, so there is no kubeconfig to merge "
            "into; set KUBECONFIG=FILE or write a separate file with -o FILE");
}

// The entry takes names and CA from the answer's fields and the token from its YAML.
TEST(CliEntryFromResponse, TakesTheTokenFromTheYaml) {
  v1::GetKubeconfigResponse r;
  r.set_kubeconfig(RenderKubeconfig(Entry("tok-from-yaml")));
  r.set_context_name("kcred-dev-automation-ci-bot");
  r.set_cluster_name("kcred-dev");
  r.set_user_name("kcred-dev-automation-ci-bot");
  r.set_server("https://127.0.0.1:6443");
  r.set_certificate_authority("PEM");
  r.set_namespace_("automation");
  auto entry = EntryFromResponse(r);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->token, "tok-from-yaml");
  EXPECT_EQ(entry->ca_pem, "PEM");
  EXPECT_EQ(entry->namespace_name, "automation");
  EXPECT_EQ(entry->cluster_name, "kcred-dev");

  r.set_user_name("someone-else");
  auto missing = EntryFromResponse(r);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "kcredd's kubeconfig has no token for user \"someone-else\"; report this to kcredd's "
            "operator");
  r.set_context_name("");
  EXPECT_EQ(EntryFromResponse(r).status().message(),
            "kcredd's kubeconfig answer has no context_name; kcredd and kcred versions may not "
            "match (check `kcred version`)");
}

// A broken kubeconfig answer is reported without quoting it, so the token stays out of errors.
TEST(CliEntryFromResponse, NeverQuotesTheToken) {
  v1::GetKubeconfigResponse r;
  r.set_kubeconfig("users: [ {name: u, user: {token: tok-secret-9}\n");
  r.set_context_name("c");
  r.set_cluster_name("k");
  r.set_user_name("u");
  r.set_server("https://x:6443");
  auto entry = EntryFromResponse(r);
  ASSERT_FALSE(entry.ok());
  EXPECT_THAT(std::string(entry.status().message()), Not(HasSubstr("tok-secret-9")));
  EXPECT_THAT(std::string(entry.status().message()), HasSubstr("not valid YAML"));
}

// The exec plugin reaches kcredd as the command did: server and absolute TLS paths in its env.
TEST(CliKcredTokenPlugin, CarriesTheConnection) {
  v1::AccountRef ref;
  ref.set_cluster("dev");
  ref.set_namespace_("automation");
  ref.set_name("ci-bot");
  ConnectionOptions connection;
  connection.server = "kcred.example.com:7443";
  connection.ca_file = "/etc/kcred/ca.pem";
  connection.cert_file = "certs/../certs/me.pem";
  connection.timeout = absl::Seconds(30);
  ExecPlugin plugin = KcredTokenPlugin("/usr/bin/kcred", ref, connection);
  EXPECT_EQ(plugin.command, "/usr/bin/kcred");
  EXPECT_EQ(plugin.args,
            (std::vector<std::string>{"token", "dev/automation/ci-bot", "--timeout", "30s"}));
  EXPECT_EQ(plugin.interactive_mode, "Never");
  EXPECT_EQ(plugin.env.at("KCRED_SERVER"), "kcred.example.com:7443");
  EXPECT_EQ(plugin.env.at("KCRED_CA"), "/etc/kcred/ca.pem");
  EXPECT_EQ(plugin.env.at("KCRED_CERT"),
            (std::filesystem::current_path() / "certs/me.pem").string());
  EXPECT_EQ(plugin.env.count("KCRED_KEY"), 0u);

  connection = ConnectionOptions();
  connection.server = "127.0.0.1:7443";
  connection.insecure = true;
  plugin = KcredTokenPlugin("/usr/bin/kcred", ref, connection);
  EXPECT_EQ(plugin.args,
            (std::vector<std::string>{"token", "dev/automation/ci-bot", "--insecure"}));
  EXPECT_EQ(plugin.env.size(), 1u);
}

// An exec entry carries the plugin and no token.
TEST(CliExecEntryFromResponse, UsesThePluginInsteadOfTheToken) {
  v1::GetKubeconfigResponse r;
  r.set_kubeconfig(RenderKubeconfig(Entry("tok-secret-7")));
  r.set_context_name("c");
  r.set_cluster_name("k");
  r.set_user_name("u");
  r.set_server("https://x:6443");
  ExecPlugin plugin;
  plugin.command = "/usr/bin/kcred";
  auto entry = ExecEntryFromResponse(r, plugin);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_TRUE(entry->use_exec);
  EXPECT_EQ(entry->token, "");
  EXPECT_EQ(entry->exec.command, "/usr/bin/kcred");
  EXPECT_THAT(RenderKubeconfig(*entry), Not(HasSubstr("tok-secret-7")));
}

// A missing kubeconfig is created 0600 in new 0700 directories and holds the entry.
TEST(CliMergeIntoFile, CreatesFileAndDirectories) {
  kcred::testing::TempDir dir;
  const std::string path = dir.File("home/.kube/config");
  const mode_t old_umask = umask(0);  // even a permissive umask must not open the file up
  absl::Status s = MergeIntoFile(path, Entry(), false);
  umask(old_umask);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(ModeOf(dir.File("home/.kube")), 0700);
  EXPECT_EQ(ModeOf(dir.File("home")), 0700);
  const YAML::Node root = YAML::LoadFile(path);
  EXPECT_EQ(root["current-context"].as<std::string>(), "kcred-dev-automation-ci-bot");
  EXPECT_EQ(root["users"][0]["user"]["token"].as<std::string>(), "tok-secret-1");
  EXPECT_EQ(root["contexts"][0]["context"]["namespace"].as<std::string>(), "automation");
}

// Merging keeps other entries, replaces same-named ones and keeps current-context by default.
TEST(CliMergeIntoFile, KeepsOtherEntriesAndReplacesOwn) {
  kcred::testing::TempDir dir;
  const std::string path = dir.File("config");
  ASSERT_TRUE(kcred::testing::WriteFile(path, kExisting, 0644).ok());
  ASSERT_TRUE(MergeIntoFile(path, Entry("tok-new"), false).ok());
  EXPECT_EQ(ModeOf(path), 0600);  // a world-readable file holding tokens is tightened
  YAML::Node root = YAML::LoadFile(path);
  EXPECT_EQ(Names(root, "clusters"), (std::vector<std::string>{"other", "kcred-dev"}));
  EXPECT_EQ(Names(root, "users"),
            (std::vector<std::string>{"other-user", "kcred-dev-automation-ci-bot"}));
  EXPECT_EQ(Names(root, "contexts"),
            (std::vector<std::string>{"other", "kcred-dev-automation-ci-bot"}));
  EXPECT_EQ(root["clusters"][1]["cluster"]["server"].as<std::string>(), "https://127.0.0.1:6443");
  EXPECT_EQ(root["users"][0]["user"]["token"].as<std::string>(), "other-token");
  EXPECT_EQ(root["users"][1]["user"]["token"].as<std::string>(), "tok-new");
  EXPECT_EQ(root["current-context"].as<std::string>(), "other");

  ASSERT_TRUE(MergeIntoFile(path, Entry("tok-newer"), true).ok());
  root = YAML::LoadFile(path);
  EXPECT_EQ(root["current-context"].as<std::string>(), "kcred-dev-automation-ci-bot");
  EXPECT_EQ(root["users"].size(), 2u);
}

// The merge takes kubectl's lock file, refuses to write while someone else holds it, and
// removes it when done.
TEST(CliMergeIntoFile, HonoursKubectlsLockFile) {
  kcred::testing::TempDir dir;
  const std::string path = dir.File("config");
  ASSERT_TRUE(kcred::testing::WriteFile(path, kExisting, 0600).ok());
  ASSERT_TRUE(kcred::testing::WriteFile(path + ".lock", "", 0600).ok());
  absl::Status s = MergeIntoFile(path, Entry(), false);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), path + ".lock exists: another kubectl or kcred is writing " + path +
                             "; retry, or remove the lock file if no such process is running");
  EXPECT_EQ(*kcred::testing::ReadFile(path), kExisting);

  ASSERT_EQ(unlink((path + ".lock").c_str()), 0);
  ASSERT_TRUE(MergeIntoFile(path, Entry(), false).ok());
  EXPECT_NE(access((path + ".lock").c_str(), F_OK), 0) << "lock file left behind";
}

// A stricter mode than 0600 is kept.
TEST(CliMergeIntoFile, KeepsAStricterMode) {
  kcred::testing::TempDir dir;
  const std::string path = dir.File("config");
  ASSERT_TRUE(kcred::testing::WriteFile(path, kExisting, 0400).ok());
  ASSERT_TRUE(MergeIntoFile(path, Entry(), false).ok());
  EXPECT_EQ(ModeOf(path), 0400);
}

// A symlinked kubeconfig stays a symlink; the file it points to is updated.
TEST(CliMergeIntoFile, FollowsSymlinks) {
  kcred::testing::TempDir dir;
  const std::string real = dir.File("real-config");
  const std::string link = dir.File("config");
  ASSERT_TRUE(kcred::testing::WriteFile(real, kExisting, 0600).ok());
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  ASSERT_TRUE(MergeIntoFile(link, Entry(), false).ok());
  struct stat st;
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(YAML::LoadFile(real)["users"].size(), 2u);
}

// A file that is not a kubeconfig is left alone and named in the error.
TEST(CliMergeIntoFile, RefusesNonKubeconfig) {
  kcred::testing::TempDir dir;
  const std::string path = dir.File("config");
  ASSERT_TRUE(kcred::testing::WriteFile(path, "kind: Pod\n", 0600).ok());
  absl::Status s = MergeIntoFile(path, Entry(), false);
  EXPECT_EQ(s.message(), path + ": not a kubeconfig (kind is \"Pod\", expected \"Config\")");
  EXPECT_EQ(*kcred::testing::ReadFile(path), "kind: Pod\n");
}

}  // namespace
}  // namespace kcred::client
