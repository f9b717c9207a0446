#include "client/kubeconfig_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/arguments.h"
#include "common/files.h"

namespace kcred::client {
namespace {

// Creates the missing directories above `file`, each with mode 0700.
absl::Status CreateParentDirectories(const std::filesystem::path& file) {
  const std::filesystem::path parent = file.parent_path();
  if (parent.empty()) return absl::OkStatus();
  std::filesystem::path partial;
  for (const auto& part : parent) {
    partial /= part;
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(absl::StrCat("cannot create directory ", partial.string(),
                                                      " for ", file.string(), ": ",
                                                      std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

// The entry's names, server, CA and namespace from the answer's fields.
absl::StatusOr<KubeconfigEntry> EntryFields(const v1::GetKubeconfigResponse& response) {
  const struct {
    const char* field;
    const std::string& value;
  } required[] = {{"context_name", response.context_name()},
                  {"cluster_name", response.cluster_name()},
                  {"user_name", response.user_name()},
                  {"server", response.server()}};
  for (const auto& r : required) {
    if (r.value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kcredd's kubeconfig answer has no ", r.field,
                       "; kcredd and kcred versions may not match (check `kcred version`)"));
    }
  }
  KubeconfigEntry entry;
  entry.context_name = response.context_name();
  entry.cluster_name = response.cluster_name();
  entry.user_name = response.user_name();
  entry.server = response.server();
  entry.ca_pem = response.certificate_authority();
  entry.namespace_name = response.namespace_();
  return entry;
}

// Holds `<file>.lock`, the lock kubectl (client-go) takes while it writes a kubeconfig, so that
// kcred and kubectl do not overwrite each other's changes.
class KubeconfigLock {
 public:
  static absl::StatusOr<std::unique_ptr<KubeconfigLock>> Acquire(const std::string& file) {
    const std::string path = file + ".lock";
    int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, " exists: another kubectl or kcred is writing ", file,
                         "; retry, or remove the lock file if no such process is running"));
      }
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create the lock file ", path, ": ", std::strerror(errno)));
    }
    close(fd);
    return std::unique_ptr<KubeconfigLock>(new KubeconfigLock(path));
  }
  ~KubeconfigLock() { unlink(path_.c_str()); }
  KubeconfigLock(const KubeconfigLock&) = delete;
  KubeconfigLock& operator=(const KubeconfigLock&) = delete;

 private:
  explicit KubeconfigLock(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace

absl::StatusOr<std::string> ResolveMergeTarget(const char* kubeconfig_env, const char* home_env) {
  if (kubeconfig_env != nullptr) {
    for (absl::string_view entry : absl::StrSplit(kubeconfig_env, ':')) {
      if (!entry.empty()) return std::string(entry);
    }
  }
  if (home_env != nullptr && *home_env != '\0') {
    return absl::StrCat(home_env, "/.kube/config");
  }
  return absl::InvalidArgumentError(
      "--merge: neither KUBECONFIG nor HOME is set, so there is no kubeconfig to merge into; set "
      "KUBECONFIG=FILE or write a separate file with -o FILE");
}

absl::StatusOr<KubeconfigEntry> EntryFromResponse(const v1::GetKubeconfigResponse& response) {
  auto fields = EntryFields(response);
  if (!fields.ok()) return fields.status();
  KubeconfigEntry entry = std::move(*fields);
  try {
    const YAML::Node root = YAML::Load(response.kubeconfig());
    const YAML::Node users = root["users"];
    if (users && users.IsSequence()) {
      for (std::size_t i = 0; i < users.size(); ++i) {
        const YAML::Node user = users[i];
        if (user["name"] && user["name"].as<std::string>("") == entry.user_name && user["user"] &&
            user["user"]["token"] && user["user"]["token"].IsScalar()) {
          entry.token = user["user"]["token"].Scalar();
        }
      }
    }
  } catch (const YAML::Exception& e) {
    // The message of a YAML error may quote the document, which holds the token: say only where.
    return absl::InvalidArgumentError(absl::StrCat("kcredd's kubeconfig is not valid YAML (line ",
                                                   e.mark.line + 1,
                                                   "); report this to kcredd's operator"));
  }
  if (entry.token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("kcredd's kubeconfig has no token for user \"",
                                                   entry.user_name,
                                                   "\"; report this to kcredd's operator"));
  }
  return entry;
}

absl::StatusOr<KubeconfigEntry> ExecEntryFromResponse(const v1::GetKubeconfigResponse& response,
                                                      const ExecPlugin& plugin) {
  auto entry = EntryFields(response);
  if (!entry.ok()) return entry.status();
  entry->use_exec = true;
  entry->exec = plugin;
  return entry;
}

ExecPlugin KcredTokenPlugin(const std::string& kcred_binary, const v1::AccountRef& ref,
                            const ConnectionOptions& connection) {
  ExecPlugin plugin;
  plugin.command = kcred_binary;
  plugin.args = {"token", FormatAccountRef(ref)};
  if (connection.insecure) plugin.args.push_back("--insecure");
  if (connection.timeout != ConnectionOptions().timeout) {
    plugin.args.push_back("--timeout");
    plugin.args.push_back(FormatDurationArg(connection.timeout));
  }
  plugin.env["KCRED_SERVER"] = ResolveServer(connection);
  const std::pair<const char*, const std::string*> files[] = {{"KCRED_CA", &connection.ca_file},
                                                              {"KCRED_CERT", &connection.cert_file},
                                                              {"KCRED_KEY", &connection.key_file}};
  for (const auto& [name, path] : files) {
    if (path->empty()) continue;
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(*path, ec);
    plugin.env[name] = ec ? *path : absolute.lexically_normal().string();
  }
  plugin.interactive_mode = "Never";
  return plugin;
}

absl::StatusOr<std::string> SelfExecutablePath() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--exec: cannot find kcred's own path through /proc/self/exe: ", ec.message()));
  }
  return self.string();
}

absl::Status MergeIntoFile(const std::string& path, const KubeconfigEntry& entry,
                           bool set_current) {
  std::filesystem::path target(path);
  std::error_code ec;
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(target, ec))) {
    target = std::filesystem::weakly_canonical(target, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot resolve the symlink ", path, ": ", ec.message()));
    }
  }
  const std::string file = target.string();
  if (absl::Status s = CreateParentDirectories(target); !s.ok()) return s;
  auto lock = KubeconfigLock::Acquire(file);
  if (!lock.ok()) return lock.status();
  int mode = 0600;
  std::string existing;
  struct stat st;
  if (stat(file.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, " is not a regular file; point KUBECONFIG at a kubeconfig file"));
    }
    mode = static_cast<int>(st.st_mode & 0600);
    auto data = ReadFileToString(file);
    if (!data.ok()) return data.status();
    existing = std::move(*data);
  } else if (errno != ENOENT) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot inspect ", file, ": ", std::strerror(errno)));
  }
  auto merged = MergeKubeconfig(existing, file, entry, set_current);
  if (!merged.ok()) return merged.status();
  return WriteFileAtomic(file, *merged, mode);
}

}  // namespace kcred::client
