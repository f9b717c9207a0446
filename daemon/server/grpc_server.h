#pragma once
// kcredd's gRPC front: the unix socket (kcredd accepts itself, so it can read SO_PEERCRED, and
// hands each connection to gRPC) and, when configured, TCP with TLS (mTLS by default). Serves the
// given services plus grpc.health.v1.Health and server reflection.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/config/config.h"
#include "daemon/server/caller.h"

namespace kcred::server {

struct ServerOptions {
  config::ListenConfig listen;
  // Allow TCP without TLS. Only for local development; kcredd warns when it is used.
  bool insecure = false;
  // Largest request message accepted (bytes).
  int max_receive_message_bytes = 4 << 20;
  // Services reported SERVING by grpc.health.v1 once started (the empty name always is).
  std::vector<std::string> health_service_names;
  // A listening unix stream socket inherited from systemd (TakeActivatedUnixSocket), or -1. When
  // set, it replaces listen.unix: kcredd serves it through the same accept loop (SO_PEERCRED) but
  // neither creates, chmods nor removes the socket file, which belongs to kcredd.socket. The server
  // takes ownership of the fd.
  int activated_fd = -1;
};

class GrpcServer {
 public:
  // Binds every listener and starts serving `services` (not owned; they must outlive the server).
  // FailedPrecondition when a listener cannot be set up (the message names it and what to do).
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

  // Stops accepting, lets in-flight calls finish for up to `grace`, cancels the rest, and removes
  // the socket file (unless systemd owns it). Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;
  void AcceptLoop();

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
