#pragma once
// The kubeconfig model kcred renders and merges: one cluster, one user and one context per account,
// with names unique per account so several can live in one file.

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kcred {

// How the user authenticates: a bearer token, or an exec-credential plugin (no token on disk).
struct ExecPlugin {
  std::string command;  // absolute path of the plugin binary
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string interactive_mode = "Never";  // Never | IfAvailable | Always
};

struct KubeconfigEntry {
  std::string cluster_name;  // clusters[].name
  std::string server;        // https://host:port
  std::string ca_pem;        // embedded as certificate-authority-data (base64 of the PEM)
  std::string user_name;     // users[].name
  std::string token;         // users[].user.token; empty when `exec` is used
  bool use_exec = false;
  ExecPlugin exec;
  std::string context_name;    // contexts[].name; also the current-context of a rendered file
  std::string namespace_name;  // contexts[].context.namespace; omitted when empty
};

// Renders a complete kubeconfig (apiVersion v1, kind Config) holding exactly `entry`.
std::string RenderKubeconfig(const KubeconfigEntry& entry);

// Merges `entry` into an existing kubeconfig document (`existing` may be empty): clusters, users
// and contexts with the same names are replaced, everything else is kept. current-context is set to
// the entry's context when `set_current` or when the file had none. InvalidArgument when `existing`
// is not a kubeconfig (the message names `source` and what is wrong).
absl::StatusOr<std::string> MergeKubeconfig(const std::string& existing, const std::string& source,
                                            const KubeconfigEntry& entry, bool set_current);

}  // namespace kcred
