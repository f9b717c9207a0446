#include "daemon/app/wiring.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/kube/credential.h"
#include "daemon/kube/http_kube_client.h"
#include "daemon/store/aes_gcm_sealer.h"
#include "daemon/store/sealing_key.h"
#include "daemon/store/sqlite_store.h"

namespace kcred {
namespace {

absl::Status EnsurePrivateDir(const std::string& dir, const std::string& what) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", what, " ", dir, ": ", ec.message()));
  }
  chmod(dir.c_str(), 0700);
  return absl::OkStatus();
}

absl::StatusOr<kube::CredentialPtr> ClusterCredential(const config::ClusterConfig& cluster) {
  if (!cluster.credential.token_file.empty()) {
    return kube::CredentialPtr(
        std::make_shared<kube::TokenFileCredential>(cluster.credential.token_file));
  }
  auto target = kube::LoadKubeconfig(cluster.credential.kubeconfig_file,
                                     cluster.credential.kubeconfig_context);
  if (!target.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster \"", cluster.name, "\": ", target.status().message()));
  }
  return target->credential;
}

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

absl::StatusOr<broker::ClusterHandle> ConnectCluster(const config::ClusterConfig& cluster,
                                                     Clock& clock) {
  KCRED_ASSIGN_OR_RETURN(kube::CredentialPtr credential, ClusterCredential(cluster));
  kube::HttpKubeClientOptions options;
  options.cluster_name = cluster.name;
  options.server = cluster.server;
  options.ca_pem = cluster.ca_pem;
  options.credential = std::move(credential);
  options.qps = cluster.qps;
  options.burst = cluster.burst;
  KCRED_ASSIGN_OR_RETURN(auto client, kube::HttpKubeClient::Create(std::move(options), clock));
  return broker::ClusterHandle(cluster, std::shared_ptr<kube::KubeClient>(std::move(client)));
}

absl::StatusOr<Runtime> BuildRuntime(const config::Config& config, Clock& clock) {
  Runtime runtime;
  if (config.clusters.empty()) return runtime;
  auto log = Logger("kcredd");

  KCRED_RETURN_IF_ERROR(EnsurePrivateDir(config.state_dir, "state directory"));
  const std::string db = config.state_dir + "/kcred.db";
  KCRED_ASSIGN_OR_RETURN(runtime.store, store::SqliteStore::Open(db));

  absl::StatusOr<store::SealingKey> key;
  if (!config.store.sealing_key_file.empty()) {
    key = store::LoadSealingKeyFile(config.store.sealing_key_file);
  } else {
    const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
    key = store::LoadSealingKeyCredential(config.store.sealing_key_credential,
                                          credentials != nullptr ? credentials : "");
  }
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("sealing key: ", key.status().message(),
                                     " (set store.sealing_key_file, or run under systemd with "
                                     "LoadCredential=",
                                     config.store.sealing_key_credential, ":/path/to/key)"));
  }
  log->info("sealing key {}", key->id);
  KCRED_ASSIGN_OR_RETURN(runtime.sealer, store::AesGcmSealer::Create(*std::move(key)));

  std::vector<broker::ClusterHandle> handles;
  for (const auto& cluster : config.clusters) {
    KCRED_ASSIGN_OR_RETURN(broker::ClusterHandle handle, ConnectCluster(cluster, clock));
    runtime.clusters[cluster.name] = handle;
    handles.push_back(std::move(handle));
    log->info("cluster \"{}\" at {}", cluster.name, cluster.server);
  }
  runtime.broker = std::make_unique<broker::Broker>(clock, *runtime.store, *runtime.sealer,
                                                    std::move(handles), config.token_defaults);
  KCRED_RETURN_IF_ERROR(runtime.broker->Restore());
  log->info("restored {} account(s) from {}", runtime.broker->account_count(), db);
  return runtime;
}

absl::StatusOr<DevMode> StartDevMode(const DevOptions& options, Clock& clock) {
  DevMode dev;
  if (options.dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kcredd-dev.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::FailedPreconditionError("cannot create a temporary directory for dev mode");
    }
    dev.dir = tmpl;
    dev.remove_dir = true;
  } else {
    dev.dir = std::filesystem::absolute(options.dir).lexically_normal().string();
    KCRED_RETURN_IF_ERROR(EnsurePrivateDir(dev.dir, "dev directory"));
  }
  devcluster::DevClusterOptions cluster_options;
  cluster_options.data_dir = dev.dir + "/cluster";
  cluster_options.min_token_expiration = options.min_token_ttl;
  KCRED_ASSIGN_OR_RETURN(dev.cluster, devcluster::DevCluster::Start(cluster_options, &clock));

  // kcredd authenticates to the dev cluster as its admin, through a token file like production.
  const std::string token_file = dev.dir + "/cluster-admin.token";
  KCRED_RETURN_IF_ERROR(WriteFileAtomic(token_file, dev.cluster->admin_token().Reveal(), 0600));
  const std::string key_file = dev.dir + "/sealing.key";
  KCRED_RETURN_IF_ERROR(store::LoadOrGenerateSealingKeyFile(key_file).status());

  config::Config& c = dev.config;
  c = config::DefaultConfig();
  c.source = "dev mode";
  c.listen.unix_socket->path = dev.dir + "/kcredd.sock";
  c.state_dir = dev.dir + "/state";
  c.store.sealing_key_file = key_file;
  config::ClusterConfig cluster;
  cluster.name = "dev";
  cluster.server = dev.cluster->server_url();
  cluster.ca_pem = dev.cluster->ca_pem();
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

std::string DevModeBanner(const DevMode& dev) {
  const std::string socket = dev.config.listen.unix_socket->path;
  return absl::StrCat(
      "\nkcredd is running in dev mode against an embedded kcred-devcluster.\n\n",
      "  cluster \"dev\"   ", dev.cluster->server_url(),
      "  (admin: ", dev.cluster->admin_kubeconfig_path(), ")\n", "  kcredd          unix:", socket,
      "\n", "  state           ", dev.dir, dev.remove_dir ? " (removed at exit)" : "", "\n",
      "  audit log       ", dev.config.state_dir, "/audit.log\n", "  callers         uid ",
      getuid(), " only (you; see `kcred whoami`)\n\n", "Try, in another terminal:\n\n",
      BinDirExport(), "  export KCRED_SERVER=unix:", socket, "\n", "  kcred clusters\n",
      "  kcred provision dev/automation/ci-bot --create-namespace \\\n",
      "      --rule 'get,list,watch:pods,services,configmaps' \n",
      "  kcred kubeconfig dev/automation/ci-bot -o ci-bot.kubeconfig\n",
      "  kubectl --kubeconfig ci-bot.kubeconfig auth whoami\n",
      "  kubectl --kubeconfig ci-bot.kubeconfig get pods -n automation\n",
      "  kcred rotate dev/automation/ci-bot\n", "  kcred list\n\n", "Press Ctrl-C to stop.\n");
}

}  // namespace kcred
