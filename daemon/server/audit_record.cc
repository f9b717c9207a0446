#include "daemon/server/audit_record.h"

#include "absl/strings/str_cat.h"
#include "common/account/account_ref.h"

namespace kcred::server {
namespace {

using json = nlohmann::json;

json Strings(const google::protobuf::RepeatedPtrField<std::string>& values) {
  json out = json::array();
  for (const std::string& v : values) out.push_back(v);
  return out;
}

json CallerJson(const authz::Identity& identity) {
  json caller = {{"display", identity.Display()}, {"subjects", identity.subjects()}};
  if (const auto& peer = identity.unix_peer()) {
    caller["pid"] = peer->pid;
    caller["uid"] = peer->uid;
    caller["gid"] = peer->gid;
    if (!peer->user.empty()) caller["user"] = peer->user;
    caller["groups"] = peer->groups;
  }
  if (const auto& cert = identity.certificate()) {
    caller["certificate"] = {{"common_name", cert->common_name},
                             {"dns_names", cert->dns_names},
                             {"uris", cert->uris},
                             {"sha256", cert->sha256}};
  }
  return caller;
}

}  // namespace

std::string AccountText(const v1::AccountRef& ref) {
  return absl::StrCat(ref.cluster(), "/", ref.namespace_(), "/", ref.name());
}

json AuditRecordJson(const AuditEntry& entry) {
  json record;
  record["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", entry.time, absl::UTCTimeZone());
  record["request_id"] = entry.request_id;
  if (entry.identity != nullptr) {
    record["caller"] = CallerJson(*entry.identity);
    record["transport"] = entry.identity->TransportName();
    record["peer"] = entry.identity->Peer();
  }
  record["method"] = entry.method;
  record["action"] = std::string(ActionName(entry.action));
  if (!entry.account.empty()) record["account"] = entry.account;
  record["decision"] = entry.allowed ? "allow" : "deny";
  record["rule"] = entry.rule;
  record["code"] = absl::StatusCodeToString(entry.outcome.code());
  if (!entry.outcome.ok()) record["message"] = std::string(entry.outcome.message());
  if (!entry.token_fingerprint.empty()) {
    record["token_fingerprint"] = entry.token_fingerprint;
    record["generation"] = entry.generation;
  }
  if (!entry.details.is_null()) {
    for (const auto& [key, value] : entry.details.items()) record[key] = value;
  }
  return record;
}

json SpecSummary(const v1::ProvisionAccountRequest& request) {
  const v1::AccountSpec& spec = request.spec();
  json summary;
  summary["scope"] = spec.scope() == v1::SCOPE_CLUSTER ? "cluster" : "namespace";
  switch (spec.access().kind_case()) {
    case v1::Access::kRules: {
      json rules = json::array();
      for (const v1::PolicyRule& rule : spec.access().rules().rules()) {
        json r = {{"verbs", Strings(rule.verbs())}};
        if (!rule.api_groups().empty()) r["api_groups"] = Strings(rule.api_groups());
        if (!rule.resources().empty()) r["resources"] = Strings(rule.resources());
        if (!rule.resource_names().empty()) r["resource_names"] = Strings(rule.resource_names());
        if (!rule.non_resource_urls().empty()) {
          r["non_resource_urls"] = Strings(rule.non_resource_urls());
        }
        rules.push_back(std::move(r));
      }
      summary["rules"] = std::move(rules);
      break;
    }
    case v1::Access::kRoleRef:
      summary["role_ref"] = absl::StrCat(
          spec.access().role_ref().kind() == v1::ROLE_KIND_ROLE ? "Role/" : "ClusterRole/",
          spec.access().role_ref().name());
      break;
    case v1::Access::kTokenOnly:
      summary["token_only"] = true;
      break;
    case v1::Access::KIND_NOT_SET:
      break;
  }
  summary["token_mode"] = spec.token().mode() == v1::TOKEN_MODE_LEGACY ? "legacy" : "bound";
  if (spec.token().has_ttl()) {
    summary["ttl"] = FormatDurationArg(FromProtoDuration(spec.token().ttl()));
  }
  if (spec.token().has_grace()) {
    summary["grace"] = FormatDurationArg(FromProtoDuration(spec.token().grace()));
  }
  if (!spec.token().audiences().empty()) summary["audiences"] = Strings(spec.token().audiences());
  if (spec.create_namespace()) summary["create_namespace"] = true;
  if (spec.adopt()) summary["adopt"] = true;
  json details = {{"spec", std::move(summary)}};
  if (request.validate_only()) details["validate_only"] = true;
  return details;
}

}  // namespace kcred::server
