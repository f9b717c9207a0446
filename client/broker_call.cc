#include "client/broker_call.h"

#include <ostream>

namespace kcred::client {

int UsageError(CommandContext& ctx, absl::string_view command, absl::string_view message) {
  ctx.err << "kcred " << command << ": " << message << "\n";
  return kExitUsage;
}

std::unique_ptr<v1::CredentialBroker::Stub> BrokerStub(CommandContext& ctx,
                                                       absl::string_view command) {
  auto channel = Connect(ctx.connection);
  if (!channel.ok()) {
    UsageError(ctx, command, channel.status().message());
    return nullptr;
  }
  return v1::CredentialBroker::NewStub(*channel);
}

int CallFailed(CommandContext& ctx, absl::string_view command, const grpc::Status& status) {
  ctx.err << "kcred " << command << ": " << DescribeRpcError(status, ctx.connection) << "\n";
  return kExitFailed;
}

}  // namespace kcred::client
