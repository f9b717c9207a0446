#pragma once
// kcredd's gRPC front: the unix socket (kcredd accepts itself, so it can read SO_PEERCRED, and
// hands each connection to gRPC) and, when configured, TCP with TLS (mTLS by default). Serves the
// given services plus grpc.health.v1.Health and server reflection. The TLS material can be replaced
// while serving (ReloadTls).

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/config/config.h"
#include "daemon/server/caller.h"
#include "daemon/server/tls_material.h"

namespace kcred::server {

struct ServerOptions {
  config::ListenConfig listen;
  // Allow TCP without TLS. Only for local development; kcredd warns when it is used.
  bool insecure = false;
  // Largest request message accepted (bytes).
  int max_receive_message_bytes = 4 << 20;
  // Most threads the server runs calls on (each open stream holds one); calls beyond it are
  // refused with RESOURCE_EXHAUSTED. 0: gRPC's default (unbounded).
  int max_threads = 0;
  // Services reported SERVING by grpc.health.v1 once started (the empty name always is).
  std::vector<std::string> health_service_names;
  // A listening unix stream socket inherited from systemd (TakeActivatedUnixSocket), or -1. When
  // set, it replaces listen.unix: kcredd serves it through the same accept loop (SO_PEERCRED) but
  // neither creates, chmods nor removes the socket file, which belongs to kcredd.socket. The server
  // takes ownership of the fd.
  int activated_fd = -1;
  // Private directory for kcredd's copies of the TLS files (see ReloadTls), e.g.
  // $RUNTIME_DIRECTORY/tls under systemd or <state_dir>/tls. Created (mode 0700) if missing; the
  // copies are removed when the server is destroyed. Empty: a temporary directory, removed then.
  std::string tls_work_dir;
};

class GrpcServer {
 public:
  // Binds every listener and starts serving `services` (not owned; they must outlive the server).
  // FailedPrecondition when a listener cannot be set up (the message names it and what to do).
  // TLS files are checked as ReloadTls checks them; a file that cannot be read keeps the read
  // error's code (NotFound, PermissionDenied), other problems are InvalidArgument.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const ServerOptions& options, const std::vector<grpc::Service*>& services,
      PeerRegistry* peers);
  ~GrpcServer();

  // The TCP port actually bound (useful with port 0), or 0 when there is no TCP listener.
  int tcp_port() const { return tcp_port_; }
  // The unix socket path, or "" when there is none.
  const std::string& unix_path() const { return unix_path_; }

  // OK while the server serves: the unix accept loop still runs (when there is one) and
  // grpc.health.v1 answers SERVING through an in-process channel within `timeout`. Otherwise
  // Unavailable saying what is wrong. For the systemd watchdog. Thread-safe.
  absl::Status CheckServing(absl::Duration timeout);

  // Replaces the TCP listener's certificate chain, key and client CA with the files `tls` names
  // (the same paths or new ones). The files are read and checked first (PEM parses, the key
  // matches the certificate, the CA bundle parses); only then are kcredd's private copies replaced,
  // and gRPC's file watcher applies them to new TLS handshakes within about a second. Connections
  // already established and calls in flight are not affected.
  // Errors, after which the previous material keeps serving:
  //  - FailedPrecondition when the server has no TLS listener, is shut down, or `tls` changes the
  //    kind of client authentication: adding or removing client_ca_file, or flipping
  //    require_client_cert while a client CA is set. gRPC fixes the client-certificate request
  //    type when the listener is built, so those changes need a restart (the message says so).
  //  - InvalidArgument naming the setting, the file and the problem when validation fails.
  //  - the copy's error when the private copies cannot be written.
  // Only the TLS material is reloaded: a changed listen.tcp address, or adding or removing the TCP
  // listener or its tls section, needs a restart; the caller compares those itself.
  // Thread-safe (calls are serialised); it reads files, so call it from a thread that waits for
  // SIGHUP, not from a signal handler.
  absl::Status ReloadTls(const config::TlsConfig& tls);

  // "sha256:<64 hex>" of the leaf certificate the TCP listener serves (or is about to serve, within
  // the watcher's interval after a successful ReloadTls); "" without a TLS listener. Thread-safe.
  std::string tls_certificate_fingerprint() const;

  // Stops accepting, lets in-flight calls finish for up to `grace`, cancels the rest, and removes
  // the socket file (unless systemd owns it). Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;
  void AcceptLoop();
  // Validates `tls`, writes the copies into the work directory and builds credentials that
  // watch them.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> StartTls(const config::TlsConfig& tls,
                                                                    const std::string& work_dir);

  // Declared before server_ so that they outlive it: the server's TLS credentials watch the copies.
  mutable absl::Mutex tls_mu_;
  std::unique_ptr<TlsWorkDir> tls_dir_ ABSL_GUARDED_BY(tls_mu_);
  std::string tls_fingerprint_ ABSL_GUARDED_BY(tls_mu_);
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> tls_provider_;
  bool tls_client_ca_ = false;            // the listener verifies client certificates
  bool tls_require_client_cert_ = false;  // and requires one

  std::unique_ptr<grpc::Server> server_;
  PeerRegistry* peers_ = nullptr;
  int tcp_port_ = 0;
  std::string unix_path_;
  int listen_fd_ = -1;
  bool owns_socket_file_ = false;  // false for a socket inherited from systemd
  int wake_fd_ = -1;               // eventfd that stops the accept loop
  std::thread accept_thread_;
  std::atomic<bool> shut_down_{false};
  std::atomic<bool> accepting_{false};  // the accept loop runs
};

}  // namespace kcred::server
