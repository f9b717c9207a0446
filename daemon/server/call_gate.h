#pragma once
// The gate every CredentialBroker call passes before it reaches the broker: the caller is
// identified (unix peer or client certificate), counted against its limits, and authorized for the
// call's action on the call's account by the current policy; secret-returning calls are also rated
// per caller. Each call, allowed or refused, leaves exactly one audit record (Finish); a
// secret-returning call whose record cannot be written is refused (UNAVAILABLE) when the audit log
// is required, so no credential leaves unaudited.

#include <grpcpp/server_context.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/account/access.h"
#include "common/clock.h"
#include "daemon/audit/audit_log.h"
#include "daemon/authz/authorizer.h"
#include "daemon/authz/limits.h"
#include "daemon/server/account_events.h"
#include "daemon/server/audit_record.h"
#include "daemon/server/caller.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::server {

// absl::Status -> grpc::Status with the same canonical code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// What the service needs besides the broker; every pointer must outlive the service.
struct ServiceDeps {
  const PeerRegistry* peers = nullptr;
  authz::Authorizer* authorizer = nullptr;
  authz::CallLimits* limits = nullptr;
  audit::AuditLog* audit = nullptr;
  // Refuse secret-returning calls whose audit record cannot be written.
  bool audit_required = false;
  Clock* clock = nullptr;
  std::string version;
  absl::Time start_time;
  // Serves WatchAccounts (it should receive the broker's events); without it WatchAccounts answers
  // UNAVAILABLE.
  AccountEventHub* events = nullptr;
};

// One call on its way through the service. Not thread-safe: one call, one gate.
class CallGate {
 public:
  // Identifies the caller of `context` and takes a snapshot of the policy; sets the call's
  // request id (also sent to the caller as trailing metadata "kcred-request-id").
  CallGate(const ServiceDeps& deps, grpc::ServerContextBase* context, const char* method,
           Action action);

  const authz::Identity& identity() const { return identity_; }
  const authz::Policy& policy() const { return *policy_; }
  AuditEntry& entry() { return entry_; }

  // Counts the call against the caller's limits (a stream slot for `watch`, held until the gate
  // is destroyed) and authorizes it: on `ref` when given, otherwise for what `selector` pins down.
  // The refusal, if any, is returned (the caller passes it to Finish).
  absl::Status Admit(const v1::AccountRef* ref, const v1::AccountSelector& selector = {},
                     bool watch = false);

  // Writes the call's audit record and returns what the caller is told: `outcome`, unless it
  // carries a secret whose record could not be written while the audit log is required.
  absl::Status Finish(absl::Status outcome);

 private:
  absl::Status Denied(const v1::AccountRef* ref) const;

  const ServiceDeps& deps_;
  const authz::Identity identity_;
  const std::shared_ptr<const authz::Policy> policy_;
  AuditEntry entry_;
  std::optional<authz::CallLimits::Slot> slot_;
};

}  // namespace kcred::server
