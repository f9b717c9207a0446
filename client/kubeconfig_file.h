#pragma once
// Where and how `kcred kubeconfig` puts a kubeconfig on disk: the merge target (as kubectl finds
// it), the entry taken from a GetKubeconfig answer, and the merge into an existing file that keeps
// its other entries and never leaves a token readable by others.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/connection.h"
#include "common/kubeconfig.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::client {

// The file `--merge` writes: the first non-empty entry of $KUBECONFIG (colon-separated), else
// $HOME/.kube/config. Either argument may be null (unset). InvalidArgument when neither is usable.
absl::StatusOr<std::string> ResolveMergeTarget(const char* kubeconfig_env, const char* home_env);

// The kubeconfig entry of a GetKubeconfig answer: names, server, CA and namespace from the answer's
// fields, the token from the user entry of its YAML. InvalidArgument (never quoting the token or
// the YAML) when the answer lacks a part.
absl::StatusOr<KubeconfigEntry> EntryFromResponse(const v1::GetKubeconfigResponse& response);

// The same entry with an exec-credential plugin as its user instead of the token (the token in
// the answer is not used).
absl::StatusOr<KubeconfigEntry> ExecEntryFromResponse(const v1::GetKubeconfigResponse& response,
                                                      const ExecPlugin& plugin);

// The plugin that runs `<kcred_binary> token CLUSTER/NAMESPACE/NAME`, reaching kcredd as
// `connection` says: KCRED_SERVER (the resolved address) and KCRED_CA/KCRED_CERT/KCRED_KEY (as
// absolute paths) in its environment, --insecure and --timeout as arguments when set. kubectl
// never prompts for it (interactiveMode Never).
ExecPlugin KcredTokenPlugin(const std::string& kcred_binary, const v1::AccountRef& ref,
                            const ConnectionOptions& connection);

// The absolute path of the running executable (/proc/self/exe).
absl::StatusOr<std::string> SelfExecutablePath();

// Merges `entry` into the kubeconfig at `path` (MergeKubeconfig: same-named entries replaced, the
// rest kept) and replaces the file atomically. A missing file is created with mode 0600 and its
// missing directories with 0700; an existing file keeps its permission bits but loses any beyond
// 0600. A symlink is followed, so the file it points to is updated. While writing it holds
// `<file>.lock` as kubectl does; FailedPrecondition when that lock exists.
absl::Status MergeIntoFile(const std::string& path, const KubeconfigEntry& entry, bool set_current);

}  // namespace kcred::client
