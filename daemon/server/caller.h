#pragma once
// Who is calling: the identity of each caller of kcredd, by transport. On the unix socket kcredd
// accepts connections itself and records each peer's credentials (SO_PEERCRED, SO_PEERGROUPS, and
// the names of its uid and groups) before gRPC owns the fd; on TLS the verified client
// certificate names the caller.

#include <grpcpp/server_context.h>
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/authz/identity.h"

namespace kcred::server {

// Credentials of unix-socket connections, recorded at accept() (before gRPC owns the fd) and found
// again from ServerContext::peer() ("fd:N"). Thread-safe.
class PeerRegistry {
 public:
  void Record(int fd, authz::UnixPeer peer);
  void Forget(int fd);
  std::optional<authz::UnixPeer> Lookup(int fd) const;

 private:
  mutable absl::Mutex mu_;
  std::map<int, authz::UnixPeer> peers_ ABSL_GUARDED_BY(mu_);
};

// The peer of a connected unix socket: SO_PEERCRED (pid, uid, gid), SO_PEERGROUPS (the groups it
// had when it connected, supplementary ones included) and the names of the uid and groups from the
// system's user database.
absl::StatusOr<authz::UnixPeer> ReadUnixPeer(int fd);

// A verified client certificate as kcredd names it: CN, DNS and URI SANs, SHA-256 of the DER.
// InvalidArgument when `pem` holds no certificate.
absl::StatusOr<authz::Certificate> ParseClientCertificate(const std::string& pem);

// The caller of `context`: the recorded unix peer, the verified client certificate of a TLS
// connection (anonymous without one), or an anonymous plaintext TCP caller.
authz::Identity IdentifyCaller(const grpc::ServerContextBase& context, const PeerRegistry& peers);

}  // namespace kcred::server
