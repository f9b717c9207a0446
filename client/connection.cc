#include "client/connection.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/files.h"

namespace kcred::client {

std::string ResolveServer(const ConnectionOptions& options) {
  if (!options.server.empty()) return options.server;
  const char* env = std::getenv("KCRED_SERVER");
  if (env != nullptr && *env != '\0') return env;
  return kDefaultServer;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const ConnectionOptions& options) {
  const std::string server = ResolveServer(options);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  if (absl::StartsWith(server, "unix:")) {
    if (server.size() <= 5) {
      return absl::InvalidArgumentError(
          "--server \"unix:\" needs a socket path, e.g. unix:/run/kcred/kcredd.sock");
    }
    return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args);
  }
  if (server.find(':') == std::string::npos || absl::StartsWith(server, "http")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--server \"", server, "\" is not unix:/path or host:port (e.g. kcred.example.com:7443)"));
  }
  if (options.insecure) {
    return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  struct FileFlag {
    const char* flag;
    const std::string& path;
    std::string* out;
  };
  const FileFlag files[] = {{"--ca", options.ca_file, &ssl.pem_root_certs},
                            {"--cert", options.cert_file, &ssl.pem_cert_chain},
                            {"--key", options.key_file, &ssl.pem_private_key}};
  for (const auto& f : files) {
    if (f.path.empty()) continue;
    auto data = ReadFileToString(f.path);
    if (!data.ok())
      return absl::InvalidArgumentError(absl::StrCat(f.flag, ": ", data.status().message()));
    *f.out = *data;
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together: give both or neither");
  }
  return grpc::CreateCustomChannel(server, grpc::SslCredentials(ssl), args);
}

void SetDeadline(grpc::ClientContext& context, const ConnectionOptions& options) {
  context.set_deadline(IoDeadline(options.timeout));
}

namespace {

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("code ", static_cast<int>(code));
  }
}

}  // namespace

std::string DescribeRpcError(const grpc::Status& status, const ConnectionOptions& options) {
  const std::string server = ResolveServer(options);
  const std::string& message = status.error_message();
  std::string hint;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      // Only when kcredd was not reached; its own UNAVAILABLE answers say why themselves.
      if (message.empty() || absl::StrContains(message, "connect") ||
          absl::StrContains(message, "Socket closed") || absl::StrContains(message, "Connection")) {
        hint = absl::StartsWith(server, "unix:")
                   ? " (is kcredd running? start it, or point --server / KCRED_SERVER at its "
                     "socket)"
                   : " (is kcredd running and reachable? for TLS check --ca, --cert and --key)";
      }
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      hint = " (no answer in time; raise --timeout or check that kcredd is healthy)";
      break;
    case grpc::StatusCode::PERMISSION_DENIED:
      if (message.empty()) hint = " (see `kcred whoami` for how kcredd sees you)";
      break;
    case grpc::StatusCode::UNIMPLEMENTED:
      hint =
          " (this kcredd does not offer the call; kcred and kcredd versions may not match: check "
          "`kcred version`)";
      break;
    default:
      break;
  }
  // The code first (scripts and people grep for it), then kcredd's message and a hint.
  return absl::StrCat("kcredd at ", server, ": ", CodeName(status.error_code()),
                      message.empty() ? "" : ": ", message, hint);
}

}  // namespace kcred::client
