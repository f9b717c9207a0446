#include "daemon/app/wiring.h"

#include <sys/stat.h>

#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/store/aes_gcm_sealer.h"
#include "daemon/store/sealing_key.h"
#include "daemon/store/sqlite_store.h"

namespace kcred::app {

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

absl::StatusOr<broker::ClusterHandle> ConnectCluster(const config::ClusterConfig& cluster,
                                                     ClusterConnector& connector) {
  KCRED_ASSIGN_OR_RETURN(std::shared_ptr<kube::KubeClient> client, connector.Connect(cluster));
  return broker::ClusterHandle(cluster, std::move(client));
}

absl::StatusOr<Runtime> BuildRuntime(const config::Config& config, const Context& context) {
  Runtime runtime;
  if (config.clusters.empty()) return runtime;
  auto log = Logger("kcredd");

  KCRED_RETURN_IF_ERROR(EnsurePrivateDir(config.state_dir, "state directory"));
  const std::string db = config.state_dir + "/kcred.db";
  KCRED_ASSIGN_OR_RETURN(runtime.store, store::SqliteStore::Open(db));

  absl::StatusOr<store::SealingKey> key =
      config.store.sealing_key_file.empty()
          ? store::LoadSealingKeyCredential(config.store.sealing_key_credential,
                                            context.environment.credentials_directory)
          : store::LoadSealingKeyFile(config.store.sealing_key_file);
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
    KCRED_ASSIGN_OR_RETURN(broker::ClusterHandle handle,
                           ConnectCluster(cluster, context.connector));
    runtime.clusters[cluster.name] = handle;
    handles.push_back(std::move(handle));
    log->info("cluster \"{}\" at {}", cluster.name, cluster.server);
  }
  runtime.broker = std::make_unique<broker::Broker>(context.clock, *runtime.store, *runtime.sealer,
                                                    std::move(handles), config.token_defaults);
  KCRED_RETURN_IF_ERROR(runtime.broker->Restore());
  log->info("restored {} account(s) from {}", runtime.broker->account_count(), db);
  return runtime;
}

}  // namespace kcred::app
