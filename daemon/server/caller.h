#pragma once
// Who is calling: identities of the callers kcredd serves, by transport.

#include <grpcpp/server_context.h>
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"

namespace kcred::server {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Credentials of unix-socket connections, recorded at accept() (before gRPC owns the fd) and found
// again from ServerContext::peer() ("fd:N"). Thread-safe.
class PeerRegistry {
 public:
  void Record(int fd, PeerCredentials creds);
  void Forget(int fd);
  std::optional<PeerCredentials> Lookup(int fd) const;

 private:
  mutable absl::Mutex mu_;
  std::map<int, PeerCredentials> peers_ ABSL_GUARDED_BY(mu_);
};

// The caller's identity as kcredd names it: "unix:uid:<n>" (with ",user:<name>" when the uid has a
// name), "x509:CN=<cn>" for TLS clients with a certificate, "anonymous" otherwise.
std::string CallerIdentity(const grpc::ServerContext& context, const PeerRegistry& peers);

}  // namespace kcred::server
