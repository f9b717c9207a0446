#include "devcluster/dev_cluster.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "common/kubeconfig.h"
#include "common/logging.h"
#include "common/openssl.h"
#include "devcluster/api_server.h"
#include "devcluster/auth/tokens.h"
#include "devcluster/object_store.h"
#include "devcluster/pki.h"

namespace kcred::devcluster {
namespace {

// Parses "host:port" or "[v6]:port".
absl::Status ParseListen(const std::string& listen, std::string& host, int& port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", listen, "\" has no port; use host:port, e.g. 127.0.0.1:0"));
  }
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", listen, "\" is not host:port with a port in 0..65535"));
  }
  return absl::OkStatus();
}

// Reads `path`, or creates it with `make()` (mode 0600) when it does not exist.
absl::StatusOr<std::string> LoadOrCreateSecretFile(
    const std::string& path, const std::function<absl::StatusOr<std::string>()>& make) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return kcred::ReadFileToString(path);
  absl::StatusOr<std::string> data = make();
  if (!data.ok()) return data.status();
  if (absl::Status s = kcred::WriteFileAtomic(path, *data, 0600); !s.ok()) return s;
  return data;
}

}  // namespace

struct DevCluster::Impl {
  DevClusterOptions options;
  std::unique_ptr<Clock> owned_clock;
  Clock* clock = nullptr;
  std::shared_ptr<spdlog::logger> logger;
  std::string data_dir;
  bool owns_data_dir = false;
  bool persist = false;
  std::string address;
  Pki pki;
  kcred::SecretString admin_token;
  std::optional<TokenSigner> signer;
  std::unique_ptr<ServiceAccountTokens> tokens;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<FaultInjector> faults;
  std::unique_ptr<ApiServer> api;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread thread;
  // Persistence paces its disk writes in real time whatever `clock` is: a simulated clock that a
  // test never advances must not stop objects from reaching the disk.
  RealClock persist_clock;
  std::unique_ptr<SnapshotPersister> persister;
  bool stopped = false;
};

DevCluster::DevCluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DevCluster::~DevCluster() { Stop(); }

absl::StatusOr<std::unique_ptr<DevCluster>> DevCluster::Start(const DevClusterOptions& options,
                                                              Clock* clock) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->logger = kcred::Logger("devcluster");
  if (clock == nullptr) {
    impl->owned_clock = std::make_unique<RealClock>();
    clock = impl->owned_clock.get();
  }
  impl->clock = clock;
  if (absl::Status s = options.faults.Validate(); !s.ok()) return s;
  if (options.min_token_expiration < absl::Seconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "minimum token expiration ", absl::FormatDuration(options.min_token_expiration),
        " is too short; use at least 1s"));
  }
  if (options.max_token_expiration > absl::ZeroDuration() &&
      options.max_token_expiration < options.min_token_expiration) {
    return absl::InvalidArgumentError(absl::StrCat(
        "maximum token expiration ", absl::FormatDuration(options.max_token_expiration),
        " is below the minimum ", absl::FormatDuration(options.min_token_expiration),
        "; raise the maximum or lower --min-token-expiration"));
  }
  std::string host;
  int port = 0;
  if (absl::Status s = ParseListen(options.listen, host, port); !s.ok()) return s;

  // The data directory.
  if (options.data_dir.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string templ = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/kcred-devcluster-XXXXXX");
    if (mkdtemp(templ.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("creating a temporary data directory from ", templ,
                                              " failed: ", strerror(errno)));
    }
    impl->data_dir = templ;
    impl->owns_data_dir = true;
  } else {
    impl->data_dir = options.data_dir;
    impl->persist = true;
    std::error_code ec;
    std::filesystem::create_directories(impl->data_dir, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("creating data directory ", impl->data_dir, ": ", ec.message()));
    }
    chmod(impl->data_dir.c_str(), 0700);
  }
  const std::string& dir = impl->data_dir;

  // Keys and certificates.
  absl::StatusOr<Pki> pki = LoadOrCreatePki(dir, clock->Now());
  if (!pki.ok()) return pki.status();
  impl->pki = *std::move(pki);
  absl::StatusOr<std::string> signing_key =
      LoadOrCreateSecretFile(dir + "/sa.key", [] { return TokenSigner::GenerateKeyPem(); });
  if (!signing_key.ok()) return signing_key.status();
  absl::StatusOr<TokenSigner> signer = TokenSigner::FromPem(*signing_key);
  if (!signer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("token signing key ", dir,
                                                   "/sa.key: ", signer.status().message(),
                                                   "; remove it to generate a new one"));
  }
  impl->signer.emplace(*std::move(signer));
  absl::StatusOr<std::string> admin_token =
      LoadOrCreateSecretFile(dir + "/admin.token", []() -> absl::StatusOr<std::string> {
        unsigned char bytes[32];
        if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
          return absl::InternalError("generating the admin token: no randomness from OpenSSL");
        }
        return absl::WebSafeBase64Escape(
            absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
      });
  if (!admin_token.ok()) return admin_token.status();
  impl->admin_token = kcred::SecretString(std::string(absl::StripAsciiWhitespace(*admin_token)));
  impl->tokens = std::make_unique<ServiceAccountTokens>(*impl->signer, options.issuer);

  // Objects.
  impl->store = std::make_unique<ObjectStore>(*clock);
  const std::string state_path = dir + "/state.json";
  std::error_code ec;
  if (impl->persist && std::filesystem::exists(state_path, ec)) {
    absl::StatusOr<std::string> state = kcred::ReadFileToString(state_path);
    if (!state.ok()) return state.status();
    nlohmann::json snapshot = nlohmann::json::parse(*state, nullptr, false);
    if (snapshot.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "state file ", state_path, " is not valid JSON; remove it to start with no objects"));
    }
    if (absl::Status s = impl->store->Restore(snapshot); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("state file ", state_path, ": ", s.message()));
    }
  }
  impl->faults = std::make_unique<FaultInjector>(options.faults);
  ApiServerConfig config;
  config.admin_token = impl->admin_token;
  config.ca_pem = impl->pki.ca_cert_pem;
  config.api_audiences = {options.issuer};
  config.min_token_expiration = options.min_token_expiration;
  config.max_token_expiration = options.max_token_expiration;
  impl->api = std::make_unique<ApiServer>(config, *impl->store, *impl->tokens, *impl->faults,
                                          *clock, impl->logger);
  if (absl::Status s = impl->api->Bootstrap(); !s.ok()) return s;
  if (impl->persist) {
    std::shared_ptr<spdlog::logger> logger = impl->logger;
    impl->persister = std::make_unique<SnapshotPersister>(
        *impl->store, impl->persist_clock,
        [state_path](const std::string& data) {
          return kcred::WriteFileAtomic(state_path, data, 0600);
        },
        SnapshotPersister::kDefaultInterval,
        [logger, state_path](const absl::Status& status) {
          if (status.ok()) {
            logger->info("persisting objects to {} works again", state_path);
          } else {
            logger->error("persisting objects failed (retrying every {}): {}",
                          absl::FormatDuration(SnapshotPersister::kDefaultInterval),
                          status.message());
          }
        });
    if (absl::Status s = impl->persister->Start(); !s.ok()) return s;
  }

  // TLS server.
  BioPtr cert_bio = MemoryBio(impl->pki.server_cert_pem);
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  BioPtr key_bio = MemoryBio(impl->pki.server_key_pem);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr || key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("serving certificate ", dir, "/tls.crt or key ",
                                                   dir,
                                                   "/tls.key does not parse; remove both to "
                                                   "generate new ones"));
  }
  // The server takes references of its own to both.
  impl->server = std::make_unique<httplib::SSLServer>(cert.get(), key.get());
  if (!impl->server->is_valid()) {
    return absl::InternalError("setting up the TLS server context failed");
  }
  httplib::SSLServer& server = *impl->server;
  const int threads = std::max(4, options.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_keep_alive_max_count(100000);
  // Each idle kept-alive connection holds a worker thread; release them soon enough that new
  // clients are not starved when many connections idle.
  server.set_keep_alive_timeout(10);
  server.set_payload_max_length(3 * 1024 * 1024);
  server.set_tcp_nodelay(true);
  ApiServer* api = impl->api.get();
  auto handler = [api](const httplib::Request& req, httplib::Response& res) {
    api->Handle(req, res);
  };
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);

  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, ": the address is in use or not local"));
  }
  impl->address = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", bound)
                                                      : absl::StrCat(host, ":", bound);
  impl->api->set_server_address(impl->address);
  impl->thread = std::thread([&server] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();

  // Client files, then the address file last: its presence means everything is ready.
  kcred::KubeconfigEntry entry;
  entry.cluster_name = "kcred-devcluster";
  entry.server = absl::StrCat("https://", impl->address);
  entry.ca_pem = impl->pki.ca_cert_pem;
  entry.user_name = "kcred-devcluster-admin";
  entry.token = impl->admin_token.Reveal();
  entry.context_name = "kcred-devcluster";
  entry.namespace_name = "default";
  auto cluster = std::unique_ptr<DevCluster>(new DevCluster(std::move(impl)));
  Impl& i = *cluster->impl_;
  if (absl::Status s = kcred::WriteFileAtomic(dir + "/ca.crt", i.pki.ca_cert_pem, 0644); !s.ok()) {
    return s;
  }
  if (absl::Status s = kcred::WriteFileAtomic(cluster->admin_kubeconfig_path(),
                                              kcred::RenderKubeconfig(entry), 0600);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = kcred::WriteFileAtomic(dir + "/address", i.address + "\n", 0644); !s.ok()) {
    return s;
  }
  i.logger->info("serving the Kubernetes API on https://{} (data directory {})", i.address, dir);
  return cluster;
}

const std::string& DevCluster::address() const { return impl_->address; }
std::string DevCluster::server_url() const { return absl::StrCat("https://", impl_->address); }
const std::string& DevCluster::ca_pem() const { return impl_->pki.ca_cert_pem; }
const kcred::SecretString& DevCluster::admin_token() const { return impl_->admin_token; }
const std::string& DevCluster::data_dir() const { return impl_->data_dir; }
std::string DevCluster::admin_kubeconfig_path() const {
  return impl_->data_dir + "/admin.kubeconfig";
}

void DevCluster::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->store->Close();
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // The address file announces a running server; a stopped one must not leave it behind.
  std::error_code ec;
  std::filesystem::remove(impl_->data_dir + "/address", ec);
  // No request runs any more: the last changes are written now.
  if (impl_->persister != nullptr) {
    if (absl::Status s = impl_->persister->Stop(); !s.ok()) {
      impl_->logger->error("persisting objects at stop failed: {}", s.message());
    }
  }
  if (impl_->owns_data_dir) {
    std::filesystem::remove_all(impl_->data_dir, ec);
  }
  impl_->logger->info("stopped");
}

}  // namespace kcred::devcluster
