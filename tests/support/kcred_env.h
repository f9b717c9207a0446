#pragma once
// A kcred environment for integration tests: kcred-devcluster and kcredd as real processes in a
// temporary directory, and helpers that run the real kcred and kubectl against them. Everything
// started is stopped by the destructor, also when a test fails.

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tests/support/process.h"

namespace kcred::testing {

// The admission policy of the tests' cluster: everything kcred can do is allowed except what the
// defaults forbid in rules (wildcards, escalate, bind, impersonate, cluster-wide Secrets).
inline constexpr char kTestPolicy[] =
    "  policy:\n"
    "    allow_cluster_scope: true\n"
    "    allow_create_namespace: true\n"
    "    allow_token_only: true\n"
    "    allow_legacy_tokens: true\n"
    "    allow_adopt: true\n"
    "    allowed_role_refs: [\"ClusterRole/*\", \"Role/*\"]\n"
    "    allowed_audiences: [\"*\"]\n";

class KcredEnv {
 public:
  KcredEnv();
  ~KcredEnv();

  // Starts kcred-devcluster (data in <dir>/cluster) and waits until it serves. `listen` may name
  // the port of an earlier run; `flags` are extra devcluster flags. The first start also gives
  // kcredd its credential: the least-privilege RBAC of systemd/kcredd-rbac.yaml and a token.
  void StartCluster(const std::string& listen = "127.0.0.1:0",
                    const std::vector<std::string>& flags = {});
  // Writes <dir>/kcredd.yaml for cluster "dev" with `extra_cluster` (YAML lines indented by two
  // spaces, e.g. "  qps: 100\n") added to the cluster and `extra` appended at the top level.
  // kcredd authenticates with the least-privilege token StartCluster made; the cluster's
  // admission `policy` is kTestPolicy unless given (e.g. "" for the defaults).
  void WriteConfig(const std::string& extra_cluster = "", const std::string& extra = "",
                   const std::string& policy = kTestPolicy);
  // Starts kcredd with the config and waits until it serves. `env` is added to its environment
  // (e.g. NOTIFY_SOCKET); `prefix` runs it through another command (e.g. setpriv, to run it as
  // another uid).
  void StartKcredd(const std::vector<std::string>& flags = {},
                   const std::map<std::string, std::string>& env = {},
                   const std::vector<std::string>& prefix = {});
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

  // Runs kcred as the test's user. Every token its output shows (a kubeconfig, an exec
  // credential) is remembered: when the environment ends, none may appear in kcredd's logs, its
  // audit log or its store, nor in kcred-devcluster's log.
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
  // The lines of kcredd's audit log (<dir>/state/audit.log), one JSON record each.
  std::vector<std::string> AuditLines() const;
  std::string File(const std::string& name) const { return dir_.File(name); }
  const std::string& dir() const { return dir_.path(); }
  const std::string& address() const { return address_; }  // host:port of the cluster
  const std::string& admin() const { return admin_; }      // admin.kubeconfig path
  std::string socket() const { return dir_.File("kcredd.sock"); }
  Process* kcredd() { return kcredd_.get(); }

 private:
  // Applies systemd/kcredd-rbac.yaml and writes <dir>/kcredd.token for its ServiceAccount.
  void GrantKcreddLeastPrivilege();
  // Remembers the tokens `text` holds.
  void NoteTokens(const std::string& text) const;
  // Fails the test when a remembered token appears in a log, the audit log or the store.
  void ExpectNoTokenLeaked() const;

  TempDir dir_;
  std::unique_ptr<Process> cluster_;
  std::unique_ptr<Process> kcredd_;
  std::string address_;
  std::string admin_;
  int kcredd_starts_ = 0;
  mutable absl::Mutex tokens_mu_;
  mutable std::set<std::string> tokens_ ABSL_GUARDED_BY(tokens_mu_);
};

// Every JWT-shaped string (header.payload.signature, base64url, starting "eyJ") in `text`.
std::vector<std::string> FindTokens(const std::string& text);

}  // namespace kcred::testing
