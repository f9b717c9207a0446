#pragma once
// Parsers and printers for what users type on kcred's command line: account references, RBAC rule
// shorthands, durations, key=value pairs and role references. Each parser validates completely and
// returns InvalidArgument whose message names the input and shows a correct example.

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::client {

// CLUSTER/NAMESPACE/NAME: exactly three non-empty parts; the namespace must be a DNS-1123 label
// and the name a DNS-1123 subdomain (the cluster ID is checked by kcredd against its config).
absl::StatusOr<v1::AccountRef> ParseAccountRef(absl::string_view text);

// "cluster/namespace/name".
std::string FormatAccountRef(const v1::AccountRef& ref);

// The --rule shorthand VERBS:RESOURCES[:APIGROUPS[:NAMES]], each part a comma-separated list.
// An empty API group item (or an empty APIGROUPS part) is the core group "". Examples:
// "get,list:pods,configmaps", "get:deployments:apps", "get:configmaps::app-config".
absl::StatusOr<v1::PolicyRule> ParseRule(absl::string_view text);

// A non-negative duration with units, as Go and kubectl write them: "90s", "30m", "1h30m", "0s".
// `what` names the input in the error (e.g. "--ttl").
absl::StatusOr<absl::Duration> ParseDurationArg(absl::string_view text, absl::string_view what);

// The shortest Go-style spelling of a duration: "1h30m", "45s", "0s" (sub-second parts as "1.5s").
std::string FormatDurationArg(absl::Duration d);

// "key=value" with a non-empty key; `what` names the flag (e.g. "--label").
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(absl::string_view text,
                                                                  absl::string_view what);

// "Role/NAME" or "ClusterRole/NAME".
absl::StatusOr<v1::RoleRef> ParseRoleRef(absl::string_view text);

// Conversions between protobuf and Abseil time types.
google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);
absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& t);

// "in 42m", "3h12m ago", "now": how far `t` lies from `now`, rounded to a readable unit.
std::string FormatRelative(absl::Time t, absl::Time now);

// "2026-11-29T01:00:00Z (in 42m)"; "-" when the timestamp is unset.
std::string FormatTimestamp(bool is_set, const google::protobuf::Timestamp& t, absl::Time now);

}  // namespace kcred::client
