#include "daemon/server/call_gate.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/escape.h"
#include "common/logging.h"
#include "common/uuid.h"

namespace kcred::server {
namespace {

// "cluster/namespace/name" of the accounts a selector pins down, "*" for each part it does not.
std::string SelectorText(const v1::AccountSelector& selector) {
  auto part = [](const std::string& value) { return value.empty() ? std::string("*") : value; };
  return absl::StrCat(part(selector.cluster()), "/", part(selector.namespace_()), "/",
                      part(selector.name()));
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

CallGate::CallGate(const ServiceDeps& deps, grpc::ServerContextBase* context, const char* method,
                   Action action)
    : deps_(deps),
      identity_(IdentifyCaller(*context, *deps.peers)),
      policy_(deps.authorizer->policy()) {
  entry_.request_id = NewUuid();
  entry_.time = deps.clock->Now();
  entry_.identity = &identity_;
  entry_.method = method;
  entry_.action = action;
  context->AddTrailingMetadata("kcred-request-id", entry_.request_id);
}

absl::Status CallGate::Admit(const v1::AccountRef* ref, const v1::AccountSelector& selector,
                             bool watch) {
  const std::string key = identity_.LimitKey();
  absl::StatusOr<authz::CallLimits::Slot> slot =
      watch ? deps_.limits->EnterWatch(key) : deps_.limits->EnterCall(key);
  if (!slot.ok()) {
    entry_.rule =
        watch ? "limits.watches_per_caller / limits.watches_total" : "limits.calls_per_caller";
    return slot.status();
  }
  slot_.emplace(*std::move(slot));
  if (ref != nullptr) {
    entry_.account = AccountText(*ref);
  } else if (!selector.cluster().empty() || !selector.namespace_().empty() ||
             !selector.name().empty()) {
    entry_.account = SelectorText(selector);
  }
  const authz::Decision decision =
      ref != nullptr ? policy_->Decide(identity_, entry_.action, *ref)
                     : policy_->DecideAny(identity_, entry_.action, selector.cluster(),
                                          selector.namespace_(), selector.name());
  entry_.rule = decision.rule;
  if (!decision.allowed) return Denied(ref);
  entry_.allowed = true;
  if (ReturnsSecret(entry_.action)) {
    if (absl::Status rated = deps_.limits->TakeSecretRead(key); !rated.ok()) {
      entry_.allowed = false;
      entry_.rule = "limits.secret_reads_per_second";
      return rated;
    }
  }
  return absl::OkStatus();
}

absl::Status CallGate::Finish(absl::Status outcome) {
  entry_.outcome = outcome;
  absl::Status written = deps_.audit->Write(AuditRecordJson(entry_));
  if (!written.ok()) {
    Logger("audit")->error("request {}: {} by {}: the audit record could not be written: {}",
                           entry_.request_id, entry_.method, identity_.Display(),
                           written.message());
    if (outcome.ok() && ReturnsSecret(entry_.action) && deps_.audit_required) {
      return absl::UnavailableError(absl::StrCat(
          "kcredd could not write the audit record of this call (request ", entry_.request_id,
          ") and audit.required is set: it hands out no credential it cannot audit; ask the "
          "operator to check the audit log (",
          written.message(), ")"));
    }
  }
  if (!outcome.ok()) {
    Logger("server")->debug("request {}: {} {} by {}: {}", entry_.request_id, entry_.method,
                            EscapeControl(entry_.account), identity_.Display(), outcome.message());
  }
  return outcome;
}

absl::Status CallGate::Denied(const v1::AccountRef* ref) const {
  std::string what;
  if (!entry_.account.empty()) {
    what = absl::StrCat(ref != nullptr ? " on account " : " on accounts ",
                        EscapeControl(entry_.account));
  }
  return absl::PermissionDeniedError(
      absl::StrCat(identity_.Display(), " asked to ", ActionName(entry_.action), what,
                   ", and no rule of kcredd's authorization policy grants that (",
                   policy_->description(), "; `kcred whoami` lists the rules that name you)"));
}

}  // namespace kcred::server
