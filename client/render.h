#pragma once
// How kcred prints API objects: aligned tables, readable account summaries, and JSON/YAML
// (protobuf JSON with the proto field names; YAML converted from that JSON).

#include <google/protobuf/message.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::client {

// Columns separated by at least three spaces, as kubectl aligns them; no trailing spaces.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

enum class OutputFormat { kText, kJson, kYaml };

// "" -> kText, "json", "yaml"; anything else is InvalidArgument naming the flag value.
absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& text);

// The message as protobuf JSON (proto field names, two-space indent) or as YAML. When the message
// is a list response with no items, `list_field` names its list, printed as [] rather than left
// out, so scripts can always iterate it.
absl::StatusOr<std::string> RenderMessage(const google::protobuf::Message& message,
                                          OutputFormat format, const std::string& list_field = "");

// Converts a JSON document to block-style YAML; strings that YAML would read as something else
// (numbers, booleans, null, empty) are quoted.
absl::StatusOr<std::string> JsonToYaml(const std::string& json);

// "namespace" / "cluster" (unset reads as kcredd's default, namespace).
std::string ScopeName(v1::Scope scope);
// "rules(2)", "ClusterRole/view", "token-only", "-".
std::string AccessSummary(const v1::Access& access);
// "True", "False", "Unknown" or "-" for the Ready condition.
std::string ReadyStatus(const v1::AccountStatus& status);
// "ServiceAccount automation/ci-bot" or "ClusterRole ci-bot".
std::string FormatObject(const v1::ObjectReference& object);

// The multi-line readable form of `kcred get`.
std::string AccountSummary(const v1::Account& account, absl::Time now);

// The table of `kcred list`: CLUSTER NAMESPACE NAME SCOPE ACCESS GENERATION EXPIRES READY.
std::string AccountsTable(const std::vector<v1::Account>& accounts, absl::Time now);

// The table of `kcred clusters`: NAME SERVER REACHABLE VERSION ACCOUNTS ERROR.
std::string ClustersTable(const v1::ListClustersResponse& clusters);

// What `kcred provision` did: the outcome line, one line per object change, then the summary.
std::string ProvisionReport(const v1::ProvisionAccountResponse& response, bool dry_run,
                            absl::Time now);

}  // namespace kcred::client
