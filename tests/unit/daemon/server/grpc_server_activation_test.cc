// GrpcServer with a listening socket inherited from systemd: served through the same accept loop,
// never chmodded or removed.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "daemon/server/grpc_server.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "tests/support/process.h"

namespace kcred::server {
namespace {

int BindListening(const std::string& path, mode_t mode) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  if (chmod(path.c_str(), mode) != 0 || listen(fd, 16) != 0) return -1;
  return fd;
}

grpc::Status CheckHealth(const std::string& path, grpc::health::v1::HealthCheckResponse* out) {
  auto channel = grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  return stub->Check(&ctx, request, out);
}

// An inherited socket is served instead of the configured one; after shutdown nothing accepts on
// it, and its file is left in place with the mode systemd gave it.
TEST(GrpcServerActivationTest, ServesInheritedSocketAndLeavesItInPlace) {
  kcred::testing::TempDir dir;
  const std::string path = dir.File("kcredd.sock");
  int fd = BindListening(path, 0640);
  ASSERT_GE(fd, 0) << std::strerror(errno);

  PeerRegistry peers;
  ServerOptions options;
  options.activated_fd = fd;
  // A configured unix listener is ignored in favour of the inherited socket.
  options.listen.unix_socket = config::UnixListenerConfig{};
  options.listen.unix_socket->path = dir.File("configured.sock");
  auto server = GrpcServer::Start(options, {}, &peers);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->unix_path(), path);

  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = CheckHealth(path, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_NE(access(dir.File("configured.sock").c_str(), F_OK), 0);

  EXPECT_TRUE((*server)->CheckServing(absl::Seconds(5)).ok());

  (*server)->Shutdown(absl::Seconds(1));
  EXPECT_FALSE((*server)->CheckServing(absl::Seconds(1)).ok());
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0) << "the socket file belongs to systemd";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0640u) << "kcredd must not chmod a socket systemd created";
  // The inherited fd was closed: nothing accepts on the path any more.
  grpc::health::v1::HealthCheckResponse after;
  auto channel = grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  EXPECT_FALSE(stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &after).ok());
}

// A socket the server bound itself is still removed on shutdown.
TEST(GrpcServerActivationTest, OwnSocketIsStillRemovedOnShutdown) {
  kcred::testing::TempDir dir;
  PeerRegistry peers;
  ServerOptions options;
  options.listen.unix_socket = config::UnixListenerConfig{};
  options.listen.unix_socket->path = dir.File("own.sock");
  auto server = GrpcServer::Start(options, {}, &peers);
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(CheckHealth(dir.File("own.sock"), &response).ok());
  (*server)->Shutdown(absl::Seconds(1));
  EXPECT_NE(access(dir.File("own.sock").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace kcred::server
