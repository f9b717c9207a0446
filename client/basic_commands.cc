// kcred version and kcred health.
#include <ostream>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::client {
namespace {

int Version(const ParsedArgs& args, CommandContext& ctx) {
  if (!args.positionals.empty()) {
    ctx.err << "kcred version: takes no arguments\n";
    return kExitUsage;
  }
  ctx.out << "kcred " << KCRED_VERSION << "\n";
  auto channel = Connect(ctx.connection);
  if (!channel.ok()) {
    ctx.out << "kcredd: not contacted: " << channel.status().message() << "\n";
    return kExitOk;
  }
  auto stub = kcred::v1::CredentialBroker::NewStub(*channel);
  grpc::ClientContext rpc;
  SetDeadline(rpc, ctx.connection);
  kcred::v1::GetServerInfoResponse info;
  grpc::Status status = stub->GetServerInfo(&rpc, kcred::v1::GetServerInfoRequest(), &info);
  if (!status.ok()) {
    ctx.out << "kcredd: unreachable: " << DescribeRpcError(status, ctx.connection) << "\n";
    return kExitOk;
  }
  ctx.out << "kcredd " << info.version() << " at " << ResolveServer(ctx.connection) << " (you are "
          << info.caller_identity() << ")\n";
  return kExitOk;
}

int Health(const ParsedArgs& args, CommandContext& ctx) {
  if (!args.positionals.empty()) {
    ctx.err << "kcred health: takes no arguments (use --service NAME for one service)\n";
    return kExitUsage;
  }
  auto channel = Connect(ctx.connection);
  if (!channel.ok()) {
    ctx.err << "kcred health: " << channel.status().message() << "\n";
    return kExitUsage;
  }
  auto stub = grpc::health::v1::Health::NewStub(*channel);
  grpc::ClientContext rpc;
  SetDeadline(rpc, ctx.connection);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(args.Get("service"));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&rpc, request, &response);
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      ctx.err << "kcred health: kcredd does not know the service \"" << request.service() << "\"\n";
    } else {
      ctx.err << "kcred health: " << DescribeRpcError(status, ctx.connection) << "\n";
    }
    return kExitFailed;
  }
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  ctx.out << name << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk
                                                                             : kExitFailed;
}

}  // namespace

void AddBasicCommands(std::vector<Command>& commands) {
  commands.push_back(Command{
      "version",
      "print kcred's version and, when reachable, kcredd's",
      "kcred version",
      "Prints the client version, then asks kcredd for its version and for how it identifies you.\n"
      "An unreachable kcredd is reported but is not an error.",
      {},
      Version});
  commands.push_back(
      Command{"health",
              "check that kcredd is serving (exit 0 only when SERVING)",
              "kcred health [--service NAME]",
              "Calls the standard grpc.health.v1 Health service. Prints SERVING or NOT_SERVING.",
              {{"service", 0, true, "NAME", "check one service, e.g. kcred.v1.CredentialBroker"}},
              Health});
}

}  // namespace kcred::client
