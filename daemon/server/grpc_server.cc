#include "daemon/server/grpc_server.h"

#include <fcntl.h>
#include <grp.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/logging.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"

namespace kcred::server {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Removes a socket file left by a kcredd that died; refuses when a live server answers on it or
// when the path is something other than a socket.
absl::Status ClearStaleSocket(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno(absl::StrCat("cannot inspect socket path ", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "socket path ", path, " exists and is not a socket; remove it or choose another path"));
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  close(fd);
  if (rc == 0) {
    return absl::FailedPreconditionError(absl::StrCat("another server is already listening on ",
                                                      path,
                                                      "; stop it or choose another socket path"));
  }
  if (err != ECONNREFUSED && err != ENOENT) {
    errno = err;
    return Errno(absl::StrCat("cannot probe existing socket ", path));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno(absl::StrCat("cannot remove stale socket ", path));
  }
  Logger("server")->info("removed stale socket {}", path);
  return absl::OkStatus();
}

absl::StatusOr<int> ListenUnix(const config::UnixListenerConfig& cfg) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(cfg.path).parent_path();
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create socket directory ", dir.string(), ": ", ec.message()));
    }
  }
  if (auto s = ClearStaleSocket(cfg.path); !s.ok()) return s;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Errno("cannot create unix socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, cfg.path.c_str(), sizeof(addr.sun_path) - 1);
  // Bind with a umask that leaves nobody else a window on the socket before chmod.
  mode_t old_mask = umask(0177);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old_mask);
  if (rc != 0) {
    auto s = Errno(absl::StrCat("cannot bind unix socket ", cfg.path));
    close(fd);
    return s;
  }
  if (!cfg.group.empty()) {
    struct group* g = getgrnam(cfg.group.c_str());
    if (g == nullptr || chown(cfg.path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
      auto s = Errno(absl::StrCat("cannot give socket ", cfg.path, " to group ", cfg.group));
      close(fd);
      unlink(cfg.path.c_str());
      return s;
    }
  }
  if (chmod(cfg.path.c_str(), static_cast<mode_t>(cfg.mode)) != 0 || listen(fd, 128) != 0) {
    auto s = Errno(absl::StrCat("cannot set up unix socket ", cfg.path));
    close(fd);
    unlink(cfg.path.c_str());
    return s;
  }
  return fd;
}

// The path a listening unix socket is bound to ("" for an abstract or unnamed one).
std::string UnixSocketPath(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.sun_family != AF_UNIX || len <= offsetof(sockaddr_un, sun_path) ||
      addr.sun_path[0] == '\0') {
    return "";
  }
  return std::string(addr.sun_path, strnlen(addr.sun_path, sizeof addr.sun_path));
}

// How often gRPC's file watcher looks at kcredd's private copies. They change only at start and
// on ReloadTls, and reading three small files a second costs nothing, so a reload takes effect
// for new handshakes within about a second.
constexpr unsigned int kTlsRefreshSeconds = 1;

std::string ClientAuthName(bool client_ca, bool require) {
  if (!client_ca) return "no client certificates (no client_ca_file)";
  return require ? "client certificates required (client_ca_file, require_client_cert: true)"
                 : "client certificates optional (client_ca_file, require_client_cert: false)";
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services,
    PeerRegistry* peers) {
  auto log = Logger("server");
  std::unique_ptr<GrpcServer> self(new GrpcServer());
  self->peers_ = peers;
  // Owned from here on, so every early return below closes it (through the destructor).
  self->listen_fd_ = options.activated_fd;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (options.max_threads > 0) {
    grpc::ResourceQuota quota("kcredd");
    quota.SetMaxThreads(options.max_threads);
    builder.SetResourceQuota(quota);
  }
  for (grpc::Service* service : services) builder.RegisterService(service);

  if (options.listen.tcp) {
    const auto& tcp = *options.listen.tcp;
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (tcp.tls) {
      auto tls = self->StartTls(*tcp.tls, options.tls_work_dir);
      if (!tls.ok()) return tls.status();
      creds = *tls;
    } else if (options.insecure) {
      log->warn(
          "serving PLAINTEXT gRPC on {} because of --insecure: anyone who can reach this port "
          "can call kcredd and read tokens. Use this for local development only.",
          tcp.address);
      creds = grpc::InsecureServerCredentials();
    } else {
      return absl::FailedPreconditionError(absl::StrCat(
          "listen.tcp ", tcp.address,
          " has no tls section: kcredd refuses plaintext TCP. Add "
          "listen.tcp.tls (cert_file, key_file, client_ca_file), or pass --insecure for local "
          "development only"));
    }
    builder.AddListeningPort(tcp.address, creds, &self->tcp_port_);
  }

  if (options.activated_fd >= 0) {
    self->unix_path_ = UnixSocketPath(options.activated_fd);
  } else if (options.listen.unix_socket) {
    auto fd = ListenUnix(*options.listen.unix_socket);
    if (!fd.ok()) return fd.status();
    self->listen_fd_ = *fd;
    self->owns_socket_file_ = true;
    self->unix_path_ = options.listen.unix_socket->path;
  }

  self->server_ = builder.BuildAndStart();
  if (self->server_ == nullptr) {
    if (self->listen_fd_ >= 0) {
      close(self->listen_fd_);
      self->listen_fd_ = -1;
      if (self->owns_socket_file_) unlink(self->unix_path_.c_str());
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start the gRPC server", options.listen.tcp
                                            ? absl::StrCat(" on ", options.listen.tcp->address,
                                                           " (is the address in use or not local?)")
                                            : ""));
  }
  if (options.listen.tcp && self->tcp_port_ == 0) {
    self->Shutdown(absl::ZeroDuration());
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot listen on ", options.listen.tcp->address, ": address in use or not available"));
  }
  for (const auto& name : options.health_service_names) {
    self->server_->GetHealthCheckService()->SetServingStatus(name, true);
  }
  if (self->listen_fd_ >= 0) {
    self->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    self->accepting_ = true;
    self->accept_thread_ = std::thread([s = self.get()] {
      s->AcceptLoop();
      s->accepting_ = false;
    });
    log->info("listening on unix:{}{}", self->unix_path_,
              self->owns_socket_file_ ? "" : " (socket passed by systemd)");
  }
  if (self->tcp_port_ != 0) {
    log->info("listening on tcp port {} ({})", self->tcp_port_,
              options.listen.tcp->tls
                  ? (options.listen.tcp->tls->client_ca_file.empty() ? "TLS" : "mTLS")
                  : "plaintext");
  }
  return self;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServer::StartTls(
    const config::TlsConfig& tls, const std::string& work_dir) {
  auto material = LoadTlsMaterial(tls);
  if (!material.ok()) return material.status();
  auto dir = TlsWorkDir::Create(work_dir);
  if (!dir.ok()) return dir.status();
  if (auto s = (*dir)->Write(*material); !s.ok()) return s;

  tls_client_ca_ = !tls.client_ca_file.empty();
  tls_require_client_cert_ = tls_client_ca_ && tls.require_client_cert;
  // The provider reads the copies once here, before the listener exists, and then every
  // kTlsRefreshSeconds on its own thread.
  tls_provider_ = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      (*dir)->key_path(), (*dir)->cert_path(), tls_client_ca_ ? (*dir)->client_ca_path() : "",
      kTlsRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(tls_provider_);
  options.watch_identity_key_cert_pairs();
  if (tls_client_ca_) {
    options.watch_root_certs();
    options.set_cert_request_type(tls_require_client_cert_
                                      ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                      : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  Logger("server")->info("TLS certificate {} ({}, valid until {}); copies in {}",
                         material->fingerprint, material->subject,
                         absl::FormatTime(material->not_after), (*dir)->path());
  absl::MutexLock lock(&tls_mu_);
  tls_dir_ = std::move(*dir);
  tls_fingerprint_ = material->fingerprint;
  return grpc::experimental::TlsServerCredentials(options);
}

absl::Status GrpcServer::ReloadTls(const config::TlsConfig& tls) {
  if (tls_provider_ == nullptr) {
    return absl::FailedPreconditionError(
        "cannot reload TLS: kcredd serves no TLS listener (listen.tcp.tls); adding one needs a "
        "restart");
  }
  if (shut_down_.load()) {
    return absl::FailedPreconditionError("cannot reload TLS: the server is shut down");
  }
  const bool client_ca = !tls.client_ca_file.empty();
  const bool require = client_ca && tls.require_client_cert;
  if (client_ca != tls_client_ca_ || require != tls_require_client_cert_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot reload TLS: the listener serves with ",
        ClientAuthName(tls_client_ca_, tls_require_client_cert_), " and the new settings ask for ",
        ClientAuthName(client_ca, require),
        "; changing that needs a restart of kcredd (still serving the previous TLS material)"));
  }
  auto material = LoadTlsMaterial(tls);
  absl::MutexLock lock(&tls_mu_);
  if (!material.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS reload refused: ", material.status().message(),
                     " (still serving certificate ", tls_fingerprint_, ")"));
  }
  if (auto s = tls_dir_->Write(*material); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("TLS reload failed: ", s.message(), " (still serving certificate ",
                               tls_fingerprint_, ")"));
  }
  Logger("server")->info("TLS reloaded: certificate {} ({}, valid until {}) replaces {}",
                         material->fingerprint, material->subject,
                         absl::FormatTime(material->not_after), tls_fingerprint_);
  tls_fingerprint_ = material->fingerprint;
  return absl::OkStatus();
}

std::string GrpcServer::tls_certificate_fingerprint() const {
  absl::MutexLock lock(&tls_mu_);
  return tls_fingerprint_;
}

void GrpcServer::AcceptLoop() {
  auto log = Logger("server");
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!shut_down_.load()) {
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log->error("poll on unix socket failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        log->warn("accept on unix socket failed: {}", std::strerror(errno));
      }
      continue;
    }
    absl::StatusOr<authz::UnixPeer> peer = ReadUnixPeer(fd);
    if (!peer.ok()) {
      log->warn("dropping a unix connection: {}", peer.status().message());
      close(fd);
      continue;
    }
    // Record before gRPC owns the fd: fd numbers are reused, so the entry must be fresh.
    peers_->Record(fd, *std::move(peer));
    grpc::AddInsecureChannelFromFd(server_.get(), fd);
  }
}

absl::Status GrpcServer::CheckServing(absl::Duration timeout) {
  if (shut_down_.load() || server_ == nullptr) {
    return absl::UnavailableError("the gRPC server is shut down");
  }
  if (listen_fd_ >= 0 && !accepting_.load()) {
    return absl::UnavailableError(
        absl::StrCat("no longer accepting connections on unix:", unix_path_,
                     " (the accept loop stopped; see the log above)"));
  }
  auto stub =
      grpc::health::v1::Health::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  grpc::ClientContext ctx;
  ctx.set_deadline(IoDeadline(timeout));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the gRPC server does not answer its own health check within ",
                     absl::FormatDuration(timeout), ": ", status.error_message()));
  }
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError("the gRPC server reports NOT_SERVING");
  }
  return absl::OkStatus();
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_.exchange(true)) return;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  if (server_) server_->GetHealthCheckService()->Shutdown();  // report NOT_SERVING while draining
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    // An inherited socket stays with systemd, which queues new clients until kcredd runs again.
    if (owns_socket_file_) unlink(unix_path_.c_str());
  }
  if (server_) {
    server_->Shutdown(IoDeadline(grace));
    server_->Wait();
  }
  if (wake_fd_ >= 0) {
    close(wake_fd_);
    wake_fd_ = -1;
  }
}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace kcred::server
