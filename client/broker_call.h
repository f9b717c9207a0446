#pragma once
// One call to kcredd from a kcred command: the stub (a bad --server or TLS flag is a usage error),
// the deadline, and the report of a failed call as "kcred COMMAND: kcredd at ...: CODE: message".

#include <memory>

#include "absl/strings/string_view.h"
#include "client/cli.h"
#include "client/connection.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::client {

// "kcred COMMAND: message" on ctx.err; returns kExitUsage.
int UsageError(CommandContext& ctx, absl::string_view command, absl::string_view message);

// A stub for kcredd, or null after printing why not (a usage error).
std::unique_ptr<v1::CredentialBroker::Stub> BrokerStub(CommandContext& ctx,
                                                       absl::string_view command);

// Reports a failed call on ctx.err; returns kExitFailed.
int CallFailed(CommandContext& ctx, absl::string_view command, const grpc::Status& status);

// Runs `call(stub, context)` on `stub` once, with `connection`'s deadline (--timeout, or what the
// command chose); returns kExitOk or kExitFailed (the call failed, reported). For commands that
// make several calls over one stub.
template <typename Call>
int CallOn(v1::CredentialBroker::Stub& stub, CommandContext& ctx, absl::string_view command,
           const ConnectionOptions& connection, Call call) {
  grpc::ClientContext rpc;
  SetDeadline(rpc, connection);
  const grpc::Status status = call(stub, rpc);
  return status.ok() ? kExitOk : CallFailed(ctx, command, status);
}

// Connects and runs `call(stub, context)` once, with `connection`'s deadline; returns kExitOk,
// kExitUsage (no stub) or kExitFailed (the call failed, reported).
template <typename Call>
int CallBroker(CommandContext& ctx, absl::string_view command, const ConnectionOptions& connection,
               Call call) {
  std::unique_ptr<v1::CredentialBroker::Stub> stub = BrokerStub(ctx, command);
  if (stub == nullptr) return kExitUsage;
  return CallOn(*stub, ctx, command, connection, call);
}

// The same with --timeout's deadline.
template <typename Call>
int CallBroker(CommandContext& ctx, absl::string_view command, Call call) {
  return CallBroker(ctx, command, ctx.connection, call);
}

}  // namespace kcred::client
