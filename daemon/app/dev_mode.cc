#include "daemon/app/dev_mode.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "daemon/app/wiring.h"
#include "daemon/store/sealing_key.h"

namespace kcred::app {
namespace {

// "export PATH=<dir>:$PATH" when kcred sits next to this kcredd and is not already on PATH.
std::string BinDirExport() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const std::filesystem::path dir = self.parent_path();
  if (!std::filesystem::exists(dir / "kcred", ec)) return "";
  const char* path = std::getenv("PATH");
  if (path != nullptr && std::string(":").append(path).append(":").find(":" + dir.string() + ":") !=
                             std::string::npos) {
    return "";
  }
  return absl::StrCat("  export PATH=", dir.string(), ":$PATH\n");
}

}  // namespace

absl::StatusOr<std::unique_ptr<DevMode>> DevMode::Start(const DevOptions& options, Clock& clock) {
  std::unique_ptr<DevMode> dev(new DevMode());
  if (options.dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kcredd-dev.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::FailedPreconditionError("cannot create a temporary directory for dev mode");
    }
    dev->dir_ = tmpl;
    dev->remove_dir_ = true;
  } else {
    dev->dir_ = std::filesystem::absolute(options.dir).lexically_normal().string();
    KCRED_RETURN_IF_ERROR(EnsurePrivateDir(dev->dir_, "dev directory"));
  }
  devcluster::DevClusterOptions cluster_options;
  cluster_options.data_dir = dev->dir_ + "/cluster";
  cluster_options.min_token_expiration = options.min_token_ttl;
  KCRED_ASSIGN_OR_RETURN(dev->cluster_, devcluster::DevCluster::Start(cluster_options, &clock));

  // kcredd authenticates to the dev cluster as its admin, through a token file like production.
  const std::string token_file = dev->dir_ + "/cluster-admin.token";
  KCRED_RETURN_IF_ERROR(WriteFileAtomic(token_file, dev->cluster_->admin_token().Reveal(), 0600));
  const std::string key_file = dev->dir_ + "/sealing.key";
  KCRED_RETURN_IF_ERROR(store::LoadOrGenerateSealingKeyFile(key_file).status());

  config::Config& c = dev->config_;
  c = config::DefaultConfig();
  c.source = "dev mode";
  c.listen.unix_socket->path = dev->dir_ + "/kcredd.sock";
  c.state_dir = dev->dir_ + "/state";
  c.store.sealing_key_file = key_file;
  config::ClusterConfig cluster;
  cluster.name = "dev";
  cluster.server = dev->cluster_->server_url();
  cluster.ca_pem = dev->cluster_->ca_pem();
  cluster.credential.token_file = token_file;
  cluster.min_token_ttl = options.min_token_ttl;
  // Dev mode is for trying kcred: kcred may create namespaces, make cluster-scope accounts and
  // bind the usual read/write roles. Rules are limited as everywhere (no wildcard, escalate,
  // bind, impersonate or cluster-wide Secrets), and only the user who started kcredd may call.
  cluster.policy.allow_create_namespace = true;
  cluster.policy.allow_cluster_scope = true;
  cluster.policy.allowed_role_refs = {"ClusterRole/view", "ClusterRole/edit"};
  c.clusters.push_back(cluster);
  return dev;
}

DevMode::~DevMode() {
  if (cluster_ != nullptr) cluster_->Stop();
  if (remove_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string DevMode::Banner() const {
  const std::string socket = config_.listen.unix_socket->path;
  return absl::StrCat(
      "\nkcredd is running in dev mode against an embedded kcred-devcluster.\n\n",
      "  cluster \"dev\"   ", cluster_->server_url(),
      "  (admin: ", cluster_->admin_kubeconfig_path(), ")\n", "  kcredd          unix:", socket,
      "\n", "  state           ", dir_, remove_dir_ ? " (removed at exit)" : "", "\n",
      "  audit log       ", config_.state_dir, "/audit.log\n", "  callers         uid ", getuid(),
      " only (you; see `kcred whoami`)\n\n", "Try, in another terminal:\n\n", BinDirExport(),
      "  export KCRED_SERVER=unix:", socket, "\n", "  kcred clusters\n",
      "  kcred provision dev/automation/ci-bot --create-namespace \\\n",
      "      --rule 'get,list,watch:pods,services,configmaps' \n",
      "  kcred kubeconfig dev/automation/ci-bot -o ci-bot.kubeconfig\n",
      "  kubectl --kubeconfig ci-bot.kubeconfig auth whoami\n",
      "  kubectl --kubeconfig ci-bot.kubeconfig get pods -n automation\n",
      "  kcred rotate dev/automation/ci-bot\n", "  kcred list\n\n", "Press Ctrl-C to stop.\n");
}

}  // namespace kcred::app
