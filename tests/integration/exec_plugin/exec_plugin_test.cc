// Real kubectl with a kubeconfig from `kcred kubeconfig --exec`: kubectl runs the real
// `kcred token` as its exec-credential plugin against the real kcredd, with the per-user cache.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/kcred_env.h"
#include "tests/support/process.h"

namespace kcred {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunResult;

class ExecPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.StartCluster();
    env_.WriteConfig();
    env_.StartKcredd();
  }

  // The audit lines of kcredd's GetToken answers so far.
  int GetTokenCalls() const {
    int n = 0;
    for (const std::string& line : env_.AuditLines()) {
      if (absl::StrContains(line, "\"method\":\"GetToken\"")) ++n;
    }
    return n;
  }

  // The files in the plugin's cache directory ($HOME/.kube/cache/kcred, HOME being the env dir).
  std::vector<std::string> CacheFiles() const {
    std::vector<std::string> files;
    DIR* dir = opendir(cache_dir().c_str());
    if (dir == nullptr) return files;
    while (dirent* e = readdir(dir)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") files.push_back(cache_dir() + "/" + name);
    }
    closedir(dir);
    return files;
  }
  std::string cache_dir() const { return env_.File(".kube/cache/kcred"); }

  testing::KcredEnv env_;
};

int ModeOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// kubectl runs `kcred token` with no token on disk: it asks kcredd once, then reads a 0600 cache;
// after a revoking rotation the next run asks kcredd again and caches the new token.
TEST_F(ExecPluginTest, KubectlRunsKcredTokenWithTheCacheAcrossARevokingRotation) {
  env_.KcredOk({"provision", "dev/automation/ci-bot", "--create-namespace", "--rule",
                "get,list:pods", "--grace", "0s"});
  const std::string kubeconfig = env_.File("exec.kubeconfig");
  env_.KcredOk({"kubeconfig", "dev/automation/ci-bot", "--exec", "-o", kubeconfig});
  const std::string config_text = testing::ReadFile(kubeconfig).value_or("");
  EXPECT_THAT(config_text, HasSubstr("client.authentication.k8s.io/v1"));
  EXPECT_THAT(config_text, HasSubstr("interactiveMode: Never"));
  EXPECT_THAT(config_text, Not(HasSubstr("token:"))) << "no token on disk";
  const std::string token = env_.KcredOk({"token", "dev/automation/ci-bot", "--no-cache"});
  ASSERT_THAT(token, HasSubstr("\"token\":\""));
  const std::string secret = token.substr(token.find("\"token\":\"") + 9, 40);
  EXPECT_THAT(config_text, Not(HasSubstr(secret)));
  EXPECT_TRUE(CacheFiles().empty()) << "--no-cache writes no cache";
  const int base = GetTokenCalls();
  EXPECT_EQ(base, 1) << env_.Log("kcredd.log");

  RunResult whoami = env_.Kubectl(kubeconfig, {"auth", "whoami"});
  ASSERT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_THAT(whoami.out, HasSubstr("system:serviceaccount:automation:ci-bot"));
  EXPECT_EQ(GetTokenCalls(), base + 1) << "the first run asks kcredd";

  const std::vector<std::string> files = CacheFiles();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(ModeOf(cache_dir()), 0700);
  EXPECT_EQ(ModeOf(files[0]), 0600);

  for (int i = 0; i < 3; ++i) {
    RunResult pods = env_.Kubectl(kubeconfig, {"get", "pods", "-n", "automation"});
    EXPECT_EQ(pods.exit_code, 0) << pods.err;
    EXPECT_THAT(pods.err, Not(HasSubstr("warning")));
  }
  EXPECT_EQ(GetTokenCalls(), base + 1) << "later kubectl runs are answered from the cache";

  // A rotation with no grace revokes the cached token at once. kubectl gets a 401 with it, runs
  // the plugin again, and that run asks kcredd instead of serving the revoked token again.
  env_.KcredOk({"rotate", "dev/automation/ci-bot", "--grace", "0s", "--reason", "test"});
  RunResult after = env_.Kubectl(kubeconfig, {"get", "pods", "-n", "automation"});
  EXPECT_EQ(GetTokenCalls(), base + 2) << after.err;
  EXPECT_TRUE(after.exit_code == 0 || absl::StrContains(after.err, "Unauthorized")) << after.err;
  // Whether the request that met the 401 is retried is kubectl's business; the next one works.
  RunResult again = env_.Kubectl(kubeconfig, {"auth", "whoami"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("system:serviceaccount:automation:ci-bot"));
  RunResult pods = env_.Kubectl(kubeconfig, {"get", "pods", "-n", "automation"});
  EXPECT_EQ(pods.exit_code, 0) << pods.err;
  EXPECT_EQ(GetTokenCalls(), base + 2) << "the new token is cached";
  EXPECT_EQ(ModeOf(files[0]), 0600);
}

}  // namespace
}  // namespace kcred
