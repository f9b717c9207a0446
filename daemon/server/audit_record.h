#pragma once
// The audit record of one CredentialBroker call: who asked (every attribute of the caller's
// identity, the transport and peer), what (method, action, account), the decision and the rule
// that made it, the outcome (gRPC code and message), and what was handed out (the token's
// fingerprint and generation, never the token) or asked for (a provision's spec summary). Built as
// one JSON object; the audit sink writes it as one line (control characters escaped).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/account/access.h"
#include "daemon/authz/identity.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::server {

struct AuditEntry {
  std::string request_id;
  absl::Time time;
  const authz::Identity* identity = nullptr;
  std::string method;  // "GetToken"
  Action action = Action::kSelf;
  std::string account;  // "cluster/namespace/name" as the caller wrote it; "" when none
  // "allow" or "deny"; `rule` is the rule that allowed, or what refused (a limit's config key).
  bool allowed = false;
  std::string rule;
  absl::Status outcome;
  std::string token_fingerprint;  // secret-returning calls that succeeded
  int64_t generation = 0;
  nlohmann::json details;  // per method: the spec summary, a rotation's reason and grace, ...
};

// The record as JSON.
nlohmann::json AuditRecordJson(const AuditEntry& entry);

// What the audit log says of a provision request: scope, access (rules or role_ref), token mode,
// ttl, grace and audiences, and the flags that widen it (create_namespace, adopt).
nlohmann::json SpecSummary(const v1::ProvisionAccountRequest& request);

// "cluster/namespace/name" of `ref` as given (possibly malformed; the sink escapes it).
std::string AccountText(const v1::AccountRef& ref);

}  // namespace kcred::server
