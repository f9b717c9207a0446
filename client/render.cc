#include "client/render.h"

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/arguments.h"

namespace kcred::client {
namespace {

// Strings a YAML reader would take for a number, boolean or null when written plainly.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* const kSpecial[] = {"true", "false", "yes", "no",   "on",
                                         "off",  "y",     "n",   "null", "~"};
  const std::string lower = absl::AsciiStrToLower(s);
  for (const char* word : kSpecial) {
    if (lower == word) return true;
  }
  double d;
  if (absl::SimpleAtod(s, &d)) return true;
  return s.front() == ' ' || s.back() == ' ';
}

void EmitJson(YAML::Emitter& out, const nlohmann::json& j) {
  if (j.is_object()) {
    if (j.empty()) {
      out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
      return;
    }
    out << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      EmitJson(out, it.value());
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    if (j.empty()) {
      out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
      return;
    }
    out << YAML::BeginSeq;
    for (const auto& item : j) EmitJson(out, item);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (NeedsQuotes(s)) out << YAML::DoubleQuoted;
    out << s;
  } else if (j.is_boolean()) {
    out << (j.get<bool>() ? "true" : "false");
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();  // numbers, exactly as JSON spells them
  }
}

std::string JoinOrDash(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return items.empty() ? "-" : absl::StrJoin(items, ",");
}

std::string SortedPairs(const google::protobuf::Map<std::string, std::string>& map) {
  std::map<std::string, std::string> sorted(map.begin(), map.end());
  if (sorted.empty()) return "-";
  return absl::StrJoin(sorted, ", ", absl::PairFormatter("="));
}

std::string RuleLine(const v1::PolicyRule& rule) {
  std::string line = absl::StrCat("verbs=", JoinOrDash(rule.verbs()));
  if (!rule.resources().empty())
    absl::StrAppend(&line, " resources=", JoinOrDash(rule.resources()));
  if (!rule.api_groups().empty()) {
    std::vector<std::string> groups;
    for (const auto& g : rule.api_groups()) groups.push_back(g.empty() ? "\"\"" : g);
    absl::StrAppend(&line, " api_groups=", absl::StrJoin(groups, ","));
  }
  if (!rule.resource_names().empty()) {
    absl::StrAppend(&line, " names=", JoinOrDash(rule.resource_names()));
  }
  if (!rule.non_resource_urls().empty()) {
    absl::StrAppend(&line, " non_resource_urls=", JoinOrDash(rule.non_resource_urls()));
  }
  return line;
}

std::string TokenPolicyLine(const v1::TokenPolicy& t) {
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat("mode ", t.mode() == v1::TOKEN_MODE_LEGACY  ? "legacy"
                                        : t.mode() == v1::TOKEN_MODE_BOUND ? "bound"
                                                                           : "default"));
  parts.push_back(absl::StrCat(
      "ttl ", t.has_ttl() ? FormatDurationArg(FromProtoDuration(t.ttl())) : "default"));
  switch (t.rotate_at_case()) {
    case v1::TokenPolicy::kRotateFraction:
      parts.push_back(absl::StrCat("rotate at ", t.rotate_fraction() * 100, "% of ttl"));
      break;
    case v1::TokenPolicy::kRotateInterval:
      parts.push_back(
          absl::StrCat("rotate every ", FormatDurationArg(FromProtoDuration(t.rotate_interval()))));
      break;
    default:
      parts.push_back("rotate default");
      break;
  }
  parts.push_back(absl::StrCat(
      "grace ", t.has_grace() ? FormatDurationArg(FromProtoDuration(t.grace())) : "default"));
  if (!t.audiences().empty())
    parts.push_back(absl::StrCat("audiences ", JoinOrDash(t.audiences())));
  return absl::StrJoin(parts, ", ");
}

std::string ConditionTypeName(v1::ConditionType type) {
  switch (type) {
    case v1::CONDITION_TYPE_READY:
      return "Ready";
    case v1::CONDITION_TYPE_ROTATING:
      return "Rotating";
    case v1::CONDITION_TYPE_DEGRADED:
      return "Degraded";
    default:
      return "Unknown";
  }
}

std::string ConditionStatusName(v1::ConditionStatus status) {
  switch (status) {
    case v1::CONDITION_STATUS_TRUE:
      return "True";
    case v1::CONDITION_STATUS_FALSE:
      return "False";
    case v1::CONDITION_STATUS_UNKNOWN:
      return "Unknown";
    default:
      return "-";
  }
}

std::string ChangeVerb(v1::ChangeAction action) {
  switch (action) {
    case v1::CHANGE_ACTION_CREATED:
      return "created";
    case v1::CHANGE_ACTION_UPDATED:
      return "updated";
    case v1::CHANGE_ACTION_ADOPTED:
      return "adopted";
    case v1::CHANGE_ACTION_DELETED:
      return "deleted";
    default:
      return "changed";
  }
}

// "Label:" padded to the value column.
std::string Field(absl::string_view label, absl::string_view value) {
  std::string line = absl::StrCat(label, ":");
  if (line.size() < 16) line.append(16 - line.size(), ' ');
  return absl::StrCat(line, value, "\n");
}

}  // namespace

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  auto measure = [&widths](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  std::string out;
  auto write = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < widths.size()) line.append(widths[i] - cell.size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  };
  write(header);
  for (const auto& row : rows) write(row);
  return out;
}

absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& text) {
  if (text.empty()) return OutputFormat::kText;
  if (text == "json") return OutputFormat::kJson;
  if (text == "yaml") return OutputFormat::kYaml;
  return absl::InvalidArgumentError(
      absl::StrCat("-o \"", text, "\" is not an output format; use json or yaml (or omit -o)"));
}

absl::StatusOr<std::string> JsonToYaml(const std::string& json) {
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", e.what()));
  }
  YAML::Emitter out;
  EmitJson(out, parsed);
  if (!out.good()) {
    return absl::InternalError(absl::StrCat("cannot write YAML: ", out.GetLastError()));
  }
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<std::string> RenderMessage(const google::protobuf::Message& message,
                                          OutputFormat format, const std::string& list_field) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot convert ", message.GetTypeName(), " to JSON: ", status.ToString()));
  }
  if (!list_field.empty()) {
    nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
    if (parsed.is_object() && !parsed.contains(list_field)) {
      parsed[list_field] = nlohmann::json::array();
      json = parsed.dump(2);
    }
  }
  if (format == OutputFormat::kYaml) return JsonToYaml(json);
  if (json.empty() || json.back() != '\n') json += "\n";
  return json;
}

std::string ScopeName(v1::Scope scope) {
  return scope == v1::SCOPE_CLUSTER ? "cluster" : "namespace";
}

std::string AccessSummary(const v1::Access& access) {
  switch (access.kind_case()) {
    case v1::Access::kRules:
      return absl::StrCat("rules(", access.rules().rules_size(), ")");
    case v1::Access::kRoleRef:
      return absl::StrCat(access.role_ref().kind() == v1::ROLE_KIND_ROLE ? "Role/" : "ClusterRole/",
                          access.role_ref().name());
    case v1::Access::kTokenOnly:
      return "token-only";
    default:
      return "-";
  }
}

std::string ReadyStatus(const v1::AccountStatus& status) {
  for (const auto& c : status.conditions()) {
    if (c.type() == v1::CONDITION_TYPE_READY) return ConditionStatusName(c.status());
  }
  return "-";
}

std::string FormatObject(const v1::ObjectReference& object) {
  return object.namespace_().empty()
             ? absl::StrCat(object.kind(), " ", object.name())
             : absl::StrCat(object.kind(), " ", object.namespace_(), "/", object.name());
}

std::string AccountSummary(const v1::Account& account, absl::Time now) {
  const v1::AccountSpec& spec = account.spec();
  const v1::AccountStatus& status = account.status();
  std::string out;
  absl::StrAppend(&out, Field("Account", FormatAccountRef(account.ref())));
  if (!account.uid().empty()) absl::StrAppend(&out, Field("UID", account.uid()));
  if (account.origin() != v1::ORIGIN_UNSPECIFIED) {
    absl::StrAppend(&out,
                    Field("Origin", account.origin() == v1::ORIGIN_CONFIG ? "config" : "api"));
  }
  absl::StrAppend(&out, Field("Created", FormatTimestamp(account.has_create_time(),
                                                         account.create_time(), now)));
  absl::StrAppend(&out, Field("Updated", FormatTimestamp(account.has_update_time(),
                                                         account.update_time(), now)));
  absl::StrAppend(&out, Field("Scope", ScopeName(spec.scope())));
  absl::StrAppend(&out, Field("Access", AccessSummary(spec.access())));
  if (spec.access().has_rules()) {
    for (const auto& rule : spec.access().rules().rules()) {
      absl::StrAppend(&out, "  - ", RuleLine(rule), "\n");
    }
  }
  absl::StrAppend(&out, Field("Token policy", TokenPolicyLine(spec.token())));
  if (spec.create_namespace()) absl::StrAppend(&out, Field("Namespace", "created when missing"));
  if (spec.adopt()) absl::StrAppend(&out, Field("Adopt", "yes"));
  absl::StrAppend(&out, Field("Labels", SortedPairs(spec.labels())));
  absl::StrAppend(&out, Field("Annotations", SortedPairs(spec.annotations())));
  absl::StrAppend(&out, Field("Generation", absl::StrCat(status.generation())));
  absl::StrAppend(
      &out,
      Field("Fingerprint", status.token_fingerprint().empty() ? "-" : status.token_fingerprint()));
  absl::StrAppend(
      &out, Field("Issued", FormatTimestamp(status.has_issue_time(), status.issue_time(), now)));
  std::string expires = "-";
  if (status.has_expire_time()) {
    expires = FormatTimestamp(true, status.expire_time(), now);
  } else if (status.generation() == 0) {
    expires = "no token issued yet";
  } else if (spec.token().mode() == v1::TOKEN_MODE_LEGACY) {
    expires = "never (legacy token)";
  }
  absl::StrAppend(&out, Field("Expires", expires));
  absl::StrAppend(&out, Field("Next rotation", FormatTimestamp(status.has_next_rotation_time(),
                                                               status.next_rotation_time(), now)));
  if (status.last_error().empty()) {
    absl::StrAppend(&out, Field("Last error", "none"));
  } else {
    absl::StrAppend(&out,
                    Field("Last error", absl::StrCat(status.last_error(), " (at ",
                                                     FormatTimestamp(status.has_last_error_time(),
                                                                     status.last_error_time(), now),
                                                     ")")));
  }
  if (!status.service_account_uid().empty()) {
    absl::StrAppend(&out, Field("SA uid", status.service_account_uid()));
  }
  absl::StrAppend(&out, "Conditions:", status.conditions().empty() ? " none\n" : "\n");
  for (const auto& c : status.conditions()) {
    absl::StrAppend(&out, "  ", ConditionTypeName(c.type()), "=", ConditionStatusName(c.status()));
    if (!c.reason().empty()) absl::StrAppend(&out, " ", c.reason());
    if (!c.message().empty()) absl::StrAppend(&out, ": ", c.message());
    if (c.has_last_transition_time()) {
      absl::StrAppend(&out, " (since ", FormatTimestamp(true, c.last_transition_time(), now), ")");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "Managed objects:", status.managed_objects().empty() ? " none\n" : "\n");
  for (const auto& o : status.managed_objects()) {
    absl::StrAppend(&out, "  ", FormatObject(o), "\n");
  }
  if (!status.pending_revocations().empty()) {
    absl::StrAppend(&out, "Pending revocations:\n");
    for (const auto& p : status.pending_revocations()) {
      absl::StrAppend(&out, "  generation ", p.generation(), " (", p.token_fingerprint(),
                      ") revoked at ", FormatTimestamp(p.has_revoke_time(), p.revoke_time(), now),
                      "\n");
    }
  }
  return out;
}

std::string AccountsTable(const std::vector<v1::Account>& accounts, absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : accounts) {
    std::string expires = "-";
    if (a.status().has_expire_time()) {
      expires = FormatRelative(FromProtoTimestamp(a.status().expire_time()), now);
    } else if (a.spec().token().mode() == v1::TOKEN_MODE_LEGACY && a.status().generation() > 0) {
      expires = "never";
    }
    rows.push_back({a.ref().cluster(), a.ref().namespace_(), a.ref().name(),
                    ScopeName(a.spec().scope()), AccessSummary(a.spec().access()),
                    absl::StrCat(a.status().generation()), expires, ReadyStatus(a.status())});
  }
  return RenderTable(
      {"CLUSTER", "NAMESPACE", "NAME", "SCOPE", "ACCESS", "GENERATION", "EXPIRES", "READY"}, rows);
}

std::string ClustersTable(const v1::ListClustersResponse& clusters) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : clusters.clusters()) {
    rows.push_back({c.name(), c.server(), c.reachable() ? "yes" : "no",
                    c.server_version().empty() ? "-" : c.server_version(),
                    absl::StrCat(c.account_count()), c.error().empty() ? "-" : c.error()});
  }
  return RenderTable({"NAME", "SERVER", "REACHABLE", "VERSION", "ACCOUNTS", "ERROR"}, rows);
}

std::string ProvisionReport(const v1::ProvisionAccountResponse& response, bool dry_run,
                            absl::Time now) {
  std::string outcome;
  switch (response.outcome()) {
    case v1::PROVISION_OUTCOME_CREATED:
      outcome = "CREATED";
      break;
    case v1::PROVISION_OUTCOME_UPDATED:
      outcome = "UPDATED";
      break;
    case v1::PROVISION_OUTCOME_UNCHANGED:
      outcome = "UNCHANGED";
      break;
    default:
      outcome = "DONE";
      break;
  }
  std::string out;
  if (dry_run) {
    absl::StrAppend(&out, "dry run, nothing was changed; kcredd would report:\n");
  }
  absl::StrAppend(&out, outcome, " ", FormatAccountRef(response.account().ref()), "\n");
  for (const auto& change : response.changes()) {
    absl::StrAppend(&out, "  ", ChangeVerb(change.action()), " ", FormatObject(change.object()),
                    "\n");
  }
  absl::StrAppend(&out, "\n", AccountSummary(response.account(), now));
  return out;
}

}  // namespace kcred::client
