// Shows the shared helpers' contracts: Kubernetes name rules, atomic 0600 writes, fingerprints,
// kubeconfig rendering and merging.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include "common/files.h"
#include "common/kubeconfig.h"
#include "common/names.h"
#include "common/secret.h"
#include "tests/support/process.h"

namespace kcred {
namespace {

using ::testing::HasSubstr;

// Labels of up to 63 lower-case alphanumerics and '-' pass; empty, too long, a leading '-', a '.'
// and "Bad_Name" fail, the last naming the kind of name and the value, in Kubernetes' words.
TEST(NamesTest, Dns1123Label) {
  EXPECT_TRUE(ValidateDns1123Label("automation", "namespace").ok());
  EXPECT_TRUE(ValidateDns1123Label("a-1", "namespace").ok());
  EXPECT_TRUE(ValidateDns1123Label(std::string(63, 'a'), "namespace").ok());
  EXPECT_FALSE(ValidateDns1123Label(std::string(64, 'a'), "namespace").ok());
  EXPECT_FALSE(ValidateDns1123Label("", "namespace").ok());
  EXPECT_FALSE(ValidateDns1123Label("-a", "namespace").ok());
  EXPECT_FALSE(ValidateDns1123Label("a.b", "namespace").ok());
  auto s = ValidateDns1123Label("Bad_Name", "namespace");
  EXPECT_EQ(s.message(),
            "namespace \"Bad_Name\" is not a valid DNS-1123 label: it must consist of lower case "
            "alphanumeric characters or '-' (e.g. \"my-name\" or \"123-abc\")");
}

// A DNS-1123 subdomain takes dot-separated labels; an empty label, a trailing dot, 254 characters
// and upper case are refused, the message naming the kind of name.
TEST(NamesTest, Dns1123Subdomain) {
  EXPECT_TRUE(ValidateDns1123Subdomain("ci-bot", "name").ok());
  EXPECT_TRUE(ValidateDns1123Subdomain("a.b-c.d", "name").ok());
  EXPECT_FALSE(ValidateDns1123Subdomain("a..b", "name").ok());
  EXPECT_FALSE(ValidateDns1123Subdomain("a.", "name").ok());
  EXPECT_FALSE(ValidateDns1123Subdomain(std::string(254, 'a'), "name").ok());
  EXPECT_THAT(ValidateDns1123Subdomain("CI", "ServiceAccount name").message(),
              HasSubstr("ServiceAccount name \"CI\" is not a valid DNS-1123 subdomain"));
}

// A path-segment name may hold ':' but not be empty or "..", nor hold '/' or '%'.
TEST(NamesTest, PathSegmentName) {
  EXPECT_TRUE(ValidatePathSegmentName("system:kcred:ci", "role").ok());
  EXPECT_FALSE(ValidatePathSegmentName("..", "role").ok());
  EXPECT_FALSE(ValidatePathSegmentName("a/b", "role").ok());
  EXPECT_FALSE(ValidatePathSegmentName("a%b", "role").ok());
  EXPECT_FALSE(ValidatePathSegmentName("", "role").ok());
}

// WriteFileAtomic replaces an existing file's content and leaves it with the mode asked for.
TEST(FilesTest, AtomicWriteSetsModeAndReplaces) {
  testing::TempDir dir;
  const std::string path = dir.File("config");
  ASSERT_TRUE(WriteFileAtomic(path, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two", 0600).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(*ReadFileToString(path), "two");
}

// Reading a missing file is NOT_FOUND naming the path, and writing under a missing directory fails.
TEST(FilesTest, ErrorsNameThePath) {
  auto missing = ReadFileToString("/nonexistent/kcred/file");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/kcred/file"));
  EXPECT_FALSE(WriteFileAtomic("/nonexistent/kcred/file", "x", 0600).ok());
}

// ReadSecretFile reads empty, small and large files whole, with ReadFileToString's errors.
TEST(FilesTest, ReadSecretFileReadsWholeFiles) {
  testing::TempDir dir;
  const std::string large(200000, 'k');
  ASSERT_TRUE(WriteFileAtomic(dir.File("large"), large, 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.File("empty"), "", 0600).ok());
  EXPECT_EQ(ReadSecretFile(dir.File("large"))->Reveal(), large);
  EXPECT_TRUE(ReadSecretFile(dir.File("empty"))->empty());
  // A file whose size stat cannot tell is read to its end all the same.
  EXPECT_FALSE(ReadSecretFile("/proc/self/status")->empty());
  auto missing = ReadSecretFile(dir.File("missing"));
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr(dir.File("missing")));
}

// CreatePrivateDirectories makes each missing level 0700 and accepts existing ones.
TEST(FilesTest, CreatePrivateDirectoriesMakesEachLevel0700) {
  testing::TempDir dir;
  const std::string deep = dir.File("a/b/c");
  ASSERT_TRUE(CreatePrivateDirectories(deep).ok());
  ASSERT_TRUE(CreatePrivateDirectories(deep).ok());
  for (const std::string& level : {dir.File("a"), dir.File("a/b"), deep}) {
    struct stat st {};
    ASSERT_EQ(stat(level.c_str(), &st), 0) << level;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << level;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << level;
  }
  ASSERT_TRUE(WriteFileAtomic(dir.File("file"), "x", 0600).ok());
  auto under_file = CreatePrivateDirectories(dir.File("file/sub"));
  EXPECT_THAT(under_file.message(), HasSubstr(dir.File("file/sub")));
}

// Copies, moves and assignments keep the value where it belongs and empty what was moved from.
TEST(SecretTest, MovesAndAssignmentsKeepTheValue) {
  SecretString long_secret(std::string(100, 's'));
  SecretString short_secret("short");
  SecretString copy = long_secret;
  EXPECT_EQ(copy, long_secret);
  SecretString moved = std::move(short_secret);
  EXPECT_EQ(moved.Reveal(), "short");
  EXPECT_TRUE(short_secret.empty());  // NOLINT(bugprone-use-after-move): the contract
  moved = std::move(long_secret);
  EXPECT_EQ(moved.Reveal(), std::string(100, 's'));
  EXPECT_TRUE(long_secret.empty());  // NOLINT(bugprone-use-after-move): the contract
  moved = copy;
  EXPECT_EQ(moved, copy);
  std::string temporary = "temporary";
  WipeString(temporary);
  EXPECT_TRUE(temporary.empty());
}

// A fingerprint is "sha256:" and the first 16 hex digits of the SHA-256, the same for a
// SecretString, and it does not contain the value.
TEST(SecretTest, FingerprintIsStableAndShort) {
  EXPECT_EQ(Fingerprint("abc"), "sha256:ba7816bf8f01cfea");
  SecretString s("token-value");
  EXPECT_EQ(s.fingerprint(), Fingerprint("token-value"));
  EXPECT_EQ(s.fingerprint().find("token-value"), std::string::npos);
}

KubeconfigEntry Entry(const std::string& suffix, const std::string& token) {
  KubeconfigEntry e;
  e.cluster_name = "kcred-dev" + suffix;
  e.server = "https://127.0.0.1:6443";
  e.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  e.user_name = "kcred-dev-automation-ci-bot" + suffix;
  e.token = token;
  e.context_name = "kcred-dev-automation-ci-bot" + suffix;
  e.namespace_name = "automation";
  return e;
}

// A rendered kubeconfig holds the server, the CA base64-encoded, the token, and a current context
// with the user and namespace.
TEST(KubeconfigTest, RenderHasEveryPart) {
  YAML::Node doc = YAML::Load(RenderKubeconfig(Entry("", "t0k3n")));
  EXPECT_EQ(doc["kind"].as<std::string>(), "Config");
  EXPECT_EQ(doc["current-context"].as<std::string>(), "kcred-dev-automation-ci-bot");
  EXPECT_EQ(doc["clusters"][0]["cluster"]["server"].as<std::string>(), "https://127.0.0.1:6443");
  EXPECT_EQ(doc["clusters"][0]["cluster"]["certificate-authority-data"].as<std::string>(),
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=");
  EXPECT_EQ(doc["users"][0]["user"]["token"].as<std::string>(), "t0k3n");
  EXPECT_EQ(doc["contexts"][0]["context"]["namespace"].as<std::string>(), "automation");
  EXPECT_EQ(doc["contexts"][0]["context"]["user"].as<std::string>(), "kcred-dev-automation-ci-bot");
}

// An exec user has no token; its exec uses the v1 API, interactiveMode Never, the account in its
// args and KCRED_SERVER in its env.
TEST(KubeconfigTest, ExecUserHasNoToken) {
  KubeconfigEntry e = Entry("", "");
  e.use_exec = true;
  e.exec.command = "/usr/bin/kcred";
  e.exec.args = {"token", "dev/automation/ci-bot"};
  e.exec.env = {{"KCRED_SERVER", "unix:/run/kcred/kcredd.sock"}};
  YAML::Node doc = YAML::Load(RenderKubeconfig(e));
  YAML::Node exec = doc["users"][0]["user"]["exec"];
  EXPECT_FALSE(doc["users"][0]["user"]["token"]);
  EXPECT_EQ(exec["apiVersion"].as<std::string>(), "client.authentication.k8s.io/v1");
  EXPECT_EQ(exec["interactiveMode"].as<std::string>(), "Never");
  EXPECT_EQ(exec["args"][1].as<std::string>(), "dev/automation/ci-bot");
  EXPECT_EQ(exec["env"][0]["name"].as<std::string>(), "KCRED_SERVER");
}

// Merging keeps other clusters, users, contexts and the current context, replaces an entry of the
// same name, and makes it current only when asked.
TEST(KubeconfigTest, MergeKeepsOtherEntriesAndReplacesSameNames) {
  const std::string existing = R"(apiVersion: v1
kind: Config
clusters:
- name: other
  cluster: {server: "https://other:443"}
users:
- name: other-user
  user: {token: keep-me}
contexts:
- name: other
  context: {cluster: other, user: other-user}
current-context: other
)";
  auto once = MergeKubeconfig(existing, "config", Entry("", "old"), false);
  ASSERT_TRUE(once.ok()) << once.status();
  auto twice = MergeKubeconfig(*once, "config", Entry("", "new"), false);
  ASSERT_TRUE(twice.ok()) << twice.status();
  YAML::Node doc = YAML::Load(*twice);
  ASSERT_EQ(doc["clusters"].size(), 2u);
  ASSERT_EQ(doc["users"].size(), 2u);
  ASSERT_EQ(doc["contexts"].size(), 2u);
  EXPECT_EQ(doc["users"][0]["user"]["token"].as<std::string>(), "keep-me");
  EXPECT_EQ(doc["users"][1]["user"]["token"].as<std::string>(), "new");
  EXPECT_EQ(doc["current-context"].as<std::string>(), "other");

  auto current = MergeKubeconfig(*twice, "config", Entry("", "new"), true);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(YAML::Load(*current)["current-context"].as<std::string>(),
            "kcred-dev-automation-ci-bot");
}

// Merging into an empty file makes a Config whose current context is the new entry.
TEST(KubeconfigTest, MergeIntoEmptyFileCreatesAConfig) {
  auto merged = MergeKubeconfig("", "config", Entry("", "t"), false);
  ASSERT_TRUE(merged.ok());
  YAML::Node doc = YAML::Load(*merged);
  EXPECT_EQ(doc["kind"].as<std::string>(), "Config");
  EXPECT_EQ(doc["current-context"].as<std::string>(), "kcred-dev-automation-ci-bot");
}

// Merging refuses bad YAML (with file and line), a kind other than Config, and clusters not a list.
TEST(KubeconfigTest, MergeRefusesNonKubeconfig) {
  auto bad_yaml = MergeKubeconfig("a: [", "/home/u/.kube/config", Entry("", "t"), false);
  ASSERT_FALSE(bad_yaml.ok());
  EXPECT_THAT(bad_yaml.status().message(), HasSubstr("/home/u/.kube/config:1:"));
  auto wrong_kind = MergeKubeconfig("kind: Pod\n", "f", Entry("", "t"), false);
  ASSERT_FALSE(wrong_kind.ok());
  EXPECT_THAT(wrong_kind.status().message(), HasSubstr("kind is \"Pod\""));
  auto not_list = MergeKubeconfig("clusters: 3\n", "f", Entry("", "t"), false);
  ASSERT_FALSE(not_list.ok());
  EXPECT_THAT(not_list.status().message(), HasSubstr("\"clusters\" is not a list"));
}

// An entry of clusters, users or contexts that is a scalar or a list, or whose name is not a string
// (yaml-cpp once threw out of MergeKubeconfig on these), is refused with InvalidArgument naming
// the file, the position and the entry; the file is not rewritten.
TEST(KubeconfigTest, MergeRefusesEntriesThatAreNotNamedMappings) {
  auto scalar = MergeKubeconfig(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: dev\n  cluster: {}\n"
      "- dev\n",
      "/home/u/.kube/config", Entry("", "t"), false);
  ASSERT_FALSE(scalar.ok());
  EXPECT_EQ(scalar.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scalar.status().message(),
            "/home/u/.kube/config:6:3: not a kubeconfig (clusters[1] is not a mapping with a "
            "\"name\"); fix or move the file, then retry");
  auto list = MergeKubeconfig("users:\n- [a, b]\n", "f", Entry("", "t"), false);
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.status().message(), HasSubstr("users[0] is not a mapping"));
  auto map_name = MergeKubeconfig("contexts:\n- name: {a: b}\n", "f", Entry("", "t"), true);
  ASSERT_FALSE(map_name.ok());
  EXPECT_THAT(map_name.status().message(),
              HasSubstr("contexts[0] has a \"name\" that is not a string"));
  // The fuzzer's input, a clusters entry that is one scalar line.
  auto fuzzed = MergeKubeconfig("apiVersion: v1\nkind: Config\nclusters:\n- name:d ev\n", "f",
                                Entry("", "t"), false);
  ASSERT_FALSE(fuzzed.ok());
  EXPECT_THAT(fuzzed.status().message(), HasSubstr("f:4:3: not a kubeconfig (clusters[0]"));
}

}  // namespace
}  // namespace kcred
