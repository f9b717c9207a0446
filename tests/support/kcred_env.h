#pragma once
// A kcred environment for integration tests: kcred-devcluster and kcredd as real processes in a
// temporary directory, and helpers that run the real kcred and kubectl against them. Everything
// started is stopped by the destructor, also when a test fails.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace kcred::testing {

class KcredEnv {
 public:
  KcredEnv();
  ~KcredEnv();

  // Starts kcred-devcluster (data in <dir>/cluster) and waits until it serves. `listen` may name
  // the port of an earlier run; `flags` are extra devcluster flags.
  void StartCluster(const std::string& listen = "127.0.0.1:0",
                    const std::vector<std::string>& flags = {});
  // Writes <dir>/kcredd.yaml for cluster "dev" with `extra_cluster` (YAML lines indented by two
  // spaces, e.g. "  qps: 100\n") added to the cluster and `extra` appended at the top level.
  void WriteConfig(const std::string& extra_cluster = "", const std::string& extra = "");
  // Starts kcredd with the config and waits until it serves. `env` is added to its environment
  // (e.g. NOTIFY_SOCKET).
  void StartKcredd(const std::vector<std::string>& flags = {},
                   const std::map<std::string, std::string>& env = {});
  // The log of the kcredd started last.
  std::string KcreddLog() const;
  // Waits until the log of the kcredd started last contains `text` `count` times; false after
  // `timeout`.
  bool WaitForKcreddLog(const std::string& text, int count = 1,
                        std::chrono::seconds timeout = std::chrono::seconds(30)) const;
  // SIGTERM and wait (exit code), or SIGKILL at once.
  int StopKcredd();
  void KillKcredd();
  int StopCluster();

  RunResult Kcred(std::vector<std::string> args) const;
  // kcred must succeed (a test failure otherwise); returns stdout.
  std::string KcredOk(std::vector<std::string> args) const;
  RunResult Kubectl(const std::string& kubeconfig, std::vector<std::string> args) const;
  // kubectl as the cluster admin; must succeed; returns stdout.
  std::string AdminOk(std::vector<std::string> args) const;
  // Writes the account's kubeconfig to <dir>/<file> and returns its path.
  std::string FetchKubeconfig(const std::string& ref, const std::string& file) const;
  // "kind/name" lines of every object labelled for account `name`, across namespaces.
  std::string LabelledObjects(const std::string& name) const;

  std::string Log(const std::string& name) const;
  std::string File(const std::string& name) const { return dir_.File(name); }
  const std::string& dir() const { return dir_.path(); }
  const std::string& address() const { return address_; }  // host:port of the cluster
  const std::string& admin() const { return admin_; }      // admin.kubeconfig path
  std::string socket() const { return dir_.File("kcredd.sock"); }
  Process* kcredd() { return kcredd_.get(); }

 private:
  TempDir dir_;
  std::unique_ptr<Process> cluster_;
  std::unique_ptr<Process> kcredd_;
  std::string address_;
  std::string admin_;
  int kcredd_starts_ = 0;
};

}  // namespace kcred::testing
