#include "tests/support/kcred_env.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

// The repository root, for systemd/kcredd-rbac.yaml (CMake compiles it in; elsewhere
// $KCRED_SOURCE_DIR or the working directory).
#ifndef KCRED_TEST_SOURCE_DIR
#define KCRED_TEST_SOURCE_DIR "."
#endif

namespace kcred::testing {
namespace {

std::string SourceDir() {
  const char* dir = std::getenv("KCRED_SOURCE_DIR");
  return dir != nullptr && *dir != '\0' ? dir : KCRED_TEST_SOURCE_DIR;
}

constexpr char kKubectl[] = "/usr/bin/kubectl";
// 64 hex digits: a fixed sealing key for the test's throwaway store.
constexpr char kSealingKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

bool FileExists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

}  // namespace

KcredEnv::KcredEnv() { EXPECT_TRUE(WriteFile(dir_.File("sealing.key"), kSealingKey, 0600).ok()); }

KcredEnv::~KcredEnv() {
  if (kcredd_) kcredd_->Stop();
  if (cluster_) cluster_->Stop();
  ExpectNoTokenLeaked();
}

std::vector<std::string> FindTokens(const std::string& text) {
  std::vector<std::string> tokens;
  auto token_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  };
  for (size_t at = text.find("eyJ"); at != std::string::npos; at = text.find("eyJ", at + 1)) {
    size_t end = at;
    int dots = 0;
    while (end < text.size() && (token_char(text[end]) || (text[end] == '.' && dots < 2))) {
      if (text[end] == '.') ++dots;
      ++end;
    }
    if (dots == 2 && end - at > 40) {
      tokens.push_back(text.substr(at, end - at));
      at = end;
    }
  }
  return tokens;
}

void KcredEnv::NoteTokens(const std::string& text) const {
  std::vector<std::string> found = FindTokens(text);
  absl::MutexLock lock(&tokens_mu_);
  tokens_.insert(found.begin(), found.end());
}

void KcredEnv::ExpectNoTokenLeaked() const {
  std::vector<std::string> files;
  for (int i = 0; i < kcredd_starts_; ++i) files.push_back(absl::StrCat("kcredd-", i, ".log"));
  files.push_back("devcluster.log");
  for (const char* name : {"state/audit.log", "state/kcred.db", "state/kcred.db-wal"}) {
    files.push_back(name);
  }
  for (int i = 1; i <= 10; ++i) files.push_back(absl::StrCat("state/audit.log.", i));
  absl::MutexLock lock(&tokens_mu_);
  for (const std::string& file : files) {
    const std::string content = ReadFile(dir_.File(file)).value_or("");
    for (const std::string& token : tokens_) {
      // Never print the token: its fingerprint-free position is enough to find it.
      EXPECT_EQ(content.find(token), std::string::npos)
          << "a token kcred handed out appears in " << file << " at offset " << content.find(token);
    }
  }
}

void KcredEnv::StartCluster(const std::string& listen, const std::vector<std::string>& flags) {
  std::remove(dir_.File("cluster/address").c_str());
  ProcessOptions options;
  options.argv = {BinaryPath("kcred-devcluster"), "--listen=" + listen,
                  "--data-dir=" + dir_.File("cluster"), "--min-token-expiration=10s",
                  "--log-level=warn"};
  options.argv.insert(options.argv.end(), flags.begin(), flags.end());
  options.stdout_file = dir_.File("devcluster.log");
  auto process = Process::Start(options);
  ASSERT_TRUE(process.ok());
  cluster_ = *std::move(process);
  auto address = WaitForFile(dir_.File("cluster/address"), std::chrono::seconds(30));
  ASSERT_TRUE(address.ok()) << Log("devcluster.log");
  address_ = std::string(absl::StripAsciiWhitespace(*address));
  admin_ = dir_.File("cluster/admin.kubeconfig");
  if (!FileExists(dir_.File("kcredd.token"))) GrantKcreddLeastPrivilege();
}

void KcredEnv::GrantKcreddLeastPrivilege() {
  // The documented least privilege (systemd/kcredd-rbac.yaml), and a token for it: kcredd never
  // runs as the cluster's admin in these tests.
  AdminOk({"create", "--validate=false", "-f", SourceDir() + "/systemd/kcredd-rbac.yaml"});
  const std::string token =
      AdminOk({"create", "token", "kcredd", "-n", "kcred-system", "--duration", "8760h"});
  ASSERT_FALSE(token.empty());
  ASSERT_TRUE(WriteFile(dir_.File("kcredd.token"), token, 0600).ok());
}

void KcredEnv::WriteConfig(const std::string& extra_cluster, const std::string& extra,
                           const std::string& policy) {
  ASSERT_TRUE(WriteFile(dir_.File("kcredd.yaml"),
                        absl::StrCat("listen:\n  unix:\n    path: ", socket(),
                                     "\nstate_dir: ", dir_.File("state"),
                                     "\nstore:\n  sealing_key_file: ", dir_.File("sealing.key"),
                                     "\nclusters:\n- name: dev\n  server: https://", address_,
                                     "\n  ca_file: ", dir_.File("cluster/ca.crt"),
                                     "\n  credential:\n    token_file: ", dir_.File("kcredd.token"),
                                     "\n  min_token_ttl: 10s\n", extra_cluster, policy, extra))
                  .ok());
}

void KcredEnv::StartKcredd(const std::vector<std::string>& flags,
                           const std::map<std::string, std::string>& env,
                           const std::vector<std::string>& prefix) {
  const std::string ready = dir_.File("kcredd.ready");
  std::remove(ready.c_str());
  ProcessOptions options;
  options.argv = prefix;
  for (const std::string& arg :
       {BinaryPath("kcredd"), std::string("--config"), dir_.File("kcredd.yaml"),
        std::string("--ready-file"), ready, std::string("--log-level=debug"),
        std::string("--shutdown-grace=4s")}) {
    options.argv.push_back(arg);
  }
  options.argv.insert(options.argv.end(), flags.begin(), flags.end());
  options.env = env;
  options.stdout_file = dir_.File(absl::StrCat("kcredd-", kcredd_starts_++, ".log"));
  auto process = Process::Start(options);
  ASSERT_TRUE(process.ok());
  kcredd_ = *std::move(process);
  ASSERT_TRUE(WaitForFile(ready, std::chrono::seconds(30)).ok())
      << Log(absl::StrCat("kcredd-", kcredd_starts_ - 1, ".log"));
}

std::string KcredEnv::KcreddLog() const {
  return Log(absl::StrCat("kcredd-", kcredd_starts_ - 1, ".log"));
}

bool KcredEnv::WaitForKcreddLog(const std::string& text, int count,
                                std::chrono::seconds timeout) const {
  return WaitForText(dir_.File(absl::StrCat("kcredd-", kcredd_starts_ - 1, ".log")), text, count,
                     timeout);
}

int KcredEnv::StopKcredd() {
  if (!kcredd_) return -1;
  int code = kcredd_->Stop(std::chrono::seconds(20));
  kcredd_.reset();
  return code;
}

void KcredEnv::KillKcredd() {
  if (!kcredd_) return;
  kcredd_->Signal(SIGKILL);
  (void)kcredd_->Wait(std::chrono::seconds(10));
  kcredd_.reset();
}

int KcredEnv::StopCluster() {
  if (!cluster_) return -1;
  int code = cluster_->Stop();
  cluster_.reset();
  return code;
}

std::string KcredEnv::Log(const std::string& name) const {
  if (name == "kcredd.log") {
    std::string all;
    for (int i = 0; i < kcredd_starts_; ++i) {
      all += ReadFile(dir_.File(absl::StrCat("kcredd-", i, ".log"))).value_or("");
    }
    return all;
  }
  return ReadFile(dir_.File(name)).value_or("");
}

std::vector<std::string> KcredEnv::AuditLines() const {
  return absl::StrSplit(ReadFile(dir_.File("state/audit.log")).value_or(""), '\n',
                        absl::SkipEmpty());
}

RunResult KcredEnv::Kcred(std::vector<std::string> args) const {
  args.insert(args.begin(), BinaryPath("kcred"));
  RunResult r = Run(args,
                    {{"KCRED_SERVER", "unix:" + socket()},
                     {"HOME", dir_.path()},
                     {"KUBECONFIG", dir_.File("home-kubeconfig")}},
                    std::chrono::seconds(60));
  NoteTokens(r.out);
  return r;
}

std::string KcredEnv::KcredOk(std::vector<std::string> args) const {
  RunResult r = Kcred(args);
  EXPECT_EQ(r.exit_code, 0) << "kcred " << absl::StrJoin(args, " ") << ": " << r.err
                            << "\nkcredd log:\n"
                            << Log("kcredd.log");
  return r.out;
}

RunResult KcredEnv::Kubectl(const std::string& kubeconfig, std::vector<std::string> args) const {
  std::vector<std::string> argv = {kKubectl, "--kubeconfig", kubeconfig};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, {{"HOME", dir_.path()}, {"KUBECONFIG", ""}}, std::chrono::seconds(30));
}

std::string KcredEnv::AdminOk(std::vector<std::string> args) const {
  RunResult r = Kubectl(admin_, args);
  EXPECT_EQ(r.exit_code, 0) << "kubectl " << absl::StrJoin(args, " ") << ": " << r.err;
  return r.out;
}

std::string KcredEnv::FetchKubeconfig(const std::string& ref, const std::string& file) const {
  KcredOk({"kubeconfig", ref, "-o", dir_.File(file)});
  NoteTokens(ReadFile(dir_.File(file)).value_or(""));
  return dir_.File(file);
}

std::string KcredEnv::LabelledObjects(const std::string& name) const {
  return AdminOk(
      {"get", "serviceaccounts,secrets,roles,rolebindings,clusterroles,clusterrolebindings", "-A",
       "-l", "app.kubernetes.io/managed-by=kcred,kcred.io/account=" + name, "-o", "name"});
}

}  // namespace kcred::testing
