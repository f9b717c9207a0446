#include "tests/support/kcred_env.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace kcred::testing {
namespace {

constexpr char kKubectl[] = "/usr/bin/kubectl";
// 64 hex digits: a fixed sealing key for the test's throwaway store.
constexpr char kSealingKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

}  // namespace

KcredEnv::KcredEnv() { EXPECT_TRUE(WriteFile(dir_.File("sealing.key"), kSealingKey, 0600).ok()); }

KcredEnv::~KcredEnv() {
  if (kcredd_) kcredd_->Stop();
  if (cluster_) cluster_->Stop();
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
}

void KcredEnv::WriteConfig(const std::string& extra_cluster, const std::string& extra) {
  ASSERT_TRUE(WriteFile(dir_.File("kcredd.yaml"),
                        absl::StrCat("listen:\n  unix:\n    path: ", socket(),
                                     "\nstate_dir: ", dir_.File("state"),
                                     "\nstore:\n  sealing_key_file: ", dir_.File("sealing.key"),
                                     "\nclusters:\n- name: dev\n  server: https://", address_,
                                     "\n  ca_file: ", dir_.File("cluster/ca.crt"),
                                     "\n  credential:\n    kubeconfig_file: ", admin_,
                                     "\n  min_token_ttl: 10s\n", extra_cluster, extra))
                  .ok());
}

void KcredEnv::StartKcredd(const std::vector<std::string>& flags,
                           const std::map<std::string, std::string>& env) {
  const std::string ready = dir_.File("kcredd.ready");
  std::remove(ready.c_str());
  ProcessOptions options;
  options.argv = {BinaryPath("kcredd"), "--config", dir_.File("kcredd.yaml"),
                  "--ready-file",       ready,      "--log-level=debug",
                  "--shutdown-grace=4s"};
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
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string log = KcreddLog();
    int found = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
      ++found;
    }
    if (found >= count) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    // Polls the file kcredd writes; kcredd, not the clock, decides when this ends.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
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

RunResult KcredEnv::Kcred(std::vector<std::string> args) const {
  args.insert(args.begin(), BinaryPath("kcred"));
  return Run(args,
             {{"KCRED_SERVER", "unix:" + socket()},
              {"HOME", dir_.path()},
              {"KUBECONFIG", dir_.File("home-kubeconfig")}},
             std::chrono::seconds(60));
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
  return dir_.File(file);
}

std::string KcredEnv::LabelledObjects(const std::string& name) const {
  return AdminOk(
      {"get", "serviceaccounts,secrets,roles,rolebindings,clusterroles,clusterrolebindings", "-A",
       "-l", "app.kubernetes.io/managed-by=kcred,kcred.io/account=" + name, "-o", "name"});
}

}  // namespace kcred::testing
