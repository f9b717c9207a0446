#pragma once
// How kcred reaches kcredd: `unix:/path` (default /run/kcred/kcredd.sock) or `host:port` over TLS
// (server verified against --ca or the system roots; --cert/--key present a client certificate).

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kcred::client {

inline constexpr char kDefaultServer[] = "unix:/run/kcred/kcredd.sock";

struct ConnectionOptions {
  std::string server;     // unix:/path or host:port; empty means $KCRED_SERVER or the default
  std::string ca_file;    // CA that signs kcredd's certificate (TCP only)
  std::string cert_file;  // client certificate (mTLS)
  std::string key_file;   // its key
  bool insecure = false;  // plaintext TCP (only against kcredd --insecure)
  absl::Duration timeout = absl::Seconds(10);
};

// The effective server address after applying $KCRED_SERVER and the default.
std::string ResolveServer(const ConnectionOptions& options);

// Builds a channel; InvalidArgument when the address or the TLS files are unusable (the message
// names the flag and the file).
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const ConnectionOptions& options);

// Sets the deadline of `context` from the options.
void SetDeadline(grpc::ClientContext& context, const ConnectionOptions& options);

// "kcredd at unix:/run/kcred/kcredd.sock: <what went wrong and what to do>".
std::string DescribeRpcError(const grpc::Status& status, const ConnectionOptions& options);

}  // namespace kcred::client
